"""Mood check-ins: /mood with its chart, the crisis-safe note, and scheduled check-ins as durable jobs."""

from __future__ import annotations

import sqlite3
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.memory import MemoryAdapter, buttons, texts
from bot.config import Settings
from bot.events import Attachment, Reply
from bot.flows import mood_chart
from bot.flows.schedule import CHECKIN_JOB
from bot.jobs import JobRunner
from bot.privacy import FieldCipher, generate_key
from bot.resources import ResourceDirectory
from bot.store.base import MoodEntry
from bot.store.sqlite import SqliteStore
from tests.conftest import make_core
from tests.core.test_crisis_response import consented, wired

UTC = timezone.utc


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def user_key(adapter: MemoryAdapter, user: str = "user-1") -> str:
    return adapter.core.ids.user_key("memory", user)


async def test_mood_records_score_emotions_note_and_shows_a_png_chart(memory: MemoryAdapter,
                                                                      store: SqliteStore) -> None:
    await consented(memory)
    out = await memory.send("/mood")
    assert [b.value for b in buttons(out)] == ["1", "2", "3", "4", "5"]
    out = await memory.press("mood:score", value="4")
    assert "4 out of 5" in texts(out) and "happy" in [b.value for b in buttons(out)]
    await memory.press("mood:emo", value="happy")
    await memory.press("mood:emo", value="calm")
    out = await memory.press("mood:emodone")
    assert "own words" in texts(out)
    out = await memory.send("good walk with my sister")
    [chart] = [item for item in out if isinstance(item, Attachment)]
    assert chart.mime_type == "image/png" and chart.filename.endswith(".png")
    assert png_size(chart.content) == (mood_chart.WIDTH_PX, mood_chart.HEIGHT_PX)
    assert "last 30 days" in texts(out)
    [entry] = await store.moods(user_key(memory))
    assert (entry.score, entry.emotions, entry.note) == (4, ("happy", "calm"), "good walk with my sister")


async def test_trend_in_words() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    zone = ZoneInfo("Europe/London")

    def entries(scores: list[int]) -> list[MoodEntry]:
        return [MoodEntry(i, now - timedelta(days=len(scores) - 1 - i), s) for i, s in enumerate(scores)]

    assert mood_chart.trend(entries([3]), now, zone) == "none"
    assert mood_chart.trend(entries([2] * 10 + [4] * 7), now, zone) == "up"
    assert mood_chart.trend(entries([4] * 10 + [2] * 7), now, zone) == "down"
    assert mood_chart.trend(entries([3, 4] * 8), now, zone) == "steady"
    png = mood_chart.render(entries([1, 2, 3, 4, 5] * 6), now, zone, title="t", labels=list("abcde"))
    assert png_size(png) == (800, 400)


async def test_low_mood_leads_gently_to_support(memory: MemoryAdapter) -> None:
    await consented(memory)
    await memory.send("/mood 2")
    await memory.press("mood:emodone")
    out = await memory.press("mood:nonote")
    assert "sorry today feels hard" in texts(out)
    actions = [b.action_id for b in buttons(out)]
    assert "res:topic" in actions and "mood:talk" in actions
    assert any(a.startswith("skill:offer:") for a in actions)   # the skills library's own buttons


async def test_a_crisis_note_gets_the_crisis_reply_and_is_not_taken_as_a_note(memory: MemoryAdapter,
                                                                              store: SqliteStore) -> None:
    await consented(memory)
    await memory.send("/mood")
    await memory.press("mood:score", value="1")
    await memory.press("mood:emodone")
    out = await memory.send("I want to kill myself tonight")
    assert "Are you safe right now?" in texts(out) and "Thank you, that's saved" not in texts(out)
    after = await memory.send("I'm fine")
    assert "check once more" in texts(after)   # the crisis flow answers, not the mood flow
    [entry] = await store.moods(user_key(memory))
    assert entry.score == 1 and entry.note == ""


