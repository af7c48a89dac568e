"""SQLite-only details of the store. The backend-neutral contract lives in tests/store (run on SQLite and
PostgreSQL alike); what stays here is about SQLite itself: pragmas and the aiosqlite thread hook."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.store.sqlite import SqliteStore


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


async def test_db_thread_hook_exists(store: SqliteStore) -> None:
    """complete_turn relies on aiosqlite's internal one-trip hook; an upgrade that removes it must fail here."""
    assert await store._in_db_thread(lambda connection: connection.execute("SELECT 41 + 1").fetchone()[0]) == 42


async def test_conversation_lock_is_a_no_op_on_one_file(store: SqliteStore) -> None:
    """One process owns a SQLite file and the core orders each conversation itself: nesting never blocks."""
    async def nested() -> None:
        async with store.conversation_lock("c1"), store.conversation_lock("c1"):
            await store.ping()

    await asyncio.wait_for(nested(), timeout=5)
