"""The Discord adapter end to end: the real discord.py client against the loopback fake of Discord, a real
HavenApp on a temporary data dir, the real crisis detector. Assertions are on what "Discord" received."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.discord_bot import DiscordAdapter, member_side
from bot.app import HavenApp, adapter_class
from bot.config import Settings
from bot.delivery import DeliveryError
from bot.resources import ResourceDirectory
from bot.events import (Button, ButtonPressed, ConversationKind, ConversationRef, IncomingEvent, IncomingMessage,
                        Notify, Outgoing, Reply)
from tests.fakes.discord_fake import DIRECT_MESSAGES, GUILD_MESSAGES, MESSAGE_CONTENT, FakeDiscord

GUILDS = 1 << 0
CRISIS = "I want to kill myself tonight"
MESSAGES = r"^/channels/\d+/messages$"


@dataclass
class World:
    fake: FakeDiscord
    guild: dict[str, Any]
    alice: dict[str, Any]
    bob: dict[str, Any]
    carol: dict[str, Any]

    def channel(self, name: str) -> int:
        return self.fake.channel_id(self.guild, name)

    def role(self, name: str) -> int:
        return self.fake.role_id(self.guild, name)

    def dm(self, user: dict[str, Any]) -> int:
        return self.fake.dm_channel_for(int(user["id"]))


class Spy:
    """Records what the core was asked and answered, so a test can wait for "handled" instead of sleeping."""

    def __init__(self, app: HavenApp) -> None:
        self.events: list[tuple[IncomingEvent, list[Outgoing]]] = []
        self._changed = asyncio.Condition()
        original = app.core.handle

        async def handle(event: IncomingEvent) -> list[Outgoing]:
            result = await original(event)
            async with self._changed:
                self.events.append((event, result))
                self._changed.notify_all()
            return result

        app.core.handle = handle  # type: ignore[method-assign]

    async def wait(self, count: int, timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.events) >= count), timeout)


@dataclass
class Running:
    app: HavenApp
    adapter: DiscordAdapter
    spy: Spy


@pytest.fixture(autouse=True)
def _load_directory_once(directory: ResourceDirectory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test builds a HavenApp; parsing the helpline directory each time would dominate the run."""
    monkeypatch.setattr("bot.app.load_directory", lambda settings: directory)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    fake = FakeDiscord()
    await fake.start()
    people = [fake.user(fake.next_id(), name) for name in ("alice", "bob", "carol")]
    guild = fake.add_guild("Calm Corner", ["general", "support", "mods"], people, roles=["Moderators", "Helpers"])
    yield World(fake, guild, *people)
    await fake.close()


def settings_for(world: World, *, monitored: bool = True, help_threads: bool = False,
                 token: str | None = None) -> Settings:
    guild = {"id": int(world.guild["id"]), "moderator_channel_id": world.channel("mods"),
             "moderator_role_id": world.role("Moderators"), "helper_role_id": world.role("Helpers"),
             "country": "GB", "help_threads": help_threads,
             "monitored_channels": [world.channel("support")] if monitored else []}
    return Settings.model_validate({
        "discord": {"enabled": True, "token": token or world.fake.token, "api_base": world.fake.api_base,
                    "gateway_url": world.fake.gateway_url, "guild_ready_timeout": 0.02, "guilds": [guild]},
        "crisis": {"escalation": {"destinations": [{"platform": "discord", "channel_id": world.channel("mods"),
                                                    "role_id": world.role("Moderators")}]}},
    })


@contextlib.asynccontextmanager
async def running(world: World, data_dir: Path, **options: Any) -> AsyncIterator[Running]:
    app = await HavenApp.create(settings_for(world, **options), data_dir)
    adapter = DiscordAdapter(app)
    app.outbox.register(adapter)
    spy = Spy(app)
    jobs = getattr(app, "running_jobs", None)      # durable jobs (escalation notices) run as in `haven run`
    try:
        await adapter.start()
        async with jobs() if jobs else contextlib.nullcontext():
            yield Running(app, adapter, spy)
    finally:
        await adapter.stop()
        await app.close()


def texts(calls: list[Any]) -> str:
    return "\n".join((call.json or {}).get("content") or "" for call in calls)


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [b["custom_id"] for row in message.get("components", []) for b in row["components"]]


# --- lifecycle, intents, token ---------------------------------------------------------------------------------