async def test_scheduled_check_in_survives_a_restart_between_claim_and_delivery(
        settings: Settings, store: SqliteStore, directory: ResourceDirectory) -> None:
    adapter, _, clock = wired(settings, store, directory)
    clock.now = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)   # Saturday; British Summer Time ends tomorrow
    await consented(adapter)
    await adapter.press("set:tz", value="Europe/London")
    await adapter.press("set:days", value="daily")
    await adapter.press("set:time", value="20:00")
    clock.now = datetime(2026, 10, 24, 19, 0, 30, tzinfo=UTC)   # 20:00:30 BST
    # A worker claims the job and dies before delivering it.
    [claimed] = await store.claim_jobs(clock(), lease_s=60, kinds=(CHECKIN_JOB,))
    assert claimed.payload["date"] == "2026-10-24"
    restarted = JobRunner(store, clock=clock, lease_s=60)
    adapter.core.attach_jobs(restarted)
    assert await restarted.run_until_idle() == 0   # still leased to the dead worker
    clock.advance(minutes=2)
    await restarted.run_until_idle()
    await restarted.run_until_idle()
    checkins = [item for _, item in adapter.delivered if isinstance(item, Reply) and "check-in" in item.text]
    assert len(checkins) == 1
    assert [b.action_id for b in checkins[0].buttons][:5] == ["mood:score"] * 5
    # The next one is queued for the next local date, at 20:00 GMT after the clocks went back.
    [following] = await store.pending_jobs(CHECKIN_JOB)
    assert following.payload["date"] == "2026-10-25"
    assert following.run_at == datetime(2026, 10, 25, 20, 0, tzinfo=UTC)
    # Pressing a score in the delivered check-in records the mood.
    out = await adapter.press("mood:score", value="3")
    assert "3 out of 5" in texts(out)


async def test_a_stale_or_quiet_hours_check_in_is_skipped_but_the_next_is_queued(
        settings: Settings, store: SqliteStore, directory: ResourceDirectory) -> None:
    adapter, runner, clock = wired(settings, store, directory)
    clock.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    await consented(adapter)
    await adapter.press("set:days", value="daily")
    await adapter.press("set:time", value="21:00")
    clock.now = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)   # the process was down until quiet hours began
    await runner.run_until_idle()
    assert adapter.delivered == []
    [following] = await store.pending_jobs(CHECKIN_JOB)
    assert following.run_at == datetime(2026, 11, 26, 21, 0, tzinfo=UTC)


async def test_moods_are_encrypted_exported_and_erased(tmp_path: Path, settings: Settings,
                                                       directory: ResourceDirectory) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3", FieldCipher(generate_key()))
    await store.open()
    adapter = MemoryAdapter(make_core(settings, store, directory))
    await consented(adapter)
    await adapter.send("/mood 3")
    await adapter.press("mood:emo", value="bored")
    await adapter.press("mood:emodone")
    await adapter.send("slept badly again")
    raw = sqlite3.connect(tmp_path / "s.sqlite3").execute("SELECT emotions, note FROM mood_entries").fetchone()
    assert all(value.startswith("enc1:") for value in raw) and "slept" not in raw[1]
    exported = await store.export_user(user_key(adapter))
    assert exported["moods"][0]["note"] == "slept badly again" and exported["moods"][0]["emotions"] == ["bored"]
    await store.erase_user(user_key(adapter))
    assert await store.moods(user_key(adapter)) == []
    await store.close()


async def test_a_mood_recorded_during_a_crisis_conversation_keeps_its_note(memory: MemoryAdapter,
                                                                          store: SqliteStore) -> None:
    await consented(memory)
    await memory.send("I want to kill myself")
    await memory.press("crisis:safe")
    await memory.send("/mood 2")
    await memory.press("mood:emodone")
    out = await memory.send("talked to my sister, it helped a bit")
    assert "sorry today feels hard" in texts(out)
    [entry] = await store.moods(user_key(memory))
    assert entry.note == "talked to my sister, it helped a bit"


async def test_key_rotation_covers_mood_and_screening_fields(tmp_path: Path, settings: Settings,
                                                             directory: ResourceDirectory) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3", FieldCipher(None))
    await store.open()
    adapter = MemoryAdapter(make_core(settings, store, directory))
    await consented(adapter)
    await adapter.send("/mood 3")
    await adapter.press("mood:emodone")
    await adapter.send("plain before the key")
    await store.rotate_key(FieldCipher(generate_key()))
    raw = sqlite3.connect(tmp_path / "s.sqlite3").execute("SELECT note FROM mood_entries").fetchone()[0]
    assert raw.startswith("enc1:")
    [entry] = await store.moods(user_key(adapter))
    assert entry.note == "plain before the key"
    await store.close()


async def test_tapping_a_score_twice_records_one_entry(memory: MemoryAdapter, store: SqliteStore) -> None:
    await consented(memory)
    await memory.send("/mood")
    await memory.press("mood:score", value="2")
    out = await memory.press("mood:score", value="2")
    assert "sad" in [b.value for b in buttons(out)]
    assert len(await store.moods(user_key(memory))) == 1
