"""/settings: preferences with buttons, stored in the (encrypted) profile and used by the rest of the bot."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from adapters.memory import MemoryAdapter, buttons, texts
from bot.config import Settings
from bot.events import ConversationKind, IncomingMessage
from bot.flows.schedule import CHECKIN_JOB
from bot.privacy import FieldCipher, generate_key
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from tests.conftest import make_core
from tests.core.test_crisis_response import consented, wired

USER = "user-1"


async def profile(adapter: MemoryAdapter, user: str = USER) -> dict[str, object]:
    record = await adapter.core.store.get_user(adapter.core.ids.user_key("memory", user))
    assert record is not None
    return record.profile


async def test_menu_lists_every_preference_as_buttons(memory: MemoryAdapter) -> None:
    await consented(memory)
    out = await memory.send("/settings")
    assert [b.action_id for b in buttons(out)] == ["set:name", "set:country", "set:lang", "set:tz", "set:topic",
                                                   "set:style", "set:checkin", "set:fu"]
    assert "Name: not set" in texts(out) and "Check-ins: off" in texts(out)


async def test_name_pronouns_topics_styles_and_followups(memory: MemoryAdapter) -> None:
    await consented(memory)
    await memory.press("set:name")
    out = await memory.send("Sam")
    assert "pronouns" in texts(out).lower()
    out = await memory.press("set:pron", value="they/them")
    assert "Name: Sam" in texts(out) and "Pronouns: they/them" in texts(out)
    await memory.press("set:topic", value="sleep")
    out = await memory.press("set:topic", value="anxiety")
    assert "✓ Sleep" in [b.label for b in buttons(out)]
    await memory.press("set:topic", value="sleep")   # a second tap unchooses
    await memory.press("set:style", value="breathing")
    await memory.press("set:fu", value="no")
    stored = await profile(memory)
    assert stored["preferred_name"] == "Sam" and stored["pronouns"] == "they/them"
    assert stored["topics"] == ["anxiety"] and stored["coping_styles"] == ["breathing"]
    assert stored["followups"] is False


async def test_country_changes_resources_and_language_changes_replies(memory: MemoryAdapter) -> None:
    await consented(memory)
    assert "services in US" in texts(await memory.send("/resources"))
    await memory.press("set:country")
    out = await memory.send("Germany")
    assert "Saved: Germany" in texts(out) and "Europe/Berlin" in texts(out)   # one zone: chosen for them
    await memory.send("Bavaria")
    stored = await profile(memory)
    assert stored["country"] == "DE" and stored["region"] == "Bavaria" and stored["timezone"] == "Europe/Berlin"
    resources = texts(await memory.send("/resources"))
    assert "services in DE" in resources and "0800 111 0 111" in resources
    out = await memory.press("set:lang", value="es")
    assert (await profile(memory))["language"] == "es"
    assert "Esto es lo que puedo hacer" in texts(await memory.send("/help"))
    assert "Estos son algunos servicios en DE" in texts(await memory.send("/resources"))
    crisis = texts(await memory.send("quiero morir"))
    assert "0800 111 0 111" in crisis


async def test_time_zone_free_text_is_validated(memory: MemoryAdapter) -> None:
    await consented(memory)
    out = await memory.press("set:tz")
    assert "set:tz" in [b.action_id for b in buttons(out)]   # common zones for the country (US) offered
    out = await memory.send("Mars/Olympus")
    assert "isn't a time zone I know" in texts(out)
    out = await memory.send("america/new_york")
    assert "Time zone saved: America/New_York" in texts(out)
    assert (await profile(memory))["timezone"] == "America/New_York"


async def test_a_long_message_is_not_taken_as_a_name(memory: MemoryAdapter) -> None:
    await consented(memory)
    await memory.press("set:name")
    out = await memory.send("honestly I just had a really bad day at work")
    assert "preferred_name" not in await profile(memory)
    assert texts(out).endswith("?")   # the responder answered it as a message
    await memory.send("Sam")
    assert "preferred_name" not in await profile(memory)


async def test_check_in_schedule_is_saved_and_queued_in_local_time(settings: Settings, store: SqliteStore,
                                                                   directory: ResourceDirectory) -> None:
    adapter, runner, clock = wired(settings, store, directory)
    clock.now = datetime(2026, 3, 27, 12, 0, tzinfo=timezone.utc)
    await consented(adapter)
    await adapter.press("set:tz", value="Europe/London")
    await adapter.press("set:checkin")
    out = await adapter.press("set:days", value="weekdays")
    assert "08:00" in [b.label for b in buttons(out)]
    out = await adapter.press("set:time", value="21:30")
    assert "Check-ins are on" in texts(out) and "2026-03-27 21:30" in texts(out)
    [job] = await store.pending_jobs(CHECKIN_JOB)
    assert job.run_at == datetime(2026, 3, 27, 21, 30, tzinfo=timezone.utc)
    # A time inside quiet hours is refused; changing the time moves the pending job instead of adding one.
    await adapter.press("set:time")
    out = await adapter.send("23:15")
    assert "quiet hours" in texts(out)
    await adapter.press("set:time", value="09:00")
    [job] = await store.pending_jobs(CHECKIN_JOB)
    assert job.run_at == datetime(2026, 3, 30, 8, 0, tzinfo=timezone.utc)   # Monday, after the clocks changed
    out = await adapter.press("set:checkin", value="off")
    assert await store.pending_jobs(CHECKIN_JOB) == []
    assert "Check-ins: off" in texts(out)


async def test_settings_are_personal_so_groups_get_a_nudge(memory: MemoryAdapter) -> None:
    event = IncomingMessage(memory.conversation("team", ConversationKind.GROUP), memory.user(), "/settings", "g1")
    out = await memory.core.handle(event)
    assert "direct message" in texts(out) and not buttons(out)


async def test_profile_is_encrypted_at_rest(tmp_path: Path, settings: Settings, directory: ResourceDirectory) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3", FieldCipher(generate_key()))
    await store.open()
    adapter = MemoryAdapter(make_core(settings, store, directory))
    await consented(adapter)
    await adapter.press("set:name")
    await adapter.send("Priyanka")
    await store.close()
    raw = sqlite3.connect(tmp_path / "s.sqlite3").execute("SELECT profile FROM users").fetchone()[0]
    assert "Priyanka" not in raw and raw.startswith("enc1:")