async def test_registered_as_the_discord_adapter() -> None:
    assert adapter_class("discord") is DiscordAdapter


async def test_identify_carries_token_and_only_the_intents_features_need(world: World, tmp_path: Path) -> None:
    async with running(world, tmp_path):
        identify = world.fake.identifies[-1]
        assert identify["token"] == world.fake.token
        assert identify["intents"] == GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
        names = {command["name"] for command in world.fake.commands}
        assert names == {"resources", "safetyplan", "settings", "about", "mydata", "forget", "checkon", "optout",
                         "skills", "mood", "screen", "ideas", "book", "appointments",
                         "claim", "resolve", "reply"}
    world.fake.identifies.clear()
    async with running(world, tmp_path / "b", monitored=False):
        assert world.fake.identifies[-1]["intents"] == GUILDS | DIRECT_MESSAGES


async def test_gateway_rejecting_the_token_fails_start(world: World, tmp_path: Path) -> None:
    world.fake.gateway_token = "rotated"
    with pytest.raises(discord.ConnectionClosed) as closed:
        async with running(world, tmp_path):
            pass
    assert closed.value.code == 4004


async def test_monitoring_without_the_message_content_intent_enabled_fails_start(world: World,
                                                                                  tmp_path: Path) -> None:
    world.fake.privileged_intents = False
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running(world, tmp_path):
            pass


async def test_wrong_token_fails_login(world: World, tmp_path: Path) -> None:
    with pytest.raises(discord.LoginFailure):
        async with running(world, tmp_path, token="not-the-token"):
            pass


# --- direct messages -------------------------------------------------------------------------------------------

async def test_dm_conversation_discloses_asks_consent_and_replies(world: World, tmp_path: Path) -> None:
    fake, dm = world.fake, world.dm(world.alice)
    async with running(world, tmp_path) as bot:
        await fake.push_dm(world.alice, "hello")
        first = await fake.wait_for("POST", MESSAGES, lambda c: int(c.path.split("/")[2]) == dm, count=3)
        assert "not a person" in texts(first)
        assert fake.find("POST", rf"^/channels/{dm}/typing$")
        consent = next(m for m in fake.sent_messages(dm) if m["components"])
        assert custom_ids(consent) == ["hv:consent:yes|", "hv:consent:no|"]
        # Buttons are persistent: they still work after a restart.
    async with running(world, tmp_path) as bot:
        pressed = await fake.press(consent, "I agree", world.alice)
        thanks = await fake.wait_for("POST", rf"^/webhooks/{fake.app_id}/{pressed.token}$")
        assert "Thank you" in texts(thanks)
        callback = fake.find("POST", rf"^/interactions/{pressed.id}/")
        assert callback[0].json["type"] == 6          # deferred first, answered by follow-up
        await fake.push_dm(world.alice, "work has been a lot lately")
        await bot.spy.wait(2)
        reply = await fake.wait_for("POST", MESSAGES, lambda c: int(c.path.split("/")[2]) == dm, count=4)
        assert reply[-1].json["content"].endswith("?")
        event = bot.spy.events[-1][0]
        assert isinstance(event, IncomingMessage) and event.conversation.kind is ConversationKind.DIRECT
        assert event.addressed_to_bot


async def test_long_replies_are_split_at_2000_characters_with_buttons_last(world: World, tmp_path: Path) -> None:
    dm = world.dm(world.alice)
    text = " ".join(f"Sentence number {i} is here." for i in range(120))     # about 3,500 characters
    async with running(world, tmp_path) as bot:
        target = ConversationRef("discord", str(dm), ConversationKind.DIRECT)
        await bot.adapter.deliver(target, Reply(text, buttons=(Button("OK", "crisis:safe"),)))
    sent = world.fake.sent_messages(dm)
    assert len(sent) == 2 and all(len(m["content"]) <= 2000 for m in sent)
    assert " ".join(m["content"] for m in sent) == text
    assert [bool(m["components"]) for m in sent] == [False, True]


async def test_rate_limited_send_is_retried_after_retry_after(world: World, tmp_path: Path) -> None:
    fake, dm = world.fake, world.dm(world.alice)
    fake.fail_next("POST", MESSAGES, 429, retry_after=0.05)
    async with running(world, tmp_path) as bot:
        await bot.adapter.deliver(ConversationRef("discord", str(dm), ConversationKind.DIRECT), Reply("hi there"))
    attempts = [c for c in fake.calls if c.method == "POST" and c.path == f"/channels/{dm}/messages"]
    assert [c.status for c in attempts] == [429, 200]


