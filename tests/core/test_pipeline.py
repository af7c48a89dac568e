"""The core pipeline through the in-memory adapter, with real SQLite and the real detector and directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.memory import MemoryAdapter, buttons, texts
from bot.config import Settings
from bot.llm.base import ResponderContext, ResponderReply
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from tests.conftest import make_core


async def test_first_contact_discloses_ai_and_asks_consent(memory: MemoryAdapter) -> None:
    out = await memory.send("hello")
    text = texts(out)
    assert "AI" in text and "not a person" in text and "/forget" in text
    assert "30 days" in text and "988" in text
    assert [b.action_id for b in buttons(out)] == ["consent:yes", "consent:no"]
    again = await memory.send("hello again")
    assert "not a person" not in texts(again)


async def test_ordinary_message_gets_a_supportive_reply_without_repeats(memory: MemoryAdapter) -> None:
    await memory.send("hi")
    first = texts(await memory.send("work has been a lot lately"))
    second = texts(await memory.send("my manager keeps piling things on"))
    assert first.endswith("?") and second.endswith("?")
    assert first != second


async def test_crisis_message_gets_the_deterministic_crisis_reply(memory: MemoryAdapter) -> None:
    await memory.send("hi")
    out = await memory.send("I want to kill myself")
    text = texts(out)
    assert "Are you safe right now?" in text
    assert "988" in text and "911" in text
    assert "I'm an AI" in text
    assert [b.action_id for b in buttons(out)] == ["crisis:safe", "crisis:person", "crisis:plan", "crisis:grounding"]


async def test_crisis_reply_uses_the_persons_country(memory: MemoryAdapter) -> None:
    out = await memory.send("I want to end my life", locale="en-GB")
    assert "116 123" in texts(out) and "999" in texts(out)


async def test_messages_stored_only_after_consent(memory: MemoryAdapter, store: SqliteStore) -> None:
    await memory.send("something private before consent")
    await memory.press("consent:yes")
    await memory.send("something after consent")
    user_key = memory.core.ids.user_key("memory", "user-1")
    stored = [m["text"] for m in (await store.export_user(user_key))["messages"]]
    assert "something private before consent" not in stored
    assert "something after consent" in stored


async def test_forget_asks_then_erases(memory: MemoryAdapter, store: SqliteStore) -> None:
    await memory.send("hi")
    await memory.press("consent:yes")
    await memory.send("remember this")
    out = await memory.send("/forget")
    assert [b.action_id for b in buttons(out)] == ["forget:yes", "forget:no"]
    done = await memory.press("forget:yes")
    assert "erased" in texts(done)
    user_key = memory.core.ids.user_key("memory", "user-1")
    assert await store.export_user(user_key) == {}
    # Writing again starts fresh, with the disclosure.
    assert "not a person" in texts(await memory.send("hello"))


async def test_forget_can_be_cancelled(memory: MemoryAdapter, store: SqliteStore) -> None:
    await memory.send("hi")
    await memory.send("/forget")
    assert "nothing was erased" in texts(await memory.press("forget:no"))
    assert await store.export_user(memory.core.ids.user_key("memory", "user-1")) != {}


async def test_update_delivered_twice_is_answered_once(memory: MemoryAdapter) -> None:
    first = await memory.send("hello", message_id="tg-1000")
    second = await memory.send("hello", message_id="tg-1000")
    assert first and second == []


async def test_commands(memory: MemoryAdapter) -> None:
    await memory.send("hi")
    assert "/resources" in texts(await memory.send("/help"))
    assert "988" in texts(await memory.send("/resources"))
    assert "offline responder" in texts(await memory.send("/about"))
    assert "don't know the command /frobnicate" in texts(await memory.send("/frobnicate now"))


async def test_bad_input_gets_calm_answers(memory: MemoryAdapter) -> None:
    await memory.send("hi")
    assert "didn't catch anything" in texts(await memory.send("   \u200b\x00  "))
    long = await memory.send("word " * 25_000)
    assert "only read the first 8000 characters" in texts(long)
    assert "couldn't read it" in texts(await memory.send("\ufffd" * 50 + "\x01\x02"))
    assert texts(await memory.send("caf\udce9 ok")).endswith("?")


async def test_conversation_b_is_answered_while_a_is_blocked(settings: Settings, store: SqliteStore,
                                                             directory: ResourceDirectory) -> None:
    release = asyncio.Event()

    class SlowForAlice:
        name = "test"

        async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
            if text == "alice waits":
                await release.wait()
            return ResponderReply(f"echo: {text}")

    adapter = MemoryAdapter(make_core(settings, store, directory, responder=SlowForAlice()))
    alice = asyncio.create_task(adapter.send("alice waits", user="alice"))
    bob = await asyncio.wait_for(adapter.send("bob is here", user="bob"), timeout=5)
    assert "echo: bob is here" in texts(bob)
    assert not alice.done()
    release.set()
    assert "echo: alice waits" in texts(await alice)


async def test_one_conversation_is_handled_in_order(settings: Settings, store: SqliteStore,
                                                    directory: ResourceDirectory) -> None:
    seen: list[str] = []

    class Recording:
        name = "test"

        async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
            await asyncio.sleep(0.01 if text == "1" else 0)
            seen.append(text)
            return ResponderReply(text)

    adapter = MemoryAdapter(make_core(settings, store, directory, responder=Recording()))
    await asyncio.gather(*(adapter.send(str(i)) for i in range(1, 6)))
    assert seen == ["1", "2", "3", "4", "5"]


async def test_crisis_reply_still_comes_when_the_store_is_down(settings: Settings, tmp_path: Path,
                                                               directory: ResourceDirectory) -> None:
    broken = SqliteStore(tmp_path / "x.sqlite3")   # never opened: every call fails
    adapter = MemoryAdapter(make_core(settings, broken, directory))
    out = await adapter.send("I'm going to kill myself tonight")
    assert "Are you safe right now?" in texts(out) and "988" in texts(out)
