"""The Slack adapter end to end: real slack-bolt AsyncApp and slack_sdk AsyncWebClient against the loopback fake.

Every test runs a real HavenApp (SQLite in tmp, real crisis detector and resource directory) and asserts on what
the fake "Slack" received. HTTP-mode tests post signed Events API requests to the adapter's own server; the
Socket Mode test pushes envelopes over the fake's websocket and checks they are acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import bot.app as bot_app
from adapters import slack_blocks
from adapters.slack import SlackAdapter, SlackStartError
from bot.app import HavenApp
from bot.config import Settings
from bot.delivery import DeliveryError
from bot.events import Button, ButtonPressed, ConversationKind, ConversationRef, IncomingMessage, Notify, Reply
from bot.resources import ResourceDirectory
from tests.fakes.slack_fake import (FakeSlack, block_action, buttons_of, dm_event, home_event, mention_event,
                                    message_text, slash_command)

ALICE, BOB, STAFF = "U0ALICE", "U0BOB", "U0STAFF"
ALICE_DM, BOB_DM = "D0ALICE", "D0BOB"

EAP_YAML = """\
entries:
  - id: us-acme-eap
    name: Acme Employee Assistance Programme
    country: US
    kind: eap
    topics: [mental_health, general]
    languages: [en]
    contacts:
      - {type: web, value: "https://eap.example.org/"}
    hours: "24/7"
    cost: free
    audience: employees
    source: https://eap.example.org/
    verified_at: 2026-11-01
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = await FakeSlack().start()
    slack.add_user(ALICE, locale="en-US")
    slack.add_user(BOB, locale="en-GB")
    slack.add_user(STAFF)
    slack.add_channel("C0GENERAL", {ALICE, BOB})
    slack.add_channel("C0STAFF", {STAFF})
    slack.add_channel("C0OUTSIDE", {ALICE}, bot_member=False)
    yield slack
    await slack.close()