async def test_delivery_errors_say_whether_retrying_helps(world: World, tmp_path: Path) -> None:
    fake = world.fake
    fake.dms_closed.add(int(world.alice["id"]))
    fake.forbidden_channels.add(world.channel("general"))
    async with running(world, tmp_path) as bot:
        with pytest.raises(DeliveryError) as closed:
            await bot.adapter.deliver(ConversationRef("discord", str(world.dm(world.alice))), Reply("hi"))
        assert closed.value.reason == "dms_closed" and not closed.value.retryable
        general = ConversationRef("discord", str(world.channel("general")), ConversationKind.GROUP)
        for _ in range(2):
            with pytest.raises(DeliveryError) as forbidden:
                await bot.adapter.deliver(general, Reply("hi"))
            assert forbidden.value.reason == "missing_permission" and not forbidden.value.retryable
    notices = fake.sent_messages(world.channel("mods"))
    assert len(notices) == 1 and "missing a permission" in notices[0]["content"]


async def test_a_monitored_members_address_is_private_and_the_channel_is_never_posted_to(world: World,
                                                                                          tmp_path: Path) -> None:
    fake, support = world.fake, world.channel("support")
    async with running(world, tmp_path) as bot:
        member = member_side(support, int(world.alice["id"]))
        await bot.adapter.deliver(member, Reply("A person from the support team will write to you soon."))
        with pytest.raises(DeliveryError) as refused:
            await bot.adapter.deliver(ConversationRef("discord", str(support), ConversationKind.GROUP), Reply("x"))
    assert not refused.value.retryable
    assert "support team" in fake.sent_messages(world.dm(world.alice))[0]["content"]
    assert fake.sent_messages(support) == []


async def test_a_malformed_gateway_event_is_dropped_and_the_bot_keeps_serving(world: World, tmp_path: Path) -> None:
    fake, dm = world.fake, world.dm(world.alice)
    async with running(world, tmp_path) as bot:
        await fake.dispatch("MESSAGE_CREATE", {"id": "1", "channel_id": str(dm), "content": "no author"})
        await fake.push_dm(world.alice, "hello")
        await fake.wait_for("POST", MESSAGES, count=1)
        assert bot.adapter._task is not None and not bot.adapter._task.done()


# --- monitored channels ----------------------------------------------------------------------------------------

async def test_crisis_in_a_monitored_channel_is_answered_privately_by_dm(world: World, tmp_path: Path) -> None:
    fake, support, dm = world.fake, world.channel("support"), world.dm(world.alice)
    async with running(world, tmp_path) as bot:
        await fake.push_guild_message(world.guild, support, world.alice, CRISIS)
        await fake.wait_for("POST", MESSAGES, lambda c: "Are you safe right now?" in (c.json or {}).get("content", ""))
        await fake.push_guild_message(world.guild, support, world.bob, "hello everyone")
        await bot.spy.wait(2)
        event = bot.spy.events[0][0]
        assert isinstance(event, IncomingMessage) and not event.addressed_to_bot
        assert event.conversation.kind is ConversationKind.GROUP
    private = fake.sent_messages(dm)
    assert "Are you safe right now?" in private[0]["content"]                # the crisis reply comes first
    assert "116 123" in private[0]["content"]                                # the guild's country (GB)
    assert all(i.startswith("hv:crisis:") for i in custom_ids(private[0]))
    assert fake.sent_messages(support) == []                                 # never public
    assert not fake.find("POST", rf"^/channels/{support}/typing$")
    assert fake.sent_messages(world.dm(world.bob)) == []                     # bystanders get nothing


async def test_ordinary_and_unmonitored_messages_get_no_reply_at_all(world: World, tmp_path: Path) -> None:
    fake = world.fake
    async with running(world, tmp_path) as bot:
        await fake.push_guild_message(world.guild, world.channel("general"), world.alice, CRISIS)
        await fake.push_guild_message(world.guild, world.channel("support"), world.bob, "anyone up for a game?")
        await bot.spy.wait(1)
    assert len(bot.spy.events) == 1                                          # general never reached the core
    bot_posts = [c for c in fake.calls if c.method == "POST" and "/messages" in c.path]
    assert bot_posts == []


