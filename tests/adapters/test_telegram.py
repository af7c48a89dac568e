"""The Telegram adapter end to end: the real python-telegram-bot Application against the loopback fake Bot API,
with a real HavenApp (SQLite in tmp, the real crisis detector, the offline responder)."""

from __future__ import annotations

import contextlib

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.telegram import TelegramAdapter
from bot.app import HavenApp
from bot.config import Settings
from bot.delivery import DeliveryError
from bot.events import Attachment, Button, ButtonPressed, ConversationKind, ConversationRef, Notify
from bot.llm.base import ResponderContext, ResponderReply
from tests.fakes.telegram_fake import Call, FakeTelegram

ALICE, BOB, STAFF_MEMBER = 777, 778, 900
GROUP, STAFF_CHAT = -1001, -100999
SECRET = "s3cret-TOKEN_1"

Start = Callable[..., Awaitable[TelegramAdapter]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def start(fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[Start]:
    """Start a HavenApp with the Telegram adapter against the fake; everything is stopped afterwards."""
    running: list[tuple[HavenApp, TelegramAdapter]] = []
    jobs = contextlib.AsyncExitStack()

    async def _start(**telegram: Any) -> TelegramAdapter:
        escalation = telegram.pop("escalation", None)
        config: dict[str, Any] = {"telegram": {"enabled": True, "token": fake.token, "base_url": fake.root,
                                               "concurrency": 8} | telegram}
        if escalation is not None:
            config["crisis"] = {"escalation": escalation}
        app = await HavenApp.create(Settings.model_validate(config), tmp_path / f"data{len(running)}")
        adapter = TelegramAdapter(app)
        app.outbox.register(adapter)
        await adapter.start()
        await jobs.enter_async_context(app.running_jobs())   # durable jobs (escalations) run as in `haven run`
        running.append((app, adapter))
        return adapter

    yield _start
    await jobs.aclose()
    for app, adapter in reversed(running):
        await adapter.stop()
        await app.close()


def to(chat_id: int) -> Callable[[Call], bool]:
    return lambda call: call.params.get("chat_id") == chat_id and call.status == 200


def text_has(chat_id: int, part: str) -> Callable[[Call], bool]:
    return lambda call: to(chat_id)(call) and part in str(call.params.get("text"))


def keyboard(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row]


async def consented(fake: FakeTelegram, user: int = ALICE) -> None:
    """Say hello and press "I agree", waiting for each answer."""
    fake.push_text(user, "/start")
    consent = await fake.wait_call("sendMessage", lambda c: to(user)(c) and "consent:yes" in keyboard(c))
    fake.push_callback(user, "consent:yes", fake.sent_result(consent))
    await fake.wait_call("answerCallbackQuery")
    await fake.wait_call("editMessageText", to(user))
    await fake.wait_call("sendMessage", text_has(user, "Thank you"))


# --- first contact, conversation, commands ---------------------------------------------------------------------

async def test_first_message_gets_disclosure_and_consent_keyboard(fake: FakeTelegram, start: Start) -> None:
    await start()
    fake.push_text(ALICE, "hello")
    consent = await fake.wait_call("sendMessage", lambda c: to(ALICE)(c) and bool(keyboard(c)))
    texts = fake.texts_to(ALICE)
    assert "not a person" in texts[0] and "AI" in texts[0]
    assert keyboard(consent) == ["consent:yes", "consent:no"]
    assert all(len(data.encode()) <= 64 for data in keyboard(consent))
    # Startup: token checked (getMe), polling without a webhook, the command menu in every catalog language.
    assert fake.calls_of("getMe") and fake.calls_of("deleteWebhook")
    assert {lang for (_, lang) in fake.commands} == {"", "es", "de", "fr", "pt", "it", "nl"}
    assert [c["command"] for c in fake.commands[("all_private_chats", "")]][:2] == ["start", "help"]


async def test_consent_button_press_is_answered_and_the_choice_shown(fake: FakeTelegram, start: Start) -> None:
    await start()
    await consented(fake)
    edit = fake.calls_of("editMessageText")[0]
    assert "✓" in edit.params["text"] and not edit.params.get("reply_markup")
    await fake.wait_call("sendMessage", text_has(ALICE, "Thank"))


async def test_normal_conversation_and_commands(fake: FakeTelegram, start: Start) -> None:
    await start()
    await consented(fake)
    before = len(fake.texts_to(ALICE))
    fake.push_text(ALICE, "work has been a lot lately")
    reply = await fake.wait_call("sendMessage", to(ALICE), count=before + 1)
    assert str(reply.params["text"]).endswith("?")
    fake.push_text(ALICE, "/resources")
    await fake.wait_call("sendMessage", text_has(ALICE, "988"))
    fake.push_text(ALICE, "/help@fake_test_bot")
    await fake.wait_call("sendMessage", text_has(ALICE, "/resources"))


async def test_crisis_message_gets_the_crisis_reply(fake: FakeTelegram, start: Start) -> None:
    await start()
    await consented(fake)
    fake.push_text(ALICE, "I want to kill myself tonight")
    crisis = await fake.wait_call("sendMessage", text_has(ALICE, "Are you safe right now?"))
    assert "988" in crisis.params["text"]
    assert keyboard(crisis)[0] == "crisis:safe"


async def test_forget_asks_then_erases(fake: FakeTelegram, start: Start) -> None:
    await start()
    await consented(fake)
    fake.push_text(ALICE, "/forget")
    confirm = await fake.wait_call("sendMessage", lambda c: to(ALICE)(c) and "forget:yes" in keyboard(c))
    fake.push_callback(ALICE, "forget:yes", fake.sent_result(confirm))
    await fake.wait_call("sendMessage", text_has(ALICE, "erased"))


# --- delivery rules --------------------------------------------------------------------------------------------

async def test_long_reply_is_split_within_the_limit(fake: FakeTelegram, start: Start) -> None:
    adapter = await start()
    sentence = "This sentence is part of a long answer. "
    long_text = sentence * 250 + "😀" * 100
    fake.started_users.add(ALICE)
    await adapter.deliver(ConversationRef("telegram", str(ALICE)), Notify(ConversationRef("telegram", str(ALICE)),
                                                                           long_text, (Button("OK", "ok"),)))
    sent = fake.calls_of("sendMessage", to(ALICE))
    assert len(sent) >= 3 and all(c.status == 200 for c in sent)
    assert all(len(str(c.params["text"]).encode("utf-16-le")) // 2 <= 4096 for c in sent)
    assert all(str(c.params["text"]).endswith((".", "😀")) for c in sent)
    assert keyboard(sent[-1]) == ["ok"] and not keyboard(sent[0])


async def test_429_on_send_message_is_honoured(fake: FakeTelegram, start: Start) -> None:
    await start()
    fake.fail_next("sendMessage", 429, retry_after=1)
    fake.push_text(ALICE, "hello")
    ok = await fake.wait_call("sendMessage", to(ALICE))
    failed = fake.calls_of("sendMessage", lambda c: c.status == 429)
    assert len(failed) == 1
    assert failed[0].result["parameters"] == {"retry_after": 1}
    assert ok.at - failed[0].at >= 0.95


async def test_blocked_user_is_not_retried(fake: FakeTelegram, start: Start, caplog: pytest.LogCaptureFixture) -> None:
    adapter = await start()
    fake.blocked_users.add(BOB)
    caplog.set_level(logging.INFO, logger="haven.telegram")
    with pytest.raises(DeliveryError) as error:
        await adapter.deliver(ConversationRef("telegram", str(BOB)), Notify(ConversationRef("telegram", str(BOB)),
                                                                             "a follow-up"))
    assert error.value.retryable is False
    assert len(fake.calls_of("sendMessage")) == 1
    assert "event=blocked" in caplog.text and str(BOB) not in caplog.text


async def test_network_errors_are_retried_with_backoff(fake: FakeTelegram, start: Start) -> None:
    adapter = await start()
    fake.started_users.add(ALICE)
    adapter.sender.backoff = 0.05
    fake.fail_next("sendMessage", 502, times=2)
    target = ConversationRef("telegram", str(ALICE))
    await adapter.deliver(target, Notify(target, "checking in"))
    assert [c.status for c in fake.calls_of("sendMessage")] == [502, 502, 200]


async def test_redelivered_update_is_answered_once(fake: FakeTelegram, start: Start) -> None:
    await start()
    await consented(fake)
    before = len(fake.texts_to(ALICE))
    update = {"message": fake.message(ALICE, "just one message")}
    fake.push_updates([update | {"update_id": 5000}, update | {"update_id": 5000}])
    await fake.wait_call("sendMessage", to(ALICE), count=before + 1)
    fake.push_text(ALICE, "and another")
    await fake.wait_call("sendMessage", to(ALICE), count=before + 2)
    assert len(fake.texts_to(ALICE)) == before + 2


async def test_bad_updates_never_stop_the_bot(fake: FakeTelegram, start: Start) -> None:
    adapter = await start()
    fake.push_update({"edited_message": fake.message(ALICE, "edited")})
    fake.push_update({"message": fake.message(ALICE, "x" * 20_000)})
    fake.push_update({"callback_query": {"id": "q1", "chat_instance": "c", "from": fake.user(ALICE),
                                         "data": "~unknown"}})
    fake.open_queries.add("q1")
    fake.push_text(BOB, "hello")
    await fake.wait_call("sendMessage", to(BOB))
    await adapter.wait_handled(4)
    assert any("8000" in t for t in fake.texts_to(ALICE))


async def test_malformed_update_is_skipped_without_logging_content(fake: FakeTelegram, start: Start,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    adapter = await start()
    caplog.set_level(logging.INFO)
    fake.push_updates([{"message": {"message_id": 1, "text": "private words"}},
                       {"message": fake.message(BOB, "hello")}])
    await fake.wait_call("sendMessage", to(BOB))
    await adapter.wait_handled(2)
    assert "event=update_rejected reason=malformed" in caplog.text
    assert "private words" not in caplog.text
    assert len(fake.calls_of("getUpdates")) < 10      # no tight re-fetch loop


async def test_typing_is_shown_while_a_slow_reply_is_prepared(fake: FakeTelegram, start: Start) -> None:
    adapter = await start()
    await consented(fake)
    release = asyncio.Event()

    class Slow:
        name = "slow"
        uses_history = False

        async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
            await release.wait()
            return ResponderReply("take your time?")

    adapter.app.core.responder = Slow()
    fake.push_text(ALICE, "thinking about things")
    await fake.wait_call("sendChatAction", lambda c: to(ALICE)(c) and c.params.get("action") == "typing")
    release.set()
    await fake.wait_call("sendMessage", text_has(ALICE, "take your time?"))


async def test_one_slow_chat_does_not_block_another(fake: FakeTelegram, start: Start) -> None:
    adapter = await start()
    release = asyncio.Event()

    class SlowForAlice:
        name = "slow"
        uses_history = False

        async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
            if text == "alice waits":
                await release.wait()
            return ResponderReply(f"echo: {text}")

    adapter.app.core.responder = SlowForAlice()
    fake.push_text(ALICE, "alice waits")
    fake.push_text(BOB, "bob is here")
    await fake.wait_call("sendMessage", text_has(BOB, "echo: bob is here"))
    assert not fake.calls_of("sendMessage", text_has(ALICE, "echo:"))
    release.set()
    await fake.wait_call("sendMessage", text_has(ALICE, "echo: alice waits"))


async def test_attachment_is_sent_as_a_document(fake: FakeTelegram, start: Start) -> None:
    adapter = await start()
    fake.started_users.add(ALICE)
    target = ConversationRef("telegram", str(ALICE))
    await adapter.deliver(target, Attachment("export.json", b'{"messages": []}', "application/json", "Your data"))
    document = fake.calls_of("sendDocument")[0]
    assert document.status == 200 and document.params["document"].filename == "export.json"
    assert document.params["caption"] == "Your data"


# --- groups and staff ------------------------------------------------------------------------------------------

async def test_group_message_not_addressed_is_ignored(fake: FakeTelegram, start: Start) -> None:
    adapter = await start()
    fake.push_text(BOB, "I feel awful today", chat_id=GROUP, chat_type="supergroup")
    await adapter.wait_handled(1)
    fake.push_text(BOB, "/help@some_other_bot", chat_id=GROUP, chat_type="supergroup")
    await adapter.wait_handled(2)
    assert fake.calls_of("sendMessage") == [] and fake.calls_of("sendChatAction") == []


async def test_group_mention_gets_only_a_neutral_deep_link(fake: FakeTelegram, start: Start) -> None:
    await start()
    fake.push_text(BOB, "@fake_test_bot I want to kill myself tonight", chat_id=GROUP, chat_type="supergroup")
    note = await fake.wait_call("sendMessage", to(GROUP))
    assert note.params["text"] == "Let's talk in a private chat: https://t.me/fake_test_bot?start=help"
    assert len(fake.calls_of("sendMessage")) == 1     # nothing else, anywhere


async def test_group_mention_continues_in_private_when_possible(fake: FakeTelegram, start: Start) -> None:
    await start()
    await consented(fake)
    before = len(fake.texts_to(ALICE))
    fake.push_text(ALICE, "@fake_test_bot I want to kill myself tonight", chat_id=GROUP, chat_type="group")
    note = await fake.wait_call("sendMessage", to(GROUP))
    assert note.params["text"] == "I've sent you a private message."
    assert any("Are you safe right now?" in t for t in fake.texts_to(ALICE)[before:])
    assert fake.texts_to(GROUP) == ["I've sent you a private message."]


async def test_reply_to_the_bot_in_a_group_is_addressed(fake: FakeTelegram, start: Start) -> None:
    await start()
    bot_message = {"message_id": 9, "date": 1700000000, "chat": {"id": GROUP, "type": "group"},
                   "from": {"id": fake.bot_id, "is_bot": True, "first_name": "FakeBot"}, "text": "hi"}
    fake.push_text(BOB, "what can you do", chat_id=GROUP, chat_type="group", reply_to=bot_message)
    note = await fake.wait_call("sendMessage", to(GROUP))
    assert "t.me/fake_test_bot" in note.params["text"]


async def test_case_buttons_outside_the_staff_chat_are_refused(fake: FakeTelegram, start: Start) -> None:
    await start(staff_chat_id=STAFF_CHAT)
    await consented(fake)
    fake.push_callback(ALICE, "case:claim|c-1", fake.sent_result(fake.calls_of("sendMessage", to(ALICE))[0]))
    answer = await fake.wait_call("answerCallbackQuery", count=2)
    assert answer.params["show_alert"] is True and answer.params["text"] == "Not allowed here."


async def test_staff_notice_goes_to_the_staff_group_with_claim_buttons(fake: FakeTelegram, start: Start) -> None:
    adapter = await start(staff_chat_id=STAFF_CHAT)
    fake.groups[STAFF_CHAT] = "supergroup"
    staff = ConversationRef("telegram", str(STAFF_CHAT), ConversationKind.GROUP)
    await adapter.app.outbox.deliver(staff, Notify(staff, "Case c-1: high risk", (
        Button("Claim", "case:claim", "c-1"), Button("Resolve", "case:resolve", "c-1"))))
    notice = await fake.wait_call("sendMessage", to(STAFF_CHAT))
    assert keyboard(notice) == ["case:claim|c-1", "case:resolve|c-1"]
    # A press in the staff chat reaches the core as ButtonPressed with the staff chat as conversation.
    seen: list[Any] = []
    handle = adapter.app.core.handle

    async def spy(event: Any, **options: Any) -> Any:
        seen.append(event)
        return await handle(event, **options)

    adapter.app.core.handle = spy  # type: ignore[method-assign]
    fake.push_callback(STAFF_MEMBER, "case:claim|c-1", fake.sent_result(notice))
    await adapter.wait_handled(1)
    assert isinstance(seen[0], ButtonPressed)
    assert seen[0].conversation == staff and (seen[0].action_id, seen[0].value) == ("case:claim", "c-1")
    assert seen[0].sender.user_id == str(STAFF_MEMBER)
    assert fake.calls_of("answerCallbackQuery")[0].params.get("show_alert") in (None, False)


async def test_crisis_escalates_to_the_staff_group_and_staff_can_claim(fake: FakeTelegram, start: Start) -> None:
    await start(staff_chat_id=STAFF_CHAT,
                escalation={"destinations": [{"platform": "telegram", "chat_id": STAFF_CHAT}]})
    fake.groups[STAFF_CHAT] = "supergroup"
    await consented(fake)
    fake.push_text(ALICE, "I'm going to kill myself tonight, I have the pills here")
    await fake.wait_call("sendMessage", text_has(ALICE, "Are you safe right now?"))
    notice = await fake.wait_call("sendMessage", lambda c: to(STAFF_CHAT)(c) and bool(keyboard(c)), timeout=3)
    assert str(ALICE) not in str(notice.params)
    claim = next(data for data in keyboard(notice) if data.startswith("case:claim"))
    fake.push_callback(STAFF_MEMBER, claim, fake.sent_result(notice))
    await fake.wait_call("sendMessage", to(STAFF_CHAT), count=2, timeout=3)


# --- webhook mode ----------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_mode_checks_the_secret(fake: FakeTelegram, start: Start) -> None:
    port = _free_port()
    adapter = await start(mode="webhook", webhook={"listen": "127.0.0.1", "port": port, "path": "tg-hook",
                                                   "url": f"http://127.0.0.1:{port}/tg-hook", "secret_token": SECRET})
    hook = fake.calls_of("setWebhook")[0]
    assert hook.params["secret_token"] == SECRET and hook.params["url"].endswith("/tg-hook")
    fake.started_users.add(ALICE)
    update = {"update_id": 7000, "message": fake.message(ALICE, "hello")}
    assert await fake.post_webhook(update | {"update_id": 7001}, secret=None) == 403
    assert await fake.post_webhook(update | {"update_id": 7002}, secret="wrong-secret") == 403
    assert adapter.handled == 0
    assert await fake.post_webhook(update, secret=SECRET) == 200
    # Acknowledged only once handled: the reply was already sent when Telegram got its 200.
    assert fake.calls_of("sendMessage", to(ALICE))
    await adapter.wait_handled(1)
    assert adapter.handled == 1
    # Updates pushed while the webhook is set are POSTed with the registered secret.
    fake.push_text(ALICE, "second")
    await adapter.wait_handled(2)
    assert fake.webhook_deliveries[-1][1] == 200



async def test_webhook_update_sent_while_the_bot_is_down_is_answered_once_after_restart(
        fake: FakeTelegram, start: Start) -> None:
    """A worker that dies before answering never acknowledged the update: Telegram retries, the next worker on
    the same URL handles it, and a redelivery of a handled update is not answered twice."""
    port = _free_port()
    hook = {"listen": "127.0.0.1", "port": port, "path": "tg-hook", "url": f"http://127.0.0.1:{port}/tg-hook",
            "secret_token": SECRET}
    first = await start(mode="webhook", webhook=hook)
    fake.webhook_retry_delay = 0.05
    await first.stop()                                   # the worker is gone; Telegram keeps the webhook
    fake.push_text(ALICE, "I want to kill myself")
    await fake.wait_for(lambda: any(status == 0 for _, status in fake.webhook_deliveries))
    second = await start(mode="webhook", webhook=hook)   # a restarted (or another) worker on the same URL
    await second.wait_handled(1, timeout=10)
    crisis = fake.calls_of("sendMessage", text_has(ALICE, "Are you safe right now?"))
    assert len(crisis) == 1
    update_id, status = fake.webhook_deliveries[-1]
    assert status == 200
    # Telegram redelivers the same update (its answer was lost): handled already, so no second reply.
    redelivered = {"update_id": update_id, "message": fake.message(ALICE, "I want to kill myself")}
    assert await fake.post_webhook(redelivered, secret=SECRET) == 200
    assert len(fake.calls_of("sendMessage", text_has(ALICE, "Are you safe right now?"))) == 1


async def test_wrong_token_fails_startup_clearly(fake: FakeTelegram, tmp_path: Path) -> None:
    settings = Settings.model_validate({"telegram": {"enabled": True, "token": "123456:WRONG", "base_url": fake.root}})
    app = await HavenApp.create(settings, tmp_path)
    adapter = TelegramAdapter(app)
    try:
        with pytest.raises(RuntimeError, match="rejected"):
            await adapter.start()
        assert fake.calls_of("getMe")[0].status == 401
    finally:
        await adapter.stop()
        await app.close()