@pytest.fixture(scope="module")
def eap_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("operator") / "eap.yaml"
    path.write_text(EAP_YAML, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _directory_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading and validating the whole directory takes most of a second; it is the same for every test here."""
    original = bot_app.load_directory

    def cached(settings: Settings) -> ResourceDirectory:
        key = tuple(settings.resources.paths)
        if key not in _DIRECTORIES:
            _DIRECTORIES[key] = original(settings)
        return _DIRECTORIES[key]

    monkeypatch.setattr(bot_app, "load_directory", cached)


_DIRECTORIES: dict[tuple[str, ...], ResourceDirectory] = {}


def slack_settings(fake: FakeSlack, eap: Path, mode: str = "http", **slack: Any) -> Settings:
    return Settings.model_validate({
        "slack": {"enabled": True, "mode": mode, "bot_token": fake.bot_token, "app_token": fake.app_token,
                  "signing_secret": fake.signing_secret, "api_url": fake.base_url, "port": 0, **slack},
        "resources": {"paths": [str(eap)]},
        "crisis": {"escalation": {"destinations": [{"platform": "slack", "channel": "C0STAFF"}]}},
    })


@asynccontextmanager
async def running(fake: FakeSlack, tmp_path: Path, eap: Path, mode: str = "http", **slack: Any
                  ) -> AsyncIterator[tuple[SlackAdapter, str]]:
    app = await HavenApp.create(slack_settings(fake, eap, mode, **slack), tmp_path / "data")
    adapter = SlackAdapter(app)
    app.outbox.register(adapter)
    try:
        await adapter.start()
        async with app.running_jobs():          # as `haven run` does: escalations are durable jobs
            yield adapter, f"http://127.0.0.1:{adapter.port}/slack/events"
    finally:
        await adapter.stop()
        await app.close()


@pytest.fixture
async def http(fake: FakeSlack, tmp_path: Path, eap_file: Path) -> AsyncIterator[tuple[SlackAdapter, str]]:
    hint = "call 0800 000 000 or chat at https://help.example.org"
    async with running(fake, tmp_path, eap_file, private_channel_hint=hint) as pair:
        yield pair


def to(channel: str) -> Callable[[Any], bool]:
    return lambda call: call.params.get("channel") == channel


async def first_contact(fake: FakeSlack, url: str, user: str = ALICE, dm: str = ALICE_DM) -> list[Any]:
    """Alice says hello: disclosure, workspace note, consent question, then the answer to "hello"."""
    status, _ = await fake.send_event(url, dm_event(user, "hello"))
    assert status == 200
    return await fake.wait_for("chat.postMessage", count=4, where=to(dm))


# --- conversation in a DM --------------------------------------------------------------------------------------

async def test_dm_conversation_with_disclosure_workspace_note_and_consent(
        fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    adapter, url = http
    posts = await first_contact(fake, url)
    disclosure, note, consent = (message_text(c.params) for c in posts[:3])
    assert "AI" in disclosure and "not a person" in disclosure
    assert "export direct messages" in note and "never sends anything about you personally" in note
    assert "https://help.example.org" in note
    assert [b["value"] for b in buttons_of(posts[2].params)] == ["consent:yes|", "consent:no|"]
    assert [b["action_id"] for b in buttons_of(posts[2].params)] == ["haven:0", "haven:1"]
    assert "/haven forget" in disclosure          # commands shown the way they are typed in Slack
    assert all(c.token == fake.bot_token for c in posts)

    await fake.send_event(url, dm_event(ALICE, "work has been a lot lately"))
    replies = await fake.wait_for("chat.postMessage", count=5, where=to(ALICE_DM))
    assert message_text(replies[4].params).endswith("?")
    assert "export" not in message_text(replies[4].params)     # the note is said once
    assert fake.calls_of("users.info")[0].params.get("include_locale") in ("1", "true", True)


async def test_thread_replies_stay_in_the_thread(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    _, url = http
    await first_contact(fake, url)
    await fake.send_event(url, dm_event(ALICE, "replying in a thread", thread_ts="1700000000.000100"))
    reply = (await fake.wait_for("chat.postMessage", where=lambda c: c.params.get("thread_ts")))[0]
    assert reply.params["thread_ts"] == "1700000000.000100" and reply.params["channel"] == ALICE_DM


async def test_crisis_dm_gets_the_crisis_reply(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    _, url = http
    await fake.send_event(url, dm_event(ALICE, "I want to kill myself tonight"))
    crisis = await fake.wait_for("chat.postMessage",
                                 where=lambda c: "Are you safe right now?" in message_text(c.params))
    text = message_text(crisis[0].params)
    assert "988" in text and crisis[0].params["channel"] == ALICE_DM
    assert [b["value"].split("|")[0] for b in buttons_of(crisis[0].params)] == \
        ["crisis:safe", "crisis:person", "crisis:plan", "crisis:grounding"]


async def test_crisis_dm_escalates_to_the_staff_channel_and_staff_claim_it(
        fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    _, url = http
    await fake.send_event(url, dm_event(ALICE, "I want to kill myself tonight"))
    await fake.wait_for("chat.postMessage", where=to(ALICE_DM))
    notice = (await fake.wait_for("chat.postMessage", where=to("C0STAFF"), timeout=5))[0]
    labels = [b["value"].split("|")[0] for b in buttons_of(notice.params)]
    assert "case:claim" in labels and "case:resolve" in labels
    assert ALICE not in message_text(notice.params) and "kill" not in message_text(notice.params)
    posted = next(m for (channel, _), m in fake.messages.items() if channel == "C0STAFF")
    status, _ = await fake.send_interaction(url, block_action(STAFF, "C0STAFF", posted, buttons_of(posted)[0]))
    assert status == 200
    await fake.wait_for("chat.postMessage", where=lambda c: c.params.get("channel") == "C0STAFF"
                        and "claimed" in message_text(c.params))
    await fake.wait_for("chat.postMessage", where=lambda c: c.params.get("channel") == ALICE_DM
                        and "support team has seen your message" in message_text(c.params))


async def test_consent_button_is_answered_and_retired(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    _, url = http
    posts = await first_contact(fake, url)
    consent = posts[2]
    message = next(m for m in fake.messages.values() if buttons_of(m))
    agree = buttons_of(consent.params)[0]
    status, _ = await fake.send_interaction(url, block_action(ALICE, ALICE_DM, message, agree))
    assert status == 200
    update = (await fake.wait_for("chat.update"))[0]
    assert update.params["ts"] == message["ts"] and not buttons_of(update.params)
    assert "You chose: I agree" in message_text(update.params)
    thanks = await fake.wait_for("chat.postMessage", count=5, where=to(ALICE_DM))
    assert "Thank you" in message_text(thanks[4].params)


async def test_forged_button_value_is_dropped(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    adapter, url = http
    message = {"ts": "1700000000.000001", "text": "x", "blocks": []}
    button = {"action_id": "haven:0", "text": {"type": "plain_text", "text": "x"}, "value": "no-separator"}
    status, _ = await fake.send_interaction(url, block_action(ALICE, ALICE_DM, message, button))
    assert status == 200
    await adapter.idle()
    assert not fake.calls_of("chat.postMessage") and not fake.calls_of("chat.update")


# --- channels, commands, App Home ------------------------------------------------------------------------------

async def test_app_mention_gets_only_a_private_nudge(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    adapter, url = http
    status, _ = await fake.send_event(url, mention_event(ALICE, "C0GENERAL", "<@U0BOT> I feel awful"))
    assert status == 200
    nudge = (await fake.wait_for("chat.postEphemeral"))[0]
    assert nudge.params["channel"] == "C0GENERAL" and nudge.params["user"] == ALICE
    text = message_text(nudge.params)
    assert "direct message" in text and "988" in text
    await adapter.idle()
    assert fake.calls_of("chat.postMessage") == []


async def test_crisis_in_a_mention_is_answered_privately_never_in_the_channel(
        fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    adapter, url = http
    await fake.send_event(url, mention_event(ALICE, "C0GENERAL", "<@U0BOT> I want to kill myself"))
    reply = (await fake.wait_for("chat.postEphemeral"))[0]
    assert reply.params["user"] == ALICE and "Are you safe right now?" in message_text(reply.params)
    await adapter.idle()
    assert [c for c in fake.calls_of("chat.postMessage") if c.params.get("channel") == "C0GENERAL"] == []


async def test_app_home_lists_the_organisations_eap_first(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    _, url = http
    await fake.send_event(url, home_event(ALICE))
    publish = (await fake.wait_for("views.publish"))[0]
    assert publish.params["user_id"] == ALICE
    view = publish.params["view"]
    sections = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    resources = next(s for s in sections if "Acme" in s)
    assert resources.index("Acme Employee Assistance") < resources.index("988")
    assert any("Safety plan" in s for s in sections) and any("export" in s for s in sections)


async def test_slash_command_in_a_channel_is_answered_in_the_dm(fake: FakeSlack,
                                                                http: tuple[SlackAdapter, str]) -> None:
    _, url = http
    status, _ = await fake.send_command(url, slash_command(ALICE, "C0GENERAL", "about", fake.response_url()))
    assert status == 200
    pointer = (await fake.wait_for("response_url"))[0]
    assert pointer.params["response_type"] == "ephemeral" and "direct messages" in pointer.params["text"]
    await fake.wait_for("chat.postMessage", where=lambda c: "offline responder" in message_text(c.params))
    assert not fake.calls_of("chat.postMessage", where=to("C0GENERAL"))


async def test_slash_command_maps_to_core_commands(fake: FakeSlack, http: tuple[SlackAdapter, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    adapter, url = http
    seen: list[str] = []
    handle = adapter._app.core.handle

    async def spy(event: Any) -> Any:
        seen.append(getattr(event, "text", ""))
        return await handle(event)

    monkeypatch.setattr(adapter._app.core, "handle", spy)
    await fake.send_command(url, slash_command(ALICE, ALICE_DM, "resources gb", fake.response_url()))
    await fake.send_command(url, slash_command(ALICE, ALICE_DM, "", fake.response_url()))
    await fake.wait_for("chat.postMessage", where=lambda c: "/haven resources" in message_text(c.params))
    await adapter.idle()
    assert sorted(seen) == ["/help", "/resources gb"]
    assert not fake.calls_of("response_url")      # typed in the DM itself: no pointer needed


async def test_staff_channel_commands_and_buttons_stay_in_the_staff_channel(
        fake: FakeSlack, http: tuple[SlackAdapter, str], monkeypatch: pytest.MonkeyPatch) -> None:
    adapter, url = http
    seen: list[Any] = []
    handle = adapter._app.core.handle

    async def spy(event: Any) -> Any:
        seen.append(event)
        return await handle(event)

    monkeypatch.setattr(adapter._app.core, "handle", spy)
    await fake.send_command(url, slash_command(STAFF, "C0STAFF", "reply case-1 we are here", fake.response_url()))
    await adapter.deliver(ConversationRef("slack", "C0STAFF", ConversationKind.GROUP),
                          Notify(ConversationRef("slack", "C0STAFF", ConversationKind.GROUP), "Haven case case-1",
                                 (Button("Claim", "case:claim", "case-1"),
                                  Button("Resolve", "case:resolve", "case-1"))))
    notice = next(m for m in fake.messages.values() if buttons_of(m))
    await fake.send_interaction(url, block_action(STAFF, "C0STAFF", notice, buttons_of(notice)[0]))
    await adapter.idle()
    command = next(e for e in seen if isinstance(e, IncomingMessage))
    press = next(e for e in seen if isinstance(e, ButtonPressed))
    assert command.text == "/reply case-1 we are here"
    assert command.conversation == ConversationRef("slack", "C0STAFF", ConversationKind.GROUP)
    assert (press.action_id, press.value, press.conversation.chat_id, press.sender.user_id) == \
        ("case:claim", "case-1", "C0STAFF", STAFF)
    assert not fake.calls_of("chat.update")               # staff keep Claim and Resolve
    assert not fake.calls_of("response_url")


# --- HTTP mode security and delivery semantics ----------------------------------------------------------------

async def test_forged_signature_is_rejected_and_nothing_is_processed(fake: FakeSlack,
                                                                     http: tuple[SlackAdapter, str]) -> None:
    adapter, url = http
    status, _ = await fake.send_event(url, dm_event(BOB, "forged"), secret="not-the-secret")
    assert status == 401
    status, _ = await fake.send_event(url, dm_event(BOB, "forged"), signature="v0=" + "0" * 64)
    assert status == 401
    await adapter.idle()
    assert fake.calls == [c for c in fake.calls if c.method == "auth.test"]


async def test_url_verification_challenge_is_answered(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    _, url = http
    body = b'{"token": "legacy", "challenge": "c-123", "type": "url_verification"}'
    status, text = await fake.post_signed(url, body, "application/json")
    assert status == 200 and "c-123" in text


async def test_replay_older_than_five_minutes_is_rejected(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    adapter, url = http
    status, _ = await fake.send_event(url, dm_event(BOB, "replayed"), timestamp=int(time.time()) - 301)
    assert status == 401
    await adapter.idle()
    assert not fake.calls_of("chat.postMessage")


async def test_retried_event_is_answered_once(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    adapter, url = http
    event = dm_event(BOB, "hello")
    results = await asyncio.gather(fake.send_event(url, event, event_id="Ev0RETRY"),
                                   fake.send_event(url, event, event_id="Ev0RETRY", retry_num=1))
    assert [status for status, _ in results] == [200, 200]
    await fake.send_event(url, event, event_id="Ev0RETRY", retry_num=2)
    await fake.wait_for("chat.postMessage", count=4, where=to(BOB_DM))
    await adapter.idle()
    assert len(fake.calls_of("chat.postMessage", where=to(BOB_DM))) == 4


async def test_slack_is_acked_before_the_slow_work(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    _, url = http
    release = fake.hold("users.info")
    started = time.monotonic()
    status, _ = await asyncio.wait_for(fake.send_event(url, dm_event(ALICE, "hello")), timeout=3)
    assert status == 200 and time.monotonic() - started < 3
    assert not fake.calls_of("chat.postMessage")
    release.set()
    await fake.wait_for("chat.postMessage", count=4, where=to(ALICE_DM))


async def test_bad_payloads_are_dropped_without_crashing(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    adapter, url = http
    for broken in ({"type": "message", "channel_type": "im", "channel": ALICE_DM, "text": "no user"},
                   {"type": "message", "channel_type": "im", "channel": ALICE_DM, "user": ALICE, "text": 42},
                   {"type": "message", "channel_type": "im", "channel": ALICE_DM, "user": ALICE,
                    "subtype": "message_changed", "text": "edited"},
                   {"type": "app_mention", "channel": "C0GENERAL"},
                   {"type": "app_home_opened", "tab": "home"}):
        status, _ = await fake.send_event(url, broken)
        assert status == 200
    await fake.send_event(url, dm_event(ALICE, "still here"))
    await fake.wait_for("chat.postMessage", count=4, where=to(ALICE_DM))
    await adapter.idle()
    assert len(fake.calls_of("chat.postMessage")) == 4


# --- delivery outside a reply ---------------------------------------------------------------------------------

async def test_deliver_posts_long_notices_within_slack_limits(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    adapter, _ = http
    text = " ".join(f"Sentence {i} is here & <safe>." for i in range(2500))     # ~70k characters
    buttons = (Button("Claim", "case:claim", "c1"), Button("Resolve", "case:resolve", "c1"))
    await adapter.deliver(ConversationRef("slack", "C0STAFF", ConversationKind.GROUP, thread_id="1700.1"),
                          Notify(ConversationRef("slack", "C0STAFF", ConversationKind.GROUP), text, buttons))
    posts = fake.calls_of("chat.postMessage", where=to("C0STAFF"))
    assert len(posts) >= 2 and all(c.params["thread_ts"] == "1700.1" for c in posts)
    assert all(len(c.params["blocks"]) <= 50 for c in posts)
    shown = "\n".join(message_text(c.params) for c in posts)
    assert "&lt;safe&gt;" in shown and "Sentence 2499" in shown
    assert [b["value"] for b in buttons_of(posts[-1].params)] == ["case:claim|c1", "case:resolve|c1"]


@pytest.mark.parametrize("channel,error", [("C0GONE", "channel_not_found"), ("C0OUTSIDE", "not_in_channel")])
async def test_deliver_to_a_channel_that_cannot_work_is_not_retried(
        fake: FakeSlack, http: tuple[SlackAdapter, str], channel: str, error: str) -> None:
    adapter, _ = http
    with pytest.raises(DeliveryError) as raised:
        await adapter.deliver(ConversationRef("slack", channel, ConversationKind.GROUP), Reply("hello"))
    assert raised.value.retryable is False and error in raised.value.reason


async def test_rate_limit_retry_after_is_honoured(fake: FakeSlack, http: tuple[SlackAdapter, str]) -> None:
    adapter, _ = http
    fake.rate_limit_next("chat.postMessage", retry_after=1)
    started = time.monotonic()
    await adapter.deliver(ConversationRef("slack", "C0STAFF", ConversationKind.GROUP), Reply("after a wait"))
    assert time.monotonic() - started >= 1.0
    assert [c.ok for c in fake.calls_of("chat.postMessage", ok=None)] == [False, True]
    fake.rate_limit_next("chat.postMessage", retry_after=1, times=2)
    with pytest.raises(DeliveryError) as raised:
        await adapter.deliver(ConversationRef("slack", "C0STAFF", ConversationKind.GROUP), Reply("again"))
    assert raised.value.retryable and raised.value.retry_after == 1.0


async def test_auth_errors_are_reported_without_the_token(fake: FakeSlack, http: tuple[SlackAdapter, str],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    adapter, _ = http
    caplog.set_level(logging.DEBUG)
    fake.revoked = True
    with pytest.raises(DeliveryError) as raised:
        await adapter.deliver(ConversationRef("slack", "C0STAFF", ConversationKind.GROUP), Reply("hello"))
    assert raised.value.retryable is False
    assert "event=slack_auth_failed error=token_revoked hint=check_slack.bot_token" in caplog.text
    assert fake.bot_token not in caplog.text and fake.signing_secret not in caplog.text


async def test_a_bad_bot_token_fails_start_clearly(fake: FakeSlack, tmp_path: Path, eap_file: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    settings = slack_settings(fake, eap_file)
    settings = settings.model_copy(update={"slack": settings.slack.model_copy(
        update={"bot_token": type(settings.slack.bot_token)("xoxb-wrong")})})
    app = await HavenApp.create(settings, tmp_path / "data")
    adapter = SlackAdapter(app)
    try:
        with pytest.raises(SlackStartError, match="invalid_auth"):
            await adapter.start()
    finally:
        await adapter.stop()
        await app.close()
    assert "xoxb-wrong" not in caplog.text and "check_slack.bot_token" in caplog.text


# --- Socket Mode ------------------------------------------------------------------------------------------------

async def test_socket_mode_end_to_end(fake: FakeSlack, tmp_path: Path, eap_file: Path) -> None:
    async with running(fake, tmp_path, eap_file, mode="socket") as (adapter, _):
        assert adapter.port is None                             # no HTTP server in Socket Mode
        opened = fake.calls_of("apps.connections.open")
        assert len(opened) == 1 and opened[0].token == fake.app_token
        await fake.wait_for("socket.connected")
        payload = {"token": "legacy", "team_id": "T0FAKE", "api_app_id": "A0FAKE", "type": "event_callback",
                   "event_id": "Ev0SOCKET", "event_time": int(time.time()), "event": dm_event(ALICE, "hello")}
        envelope = await fake.push_envelope("events_api", payload)
        assert (await fake.wait_ack(envelope))["envelope_id"] == envelope
        posts = await fake.wait_for("chat.postMessage", count=4, where=to(ALICE_DM))
        consent = buttons_of(posts[2].params)[0]
        message = next(m for m in fake.messages.values() if buttons_of(m))
        envelope = await fake.push_envelope("interactive", block_action(ALICE, ALICE_DM, message, consent))
        await fake.wait_ack(envelope)
        thanks = await fake.wait_for("chat.postMessage", count=5, where=to(ALICE_DM))
        assert "Thank you" in message_text(thanks[4].params)
        await fake.wait_for("chat.update")
        await fake.push_envelope("events_api", payload)          # redelivered: answered once
        await adapter.idle()
        assert len(fake.calls_of("chat.postMessage", where=to(ALICE_DM))) == 5


async def test_socket_mode_bad_app_token_fails_start_clearly(fake: FakeSlack, tmp_path: Path, eap_file: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    app = await HavenApp.create(slack_settings(fake, eap_file, mode="socket", app_token="xapp-wrong-token"),
                                tmp_path / "data")
    adapter = SlackAdapter(app)
    try:
        with pytest.raises(SlackStartError, match="invalid_auth"):
            await adapter.start()
    finally:
        await adapter.stop()
        await app.close()
    assert "check_slack.app_token" in caplog.text and "xapp-wrong-token" not in caplog.text
    assert not fake.calls_of("socket.connected")


# --- rendering units ------------------------------------------------------------------------------------------

def test_render_splits_within_section_and_block_limits() -> None:
    text = "word " * 200_000
    messages = slack_blocks.render(text, tuple(Button(f"b{i}", f"a:{i}") for i in range(30)))
    assert len(messages) > 1
    for message in messages:
        assert len(message.blocks) <= 50 and len(message.text) <= 3000
        for block in message.blocks:
            if block["type"] == "section":
                assert 0 < len(block["text"]["text"]) <= 3000
            else:
                assert len(block["elements"]) <= 25
    assert sum(len(b["elements"]) for b in messages[-1].blocks if b["type"] == "actions") == 30


def test_escaping_never_pushes_a_section_over_the_limit() -> None:
    for chunk in slack_blocks.section_texts("<&>" * 5000):
        assert len(chunk) <= 3000 and "<" not in chunk


def test_button_values_round_trip_and_commands_are_rewritten() -> None:
    encoded = slack_blocks.encode_button(3, Button("A very long label " * 10, "case:claim", "abc|def"))
    assert encoded["action_id"] == "haven:3" and len(encoded["text"]["text"]) <= 75
    assert slack_blocks.decode_value(encoded["value"]) == ("case:claim", "abc|def")
    assert slack_blocks.decode_value("junk") is None and slack_blocks.decode_value(7) is None
    assert slack_blocks.slack_commands("Type /forget or see https://x.org/about") == \
        "Type /haven forget or see https://x.org/about"