async def test_dms_closed_without_help_threads_tells_moderators_and_posts_nothing_public(world: World,
                                                                                       tmp_path: Path) -> None:
    fake, support, mods = world.fake, world.channel("support"), world.channel("mods")
    fake.dms_closed.add(int(world.alice["id"]))
    async with running(world, tmp_path):
        message = await fake.push_guild_message(world.guild, support, world.alice, CRISIS)
        note = await fake.wait_for("POST", rf"^/channels/{mods}/messages$",
                                   lambda c: "could not reach them privately" in c.json["content"])
    content = note[0].json["content"]
    assert f"<@&{world.role('Moderators')}>" in content
    assert f"/channels/{world.guild['id']}/{support}/{message['id']}" in content      # jump link
    assert note[0].json["allowed_mentions"]["roles"] == [world.role("Moderators")]
    assert fake.sent_messages(support) == []


async def test_dms_closed_with_help_threads_opens_a_private_thread(world: World, tmp_path: Path) -> None:
    fake, support = world.fake, world.channel("support")
    fake.dms_closed.add(int(world.alice["id"]))
    async with running(world, tmp_path, help_threads=True) as bot:
        await fake.push_guild_message(world.guild, support, world.alice, CRISIS)
        created = await fake.wait_for("POST", rf"^/channels/{support}/threads$")
        assert created[0].json["type"] == 12 and created[0].json["invitable"] is False
        thread = max(fake.thread_members)
        await fake.wait_for("POST", rf"^/channels/{thread}/messages$", count=2)
        # Later messages for her (a staff reply, "someone will write to you") reach her in the thread too.
        await bot.adapter.deliver(member_side(support, int(world.alice["id"])), Reply("A helper is on the way."))
    assert int(world.alice["id"]) in fake.thread_members[thread]
    assert "A helper is on the way." in [m["content"] for m in fake.sent_messages(thread)]
    intro, crisis = fake.sent_messages(thread)[:2]
    assert f"<@&{world.role('Helpers')}>" in intro["content"] and "private" in intro["content"]
    assert "Are you safe right now?" in crisis["content"]
    assert fake.sent_messages(support) == []
    assert not [m for m in fake.sent_messages(world.channel("mods")) if "could not reach" in m["content"]]


async def test_members_can_opt_out_of_monitoring(world: World, tmp_path: Path) -> None:
    fake = world.fake
    async with running(world, tmp_path) as bot:
        pending = await fake.push_slash("optout", world.alice, guild=world.guild, channel_id=world.channel("general"))
        done = await fake.wait_for("POST", rf"^/webhooks/{fake.app_id}/{pending.token}$")
        assert done[0].json["flags"] == 64 and "won't look at your messages" in done[0].json["content"]
        await fake.push_guild_message(world.guild, world.channel("support"), world.alice, CRISIS)
        await fake.push_dm(world.bob, "hi")
        await bot.spy.wait(1)
    assert [e.sender.user_id for e, _ in bot.spy.events] == [world.bob["id"]]
    assert fake.sent_messages(world.dm(world.alice)) == []


# --- moderators and escalation ---------------------------------------------------------------------------------

async def test_staff_notice_renders_with_role_mention_and_claim_buttons(world: World, tmp_path: Path) -> None:
    """The adapter half of escalation: the Outbox hands a Notify, moderators press Claim, the core is asked."""
    fake, mods = world.fake, world.channel("mods")
    async with running(world, tmp_path) as bot:
        notice = Notify(ConversationRef("discord", str(mods), ConversationKind.GROUP), "Case HC-1234: high risk",
                        buttons=(Button("Claim", "case:claim", "HC-1234"),
                                 Button("Resolve", "case:resolve", "HC-1234")))
        await bot.app.outbox.deliver(notice.target, notice)
        posted = fake.sent_messages(mods)[0]
        assert posted["content"].startswith(f"<@&{world.role('Moderators')}>")
        assert custom_ids(posted) == ["hv:case:claim|HC-1234", "hv:case:resolve|HC-1234"]
        await fake.press(posted, "Claim", world.carol, guild=world.guild)
        await bot.spy.wait(1)
    event = bot.spy.events[0][0]
    assert isinstance(event, ButtonPressed) and (event.action_id, event.value) == ("case:claim", "HC-1234")
    assert event.conversation == ConversationRef("discord", str(mods), ConversationKind.GROUP)
    assert event.sender.user_id == world.carol["id"]


