"""Crisis response: the deterministic reply, staying with the person, the safety plan, and follow-ups."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from adapters.memory import MemoryAdapter, buttons, texts
from bot.config import Settings
from bot.core import Core
from bot.crisis.detect import warm_up
from bot.delivery import Outbox
from bot.events import Reply
from bot.jobs import JobRunner
from bot.llm.base import ResponderContext, ResponderReply
from bot.privacy import FieldCipher, generate_key
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from tests.clock import Clock
from tests.conftest import make_core


class HangingResponder:
    """The language model is down: any call would hang forever."""

    name = "anthropic"
    calls = 0

    async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
        HangingResponder.calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def wired(settings: Settings, store: SqliteStore, directory: ResourceDirectory, **kw: object
          ) -> tuple[MemoryAdapter, JobRunner, Clock]:
    clock = Clock()
    outbox = Outbox()
    core = make_core(settings, store, directory, clock=clock, outbox=outbox, **kw)
    adapter = MemoryAdapter(core)
    outbox.register(adapter)
    runner = JobRunner(store, clock=clock)
    core.attach_jobs(runner)
    return adapter, runner, clock


async def consented(adapter: MemoryAdapter, **kw: str) -> None:
    await adapter.send("hi", **kw)
    await adapter.press("consent:yes", **kw)


async def test_crisis_reply_within_200ms_with_llm_and_network_down(settings: Settings, store: SqliteStore,
                                                                   directory: ResourceDirectory) -> None:
    adapter = MemoryAdapter(make_core(settings, store, directory, responder=HangingResponder()))
    # The network guard fixture fails any non-loopback connect; the responder would hang forever.
    warm_up()   # as HavenApp.create does at start: lexicons are compiled before the first person writes
    started = time.perf_counter()
    out = await asyncio.wait_for(adapter.send("I'm going to kill myself tonight"), timeout=2)
    elapsed = time.perf_counter() - started
    assert "Are you safe right now?" in texts(out)
    assert elapsed < 0.2, f"crisis reply took {elapsed * 1000:.0f} ms"
    assert HangingResponder.calls == 0


async def test_imminent_puts_the_emergency_number_first(memory: MemoryAdapter) -> None:
    out = await memory.send("I took all the pills, I'm dying")
    first = [item for item in out if isinstance(item, Reply) and "Are you safe" in item.text][0]
    assert first.text.startswith("If you are in danger right now, please call 911")


async def test_crisis_reply_in_the_persons_language(memory: MemoryAdapter) -> None:
    out = await memory.send("quiero suicidarme", locale="es-ES")
    text = texts(out)
    assert "¿Estás pensando en quitarte la vida?" in text
    assert "024" in text and "112" in text


async def test_crisis_reply_follows_the_language_written_without_a_locale(memory: MemoryAdapter) -> None:
    text = texts(await memory.send("no puedo más, quiero suicidarme esta noche"))
    assert "¿Estás pensando en quitarte la vida?" in text
    german = texts(await memory.send("ich will mich umbringen", user="de-user"))
    assert "Denkst du daran, dir das Leben zu nehmen?" in german


async def test_safe_messaging_in_every_crisis_text(memory: MemoryAdapter) -> None:
    out = await memory.send("I want to kill myself")
    text = texts(out).lower()
    assert "committed suicide" not in text and "commit suicide" not in text
    assert "i'm an ai" in text


async def test_one_im_fine_does_not_end_the_safety_check(settings: Settings, store: SqliteStore,
                                                         directory: ResourceDirectory) -> None:
    adapter, runner, clock = wired(settings, store, directory)
    await consented(adapter)
    await adapter.send("I want to kill myself")
    first = await adapter.send("I'm fine")
    assert "check once more" in texts(first)
    assert [b.action_id for b in buttons(first)] == ["crisis:safe", "crisis:person"]
    second = await adapter.send("jk")
    assert "checked in with you tomorrow" in texts(second)
    # An ordinary message meanwhile keeps help one tap away.
    later = await adapter.send("my boss emailed me again")
    assert "crisis:person" in [b.action_id for b in buttons(later)]


async def test_follow_up_is_opt_in_durable_and_delivered_next_day(settings: Settings, store: SqliteStore,
                                                                  directory: ResourceDirectory) -> None:
    adapter, runner, clock = wired(settings, store, directory)
    await consented(adapter)
    await adapter.send("I want to end my life")
    await adapter.press("crisis:safe")
    out = await adapter.press("followup:yes")
    assert "check in with you tomorrow" in texts(out)
    clock.advance(hours=23)
    await runner.run_until_idle()
    assert not [i for _, i in adapter.delivered if "checking in" in getattr(i, "text", "")]
    clock.advance(hours=1, minutes=1)
    await runner.run_until_idle()
    checkins = [i for _, i in adapter.delivered if "checking in as you asked" in getattr(i, "text", "")]
    assert len(checkins) == 1
    await runner.run_until_idle()
    assert len([i for _, i in adapter.delivered if "checking in as you asked" in getattr(i, "text", "")]) == 1


async def test_silence_gets_one_more_check_and_writing_cancels_it(settings: Settings, store: SqliteStore,
                                                                  directory: ResourceDirectory) -> None:
    adapter, runner, clock = wired(settings, store, directory)
    await consented(adapter, user="quiet")
    await adapter.send("I want to kill myself", user="quiet")
    clock.advance(minutes=11)
    await runner.run_until_idle()
    [(target, notice)] = adapter.delivered
    assert "I'm still here" in notice.text and "988" in notice.text
    await consented(adapter, user="talker")
    await adapter.send("I want to kill myself", user="talker")
    await adapter.send("I'm at home now", user="talker")
    clock.advance(minutes=11)
    await runner.run_until_idle()
    assert len(adapter.delivered) == 1


async def test_safety_plan_is_built_quoted_in_a_crisis_and_encrypted(tmp_path: Path, settings: Settings,
                                                                     directory: ResourceDirectory) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3", FieldCipher(generate_key()))
    await store.open()
    adapter = MemoryAdapter(make_core(settings, store, directory))
    await consented(adapter)
    out = await adapter.send("/safetyplan")
    assert "don't have a safety plan" in texts(out)
    out = await adapter.press("plan:edit")
    assert "Step 1 of 6" in texts(out)
    await adapter.send("can't sleep, pulling away from friends")
    await adapter.send("play guitar, walk the dog")
    for _ in range(4):
        out = await adapter.press("plan:skip")
    assert "saved" in texts(out) and "walk the dog" in texts(out)
    crisis = await adapter.send("I want to kill myself")
    assert "From your safety plan – Things I can do on my own: play guitar, walk the dog" in texts(crisis)
    await store.close()
    raw = sqlite3.connect(tmp_path / "s.sqlite3").execute("SELECT profile FROM users").fetchone()[0]
    assert "guitar" not in raw and raw.startswith("enc1:")


async def test_third_party_concern_gets_how_to_help(memory: MemoryAdapter) -> None:
    out = await memory.send("my friend says she wants to die")
    text = texts(out)
    assert "look out for them" in text and "988" in text
    assert "Are you safe right now?" not in text


async def test_crisis_referrals_are_counted_without_identifiers(memory: MemoryAdapter, store: SqliteStore) -> None:
    await memory.send("I want to kill myself", user="a")
    await memory.send("I want to kill myself", user="b")
    rows = await store.counters("crisis_referral")
    assert sum(count for *_, count in rows) == 2
    assert all("user" not in dims and "memory:" not in dims for _, _, dims, _ in rows)
    assert all(dims.startswith("level=") and "platform=memory" in dims for _, _, dims, _ in rows)


async def test_core_never_calls_the_llm_for_a_crisis_message(settings: Settings, store: SqliteStore,
                                                             directory: ResourceDirectory) -> None:
    calls: list[str] = []

    class Recording:
        name = "anthropic"

        async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
            calls.append(text)
            return ResponderReply("ok")

    adapter = MemoryAdapter(make_core(settings, store, directory, responder=Recording()))
    await adapter.send("hello")
    await adapter.send("I have the pills in my hand")
    assert calls == ["hello"]


async def test_core_is_usable_as_plain_core(core: Core) -> None:
    assert core.escalator.configured is False
