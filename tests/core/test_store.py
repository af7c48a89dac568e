"""The SQLite store, for real, in a temporary file."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot.privacy import FieldCipher, generate_key
from bot.store.base import EventClaim
from bot.store.sqlite import SqliteStore

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


async def test_migrations_apply_once_and_pragmas_hold(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    first = SqliteStore(path)
    await first.open()
    version = await first.schema_version()
    await first.close()
    again = SqliteStore(path)
    await again.open()
    assert await again.schema_version() == version >= 1
    async with again.db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone())[0] == "wal"
    async with again.db.execute("PRAGMA foreign_keys") as cursor:
        assert (await cursor.fetchone())[0] == 1
    async with again.db.execute("PRAGMA secure_delete") as cursor:
        assert (await cursor.fetchone())[0] == 1
    await again.close()


async def test_event_claim_is_once_and_recovers_after_a_crash(store: SqliteStore) -> None:
    assert await store.claim_event("telegram", "1", NOW) is EventClaim.NEW
    assert await store.claim_event("telegram", "1", NOW) is EventClaim.DUPLICATE
    # Not finished, and old: the process that took it died. It is handed out again exactly once.
    later = NOW + timedelta(minutes=5)
    assert await store.claim_event("telegram", "1", later) is EventClaim.RECOVER
    assert await store.claim_event("telegram", "1", later) is EventClaim.DUPLICATE
    await store.finish_event("telegram", "1", later)
    assert await store.claim_event("telegram", "1", later + timedelta(hours=1)) is EventClaim.DUPLICATE
    assert await store.claim_event("slack", "1", NOW) is EventClaim.NEW


async def test_jobs_claim_lease_retry_complete(store: SqliteStore) -> None:
    job_id = await store.enqueue_job("escalation", {"case": "A"}, NOW, dedupe_key="esc:A")
    assert job_id is not None
    assert await store.enqueue_job("escalation", {"case": "A"}, NOW, dedupe_key="esc:A") is None
    assert await store.claim_jobs(NOW - timedelta(seconds=1)) == []
    [job] = await store.claim_jobs(NOW, lease_s=30)
    assert job.payload == {"case": "A"} and job.attempts == 1
    assert await store.claim_jobs(NOW + timedelta(seconds=10)) == []          # leased
    [again] = await store.claim_jobs(NOW + timedelta(seconds=31))            # lease expired: worker died
    assert again.id == job.id and again.attempts == 2
    await store.retry_job(job.id, "platform 502", NOW + timedelta(minutes=1))
    assert await store.claim_jobs(NOW + timedelta(seconds=59)) == []
    [third] = await store.claim_jobs(NOW + timedelta(minutes=1))
    await store.complete_job(third.id, NOW)
    assert await store.pending_jobs() == []
    assert await store.job_status(third.id) == "done"


async def test_job_fails_after_max_attempts(store: SqliteStore) -> None:
    job_id = await store.enqueue_job("x", {}, NOW, max_attempts=1)
    [job] = await store.claim_jobs(NOW)
    await store.retry_job(job.id, "boom", NOW)
    assert await store.job_status(job_id) == "failed"


async def test_jobs_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    first = SqliteStore(path)
    await first.open()
    await first.enqueue_job("followup", {"user_key": "u1"}, NOW, dedupe_key="f:u1")
    await first.close()
    second = SqliteStore(path)
    await second.open()
    [job] = await second.claim_jobs(NOW)
    assert job.kind == "followup"
    await second.close()


async def test_message_text_is_encrypted_at_rest(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path, FieldCipher(generate_key()))
    await store.open()
    await store.get_or_create_user("u1", "memory", NOW)
    await store.add_message("c1", "u1", "in", "a very private sentence", NOW)
    assert [m.text for m in await store.recent_messages("c1", 5)] == ["a very private sentence"]
    await store.close()
    raw = sqlite3.connect(path).execute("SELECT text FROM messages").fetchone()[0]
    assert "private" not in raw and raw.startswith("enc1:")


async def test_erase_removes_every_row_about_the_person(store: SqliteStore) -> None:
    await store.get_or_create_user("u1", "memory", NOW)
    await store.get_or_create_user("u2", "memory", NOW)
    await store.save_conversation("c1", "u1", {"flow": {}}, NOW)
    await store.add_message("c1", "u1", "in", "hello", NOW)
    await store.add_message("c2", "u2", "in", "other person", NOW)
    await store.enqueue_job("followup", {"user_key": "u1"}, NOW)
    await store.audit("consent_given", NOW, "u1")
    await store.bump_counter("crisis_referral", "2026-11", "level=high")
    await store.erase_user("u1")
    assert await store.export_user("u1") == {}
    for table in ("users", "conversations", "messages", "jobs", "audit_log"):
        async with store.db.execute(f"SELECT COUNT(*) FROM {table} WHERE user_key='u1'") as cursor:
            assert (await cursor.fetchone())[0] == 0, table
    assert (await store.export_user("u2"))["messages"][0]["text"] == "other person"
    assert await store.counters("crisis_referral") == [("crisis_referral", "2026-11", "level=high", 1)]


async def test_db_thread_hook_exists(store: SqliteStore) -> None:
    """complete_turn relies on aiosqlite's internal one-trip hook; an upgrade that removes it must fail here."""
    assert await store._in_db_thread(lambda connection: connection.execute("SELECT 41 + 1").fetchone()[0]) == 42


async def test_complete_turn_is_atomic(store: SqliteStore) -> None:
    await store.get_or_create_user("u1", "memory", NOW)
    await store.claim_event("memory", "e1", NOW)
    await store.complete_turn(conv_key="c1", user_key="u1", state={"x": 1}, messages=[("in", "hi"), ("out", "hey")],
                              event=("memory", "e1"), now=NOW)
    assert [m.text for m in await store.recent_messages("c1", 10)] == ["hi", "hey"]
    assert (await store.load_conversation("c1", "u1")).state == {"x": 1}
    assert await store.claim_event("memory", "e1", NOW + timedelta(hours=1)) is EventClaim.DUPLICATE