async def test_crisis_in_monitored_channel_notifies_moderators(world: World, tmp_path: Path) -> None:
    fake, mods = world.fake, world.channel("mods")
    async with running(world, tmp_path):
        await fake.push_guild_message(world.guild, world.channel("support"), world.alice, CRISIS)
        notice = await fake.wait_for("POST", rf"^/channels/{mods}/messages$", timeout=2)
    message = fake.sent_messages(mods)[0]
    assert f"<@&{world.role('Moderators')}>" in notice[0].json["content"]
    assert [i.split("|")[0] for i in custom_ids(message)] == ["hv:case:claim", "hv:case:resolve"]


async def test_moderator_claims_a_case(world: World, tmp_path: Path) -> None:
    fake, mods = world.fake, world.channel("mods")
    async with running(world, tmp_path):
        await fake.push_guild_message(world.guild, world.channel("support"), world.alice, CRISIS)
        await fake.wait_for("POST", rf"^/channels/{mods}/messages$", timeout=2)
        pressed = await fake.press(fake.sent_messages(mods)[0], "Claim", world.carol, guild=world.guild)
        answer = await fake.wait_for("POST", rf"^/webhooks/{fake.app_id}/{pressed.token}$", timeout=2)
    assert "claim" in answer[0].json["content"].lower()


# --- slash commands --------------------------------------------------------------------------------------------

async def test_resources_command_defers_then_answers_privately(world: World, tmp_path: Path) -> None:
    fake = world.fake
    options = [{"name": "topic", "type": 3, "value": "crisis"}]
    async with running(world, tmp_path) as bot:
        pending = await fake.push_slash("resources", world.alice, guild=world.guild,
                                        channel_id=world.channel("general"), options=options)
        answer = await fake.wait_for("POST", rf"^/webhooks/{fake.app_id}/{pending.token}$",
                                     lambda c: "Samaritans" in c.json["content"])
    callback = fake.find("POST", rf"^/interactions/{pending.id}/")[0]
    assert callback.json == {"type": 5, "data": {"flags": 64}} and callback.query["with_response"] == "1"
    assert fake.calls.index(callback) < fake.calls.index(answer[0])
    assert answer[0].json["flags"] == 64
    event = next(e for e, _ in bot.spy.events if isinstance(e, IncomingMessage) and e.text.startswith("/resources"))
    assert event.text == "/resources crisis" and event.conversation.kind is ConversationKind.DIRECT
    public = [c for c in fake.calls if c.path == f"/channels/{world.channel('general')}/messages"]
    assert public == []


async def test_checkon_sends_one_anonymous_note_per_day(world: World, tmp_path: Path) -> None:
    fake, general, bob_dm = world.fake, world.channel("general"), world.dm(world.bob)
    options, resolved = fake.member_option(world.guild, "member", world.bob)
    async with running(world, tmp_path):
        first = await fake.push_slash("checkon", world.alice, guild=world.guild, channel_id=general,
                                      options=options, resolved=resolved)
        sent = await fake.wait_for("POST", rf"^/webhooks/{fake.app_id}/{first.token}$")
        assert "sent them" in sent[0].json["content"] and sent[0].json["flags"] == 64
        second = await fake.push_slash("checkon", world.carol, guild=world.guild, channel_id=general,
                                       options=options, resolved=resolved)
        refused = await fake.wait_for("POST", rf"^/webhooks/{fake.app_id}/{second.token}$")
        assert "can't send them a note" in refused[0].json["content"]
        notes = fake.sent_messages(bob_dm)
        assert len(notes) == 1
        assert "Someone in Calm Corner cares about you" in notes[0]["content"] and "116 123" in notes[0]["content"]
        assert "alice" not in notes[0]["content"].lower()
        # Bob opts out with the note's button; the limit also holds the next day for him.
        pressed = await fake.press(notes[0], "Don't send me these notes", world.bob)
        done = await fake.wait_for("POST", rf"^/webhooks/{fake.app_id}/{pressed.token}$")
        assert "won't receive check-in notes" in done[0].json["content"]
    assert checkon_optouts(tmp_path) == 1


def checkon_optouts(data_dir: Path) -> int:
    with contextlib.closing(sqlite3.connect(data_dir / "discord.sqlite3")) as db:
        return int(db.execute("SELECT COUNT(*) FROM optouts WHERE kind='checkon'").fetchone()[0])
