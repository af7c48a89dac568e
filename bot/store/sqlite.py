"""SQLite store on aiosqlite: one file, nothing to install, good for one process.

One connection, so one writer path: aiosqlite runs every statement on the connection's own thread in order, and
an asyncio lock keeps multi-statement transactions whole. WAL mode lets readers continue while a write commits;
`secure_delete` overwrites erased rows instead of leaving them in free pages.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite3
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import aiosqlite

from bot.privacy import FieldCipher
from bot.store.base import (CASE_LEVELS, ENCRYPTED_COLUMNS, Case, ConversationRecord, EventClaim, Job, MoodEntry,
                             ScreeningRecord, StoredMessage, UserRecord, user_field_values)
from bot.store.migrations import SQLITE_MIGRATIONS

_IN_TRANSACTION: contextvars.ContextVar[bool] = contextvars.ContextVar("haven_sqlite_tx", default=False)
_INSERT_MESSAGE = "INSERT INTO messages (conv_key, user_key, direction, text, created_at) VALUES (?, ?, ?, ?, ?)"
_UPSERT_CONVERSATION = ("INSERT INTO conversations (conv_key, user_key, state, updated_at) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (conv_key) DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at")
_SELECT_USER = ("SELECT user_key, platform, created_at, profile, consent_version, consent_at, disclosed_at,"
                " last_seen_at FROM users WHERE user_key=?")
_CASE_COLUMNS = ("case_id, user_key, address, platform, level, signals, status, destination_index,"
                 " destination_notices, notices_sent, claimed_by, created_at, updated_at")
_LEVELS = CASE_LEVELS
T = TypeVar("T")


class Written(NamedTuple):
    """What a write reports back: rows changed and, for an INSERT, the new row id."""

    rowcount: int
    lastrowid: int | None


def _run_batch(connection: sqlite3.Connection, pieces: list[Callable[[sqlite3.Connection], Any]]
               ) -> list[tuple[bool, Any]]:
    """Runs on the database thread: one transaction, one savepoint per piece."""
    outcomes: list[tuple[bool, Any]] = []
    connection.execute("BEGIN IMMEDIATE")
    try:
        for piece in pieces:
            connection.execute("SAVEPOINT piece")
            try:
                outcomes.append((True, piece(connection)))
            except Exception as exc:
                connection.execute("ROLLBACK TO piece")
                outcomes.append((False, exc))
            connection.execute("RELEASE piece")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return outcomes


def _claim(connection: sqlite3.Connection, platform: str, event_id: str, now: datetime,
           stale_after_s: float) -> EventClaim:
    """Runs on the database thread. New events are taken; finished or in-flight ones are duplicates; an event
    that was taken long ago and never finished belonged to a process that died, and is taken over once."""
    inserted = connection.execute(
        "INSERT INTO processed_events (platform, event_id, status, received_at) VALUES (?, ?, 'received', ?)"
        " ON CONFLICT DO NOTHING", (platform, event_id, _ts(now))).rowcount
    if inserted == 1:
        return EventClaim.NEW
    row = connection.execute("SELECT status, received_at, reply IS NOT NULL FROM processed_events"
                             " WHERE platform=? AND event_id=?", (platform, event_id)).fetchone()
    if row is None or row[0] == "done":
        return EventClaim.REPLAY if row is not None and row[2] else EventClaim.DUPLICATE
    received = _dt(row[1])
    if received is not None and now - received < timedelta(seconds=stale_after_s):
        return EventClaim.DUPLICATE
    taken = connection.execute(
        "UPDATE processed_events SET received_at=? WHERE platform=? AND event_id=? AND received_at=?",
        (_ts(now), platform, event_id, row[1])).rowcount
    return EventClaim.RECOVER if taken == 1 else EventClaim.DUPLICATE


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SqliteStore:
    def __init__(self, path: Path | str, cipher: FieldCipher | None = None) -> None:
        self._path = str(path)
        self._cipher = cipher or FieldCipher(None)
        self._db: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flushing = False
        self._flusher: asyncio.Task[None] | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    @property
    def cipher(self) -> FieldCipher:
        """The current field cipher (read at call time: `rotate_key` replaces it)."""
        return self._cipher

    async def ping(self) -> None:
        """A cheap round trip for readiness checks; raises when the store is not open or the file is unusable."""
        async with self.db.execute("SELECT 1") as cursor:
            await cursor.fetchone()

    @asynccontextmanager
    async def conversation_lock(self, conv_key: str) -> AsyncIterator[None]:
        """A no-op: one process owns a SQLite file, and the core already orders each conversation in-process."""
        yield

    async def open(self) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self._path, isolation_level=None)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.execute("PRAGMA secure_delete=ON")
        await self._db.execute("PRAGMA busy_timeout=5000")
        await self._migrate()

    async def _write(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> Written:
        """Every write goes through here, so no statement lands inside another task's open transaction.

        Outside an explicit transaction a write joins the group commit (`_batched`): under load many small
        writes (a disclosure stamp, an audit line) share one commit instead of queueing for the lock one by one.
        """
        if _IN_TRANSACTION.get():
            cursor = await self.db.execute(sql, args)
            return Written(cursor.rowcount, cursor.lastrowid)

        def run(connection: sqlite3.Connection) -> Written:
            cursor = connection.execute(sql, args)
            return Written(cursor.rowcount, cursor.lastrowid)

        return await self._batched(run)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """All writes inside commit together or not at all (used where a crash must not leave half a change)."""
        if _IN_TRANSACTION.get():
            yield
            return
        async with self._write_lock:
            token = _IN_TRANSACTION.set(True)
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            else:
                await self.db.execute("COMMIT")
            finally:
                _IN_TRANSACTION.reset(token)

    async def close(self) -> None:
        """Wait for queued commits, then close: nothing already acknowledged is dropped at shutdown."""
        if self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _migrate(self) -> None:
        """Apply the missing migrations, each in its own write transaction. Two stores opening one new file at
        once: the loser of the write lock finds its migration already applied (its script fails on the existing
        tables and rolls back), re-reads the version and moves on."""
        await self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        for version, script in enumerate(SQLITE_MIGRATIONS, start=1):
            if version <= await self.schema_version():
                continue
            try:
                await self.db.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nINSERT INTO schema_version VALUES ({version});\nCOMMIT;")
            except sqlite3.OperationalError:
                if self.db.in_transaction:
                    await self.db.execute("ROLLBACK")
                if version > await self.schema_version():
                    raise

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT MAX(version) FROM schema_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # --- platform event dedupe -------------------------------------------------------------------------------

    async def claim_event(self, platform: str, event_id: str, now: datetime,
                          stale_after_s: float = 120.0) -> EventClaim:
        async with self._write_lock:
            return await self._in_db_thread(lambda c: _claim(c, platform, event_id, now, stale_after_s))

    async def begin_turn(self, *, event: tuple[str, str] | None, user_key: str, platform: str, conv_key: str,
                         now: datetime) -> tuple[EventClaim, UserRecord | None, ConversationRecord | None]:
        """Dedupe the event and load the person and conversation in one trip to the database thread."""

        def read(connection: sqlite3.Connection) -> tuple[EventClaim, Any, Any]:
            # Called under the conversation lock (Core._across_workers): an unfinished claim found here
            # belongs to a handler that died, so it is recovered now, not after a grace period.
            claim = _claim(connection, event[0], event[1], now, 0.0) if event else EventClaim.NEW
            if claim in (EventClaim.DUPLICATE, EventClaim.REPLAY):
                return claim, None, None
            user = connection.execute(_SELECT_USER, (user_key,)).fetchone()
            if user is None:
                connection.execute("INSERT INTO users (user_key, platform, created_at) VALUES (?, ?, ?)"
                                   " ON CONFLICT DO NOTHING", (user_key, platform, _ts(now)))
            conversation = connection.execute("SELECT state FROM conversations WHERE conv_key=?",
                                              (conv_key,)).fetchone()
            return claim, user, conversation

        claim, user_row, conv_row = await self._batched(read)
        if claim in (EventClaim.DUPLICATE, EventClaim.REPLAY):
            return claim, None, None
        user = self._user(user_row) if user_row else UserRecord(user_key=user_key, platform=platform, created_at=now)
        state = json.loads(self._cipher.decrypt(conv_row[0], "state")) if conv_row else {}
        return claim, user, ConversationRecord(conv_key=conv_key, user_key=user_key, state=state)

    def _user(self, row: Any) -> UserRecord:
        return UserRecord(user_key=row[0], platform=row[1], created_at=datetime.fromisoformat(row[2]),
                          profile=json.loads(self._cipher.decrypt(row[3], "profile")), consent_version=row[4],
                          consent_at=_dt(row[5]), disclosed_at=_dt(row[6]), last_seen_at=_dt(row[7]))

    async def finish_event(self, platform: str, event_id: str, now: datetime) -> None:
        await self._write("UPDATE processed_events SET status='done', reply=NULL WHERE platform=? AND event_id=?",
                          (platform, event_id))

    async def pending_reply(self, platform: str, event_id: str) -> str | None:
        rows = await self.db.execute_fetchall("SELECT reply FROM processed_events WHERE platform=? AND event_id=?"
                                              " AND reply IS NOT NULL", (platform, event_id))
        row = next(iter(rows), None)
        return self._cipher.decrypt(row[0], "reply") if row else None

    # --- users and conversations -----------------------------------------------------------------------------

    async def get_or_create_user(self, user_key: str, platform: str, now: datetime) -> UserRecord:
        row = next(iter(await self.db.execute_fetchall(_SELECT_USER, (user_key,))), None)
        if row is None:
            await self._write("INSERT INTO users (user_key, platform, created_at) VALUES (?, ?, ?)"
                              " ON CONFLICT DO NOTHING", (user_key, platform, _ts(now)))
            return UserRecord(user_key=user_key, platform=platform, created_at=now)
        return self._user(row)

    async def update_user(self, user_key: str, **fields: Any) -> None:
        values = user_field_values(fields, self._cipher, _ts)
        assignments = ", ".join(f"{name}=?" for name in fields)
        await self._write(f"UPDATE users SET {assignments} WHERE user_key=?", (*values, user_key))

    async def load_conversation(self, conv_key: str, user_key: str) -> ConversationRecord:
        rows = await self.db.execute_fetchall("SELECT state FROM conversations WHERE conv_key=?", (conv_key,))
        row = next(iter(rows), None)
        state = json.loads(self._cipher.decrypt(row[0], "state")) if row else {}
        return ConversationRecord(conv_key=conv_key, user_key=user_key, state=state)

    async def save_conversation(self, conv_key: str, user_key: str, state: dict[str, Any], now: datetime) -> None:
        blob = self._cipher.encrypt(json.dumps(state, ensure_ascii=False, default=str), "state")
        await self._write(_UPSERT_CONVERSATION, (conv_key, user_key, blob, _ts(now)))

    async def complete_turn(self, *, conv_key: str, user_key: str, state: dict[str, Any] | None,
                            messages: list[tuple[str, str]], event: tuple[str, str] | None, now: datetime,
                            reply: str | None = None) -> None:
        """A turn's writes in one transaction and one trip to the database thread.

        One commit per turn (instead of one per statement) is what keeps the core fast on one SQLite file, and a
        crash can no longer leave a turn's messages stored without its state, or the event marked done without
        either. Encryption happens here, on the event loop; the thread only runs SQL.
        """
        stamp = _ts(now)
        rows = [(conv_key, user_key, d, self._cipher.encrypt(t, "message"), stamp) for d, t in messages]
        blob = None if state is None else self._cipher.encrypt(json.dumps(state, ensure_ascii=False, default=str),
                                                                "state")
        sealed = None if reply is None else self._cipher.encrypt(reply, "reply")

        def write(connection: sqlite3.Connection) -> None:
            if rows:
                connection.executemany(_INSERT_MESSAGE, rows)
            if blob is not None:
                connection.execute(_UPSERT_CONVERSATION, (conv_key, user_key, blob, stamp))
            if event is not None:
                connection.execute("UPDATE processed_events SET status='done', reply=? WHERE platform=? AND event_id=?",
                                   (sealed, *event))

        await self._batched(write)

    async def _batched(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Group commit: run `fn` in a transaction shared with whatever other turns are waiting right now.

        While one batch is on the database thread, new work queues up and goes in the next batch, so under load
        one commit covers many turns; alone, a turn still commits at once. Each piece runs in its own savepoint,
        so one failing piece rolls back only itself. Callers return only after the commit: nothing is
        acknowledged before it is durable.
        """
        if _IN_TRANSACTION.get():   # already inside this task's transaction: joining a batch would wait on ourselves
            return await self._in_db_thread(fn)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._batch.append((fn, future))
        if not self._flushing:
            self._flushing = True
            self._flusher = asyncio.create_task(self._flush(), name="haven-sqlite-commit")
        return await future

    async def _flush(self) -> None:
        """Commit queued work batch after batch until the queue is empty. It runs as its own task, so no caller
        is kept waiting while it commits other callers' writes (that made one unlucky turn pay for everyone's)."""
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                try:
                    async with self._write_lock:
                        outcomes = await self._in_db_thread(lambda c: _run_batch(c, [f for f, _ in batch]))
                except Exception as exc:  # the commit itself failed: nothing in the batch happened
                    outcomes = [(False, exc)] * len(batch)
                for (_, waiter), (ok, value) in zip(batch, outcomes):
                    if waiter.done():
                        continue
                    if ok:
                        waiter.set_result(value)
                    else:
                        waiter.set_exception(value)
        finally:
            self._flushing = False

    async def _in_db_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(sqlite3_connection)` on aiosqlite's own connection thread, in order with every other statement.

        aiosqlite's public methods each cost one thread round trip; a turn needs several statements, so we hand
        the thread one function instead. This uses aiosqlite's internal `_execute`/`_conn` (checked by
        tests/core/test_store.py::test_db_thread_hook_exists so an upgrade that moves them fails loudly).
        """
        return await self.db._execute(fn, self.db._conn)  # type: ignore[attr-defined]

    # --- messages --------------------------------------------------------------------------------------------

    async def add_message(self, conv_key: str, user_key: str, direction: str, text: str, now: datetime) -> None:
        await self.add_messages(conv_key, user_key, [(direction, text)], now)

    async def add_messages(self, conv_key: str, user_key: str, items: list[tuple[str, str]], now: datetime) -> None:
        """Several (direction, text) rows in one round trip: a turn's message and its replies."""
        rows = [(conv_key, user_key, direction, self._cipher.encrypt(text, "message"), _ts(now))
                for direction, text in items]
        if _IN_TRANSACTION.get():
            await self.db.executemany(_INSERT_MESSAGE, rows)
            return
        async with self._write_lock:
            await self.db.executemany(_INSERT_MESSAGE, rows)

    async def recent_messages(self, conv_key: str, limit: int) -> list[StoredMessage]:
        rows = await self.db.execute_fetchall(
            "SELECT direction, text, created_at FROM messages WHERE conv_key=? ORDER BY id DESC LIMIT ?",
            (conv_key, limit))
        return [StoredMessage(r[0], self._cipher.decrypt(r[1], "message"), datetime.fromisoformat(r[2]))
                for r in reversed(list(rows))]

    async def delete_messages_before(self, cutoff: datetime) -> int:
        cursor = await self._write("DELETE FROM messages WHERE created_at < ?", (_ts(cutoff),))
        return cursor.rowcount

    # --- durable jobs ----------------------------------------------------------------------------------------

    async def enqueue_job(self, kind: str, payload: dict[str, Any], run_at: datetime,
                          dedupe_key: str | None = None, max_attempts: int = 10) -> int | None:
        now = datetime.now(run_at.tzinfo)
        cursor = await self._write(
            "INSERT INTO jobs (kind, payload, run_at, status, max_attempts, dedupe_key, user_key, created_at,"
            " updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
            (kind, json.dumps(payload, ensure_ascii=False), _ts(run_at), max_attempts, dedupe_key,
             payload.get("user_key"), _ts(now), _ts(now)))
        return cursor.lastrowid if cursor.rowcount == 1 else None

    async def claim_jobs(self, now: datetime, limit: int = 10, lease_s: float = 60.0,
                         kinds: tuple[str, ...] | None = None) -> list[Job]:
        """Due jobs, leased so that a crashed worker's jobs come back after `lease_s`."""
        kind_clause = f" AND kind IN ({','.join('?' * len(kinds))})" if kinds else ""
        lease = _ts(now + timedelta(seconds=lease_s))
        stamp = _ts(now)
        async with self.transaction(), self.db.execute(
                "UPDATE jobs SET status='claimed', lease_until=?, attempts=attempts+1, updated_at=? WHERE id IN ("
                " SELECT id FROM jobs WHERE ((status='pending' AND run_at<=?) OR (status='claimed' AND lease_until<?))"
                f"{kind_clause} ORDER BY run_at LIMIT ?)"
                " RETURNING id, kind, payload, run_at, attempts, dedupe_key",
                (lease, stamp, stamp, stamp, *(kinds or ()), limit)) as cursor:
            rows = await cursor.fetchall()
        jobs = [Job(r[0], r[1], json.loads(r[2]), datetime.fromisoformat(r[3]), r[4], r[5]) for r in rows]
        return sorted(jobs, key=lambda job: (job.run_at, job.id))

    async def complete_job(self, job_id: int, now: datetime) -> None:
        await self._write("UPDATE jobs SET status='done', lease_until=NULL, updated_at=? WHERE id=?",
                              (_ts(now), job_id))

    async def retry_job(self, job_id: int, error: str, run_at: datetime) -> None:
        """Back to pending at `run_at`, or failed for good once its attempts are used up."""
        await self._write(
            "UPDATE jobs SET status=CASE WHEN attempts>=max_attempts THEN 'failed' ELSE 'pending' END,"
            " run_at=?, lease_until=NULL, last_error=?, updated_at=? WHERE id=?",
            (_ts(run_at), error[:200], _ts(run_at), job_id))

    async def cancel_jobs(self, dedupe_prefix: str) -> int:
        cursor = await self._write(
            "UPDATE jobs SET status='cancelled' WHERE status IN ('pending','claimed') AND dedupe_key LIKE ? ESCAPE '\\'",
            (dedupe_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",))
        return cursor.rowcount

    async def pending_jobs(self, kind: str | None = None) -> list[Job]:
        clause, args = ("AND kind=?", (kind,)) if kind else ("", ())
        async with self.db.execute(
                "SELECT id, kind, payload, run_at, attempts, dedupe_key FROM jobs"
                f" WHERE status IN ('pending','claimed') {clause} ORDER BY run_at, id", args) as cursor:
            rows = await cursor.fetchall()
        return [Job(r[0], r[1], json.loads(r[2]), datetime.fromisoformat(r[3]), r[4], r[5]) for r in rows]

    async def schedule_job(self, kind: str, payload: dict[str, Any], run_at: datetime, dedupe_key: str) -> bool:
        """Insert a job, or move a not-yet-run one with the same dedupe key (a changed check-in time).

        A job that ran, is running or failed keeps its key: a rescheduled check-in cannot fire twice for one
        date. Returns whether the job is now pending at `run_at`."""
        stamp = _ts(datetime.now(run_at.tzinfo))
        cursor = await self._write(
            "INSERT INTO jobs (kind, payload, run_at, status, dedupe_key, user_key, created_at, updated_at)"
            " VALUES (?, ?, ?, 'pending', ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO UPDATE SET"
            " kind=excluded.kind, payload=excluded.payload, run_at=excluded.run_at, status='pending', attempts=0,"
            " lease_until=NULL, updated_at=excluded.updated_at WHERE jobs.status IN ('pending', 'cancelled')",
            (kind, json.dumps(payload, ensure_ascii=False), _ts(run_at), dedupe_key, payload.get("user_key"), stamp,
             stamp))
        return cursor.rowcount == 1

    async def job_status(self, job_id: int) -> str | None:
        async with self.db.execute("SELECT status FROM jobs WHERE id=?", (job_id,)) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    # --- audit and counters ----------------------------------------------------------------------------------

    async def audit(self, kind: str, now: datetime, user_key: str | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        await self._write("INSERT INTO audit_log (at, kind, user_key, detail) VALUES (?, ?, ?, ?)",
                              (_ts(now), kind, user_key, json.dumps(detail or {}, ensure_ascii=False)))

    async def audit_entries(self, user_key: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        clauses, args = [], []
        if user_key is not None:
            clauses.append("user_key=?")
            args.append(user_key)
        if kind is not None:
            clauses.append("kind=?")
            args.append(kind)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        async with self.db.execute(f"SELECT at, kind, user_key, detail FROM audit_log {where} ORDER BY id",
                                   args) as cursor:
            rows = await cursor.fetchall()
        return [{"at": r[0], "kind": r[1], "user_key": r[2], "detail": json.loads(r[3])} for r in rows]

    async def bump_counter(self, name: str, period: str, dims: str = "") -> None:
        await self._write(
            "INSERT INTO counters (name, period, dims, count) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (name, period, dims) DO UPDATE SET count=count+1", (name, period, dims))

    async def counters(self, name: str | None = None) -> list[tuple[str, str, str, int]]:
        clause, args = ("WHERE name=?", (name,)) if name else ("", ())
        async with self.db.execute(f"SELECT name, period, dims, count FROM counters {clause}"
                                   " ORDER BY name, period, dims", args) as cursor:
            rows = await cursor.fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    # --- crisis cases ----------------------------------------------------------------------------------------

    async def open_case(self, *, case_id: str, user_key: str, address: dict[str, Any], platform: str, level: str,
                        signals: tuple[str, ...], now: datetime, job_kind: str,
                        job_payload: dict[str, Any]) -> tuple[Case, bool]:
        """One open case per person: a new crisis while one is open raises its level instead of opening a second.
        The case and its first notification job commit together, so a crash cannot leave a case nobody is told
        about."""
        sealed = self._cipher.encrypt(json.dumps(address), "address")
        stamp = _ts(now)

        def write(connection: sqlite3.Connection) -> tuple[Any, bool]:
            existing = connection.execute(f"SELECT {_CASE_COLUMNS} FROM cases WHERE user_key=? AND status != 'resolved'"
                                          " ORDER BY created_at DESC LIMIT 1", (user_key,)).fetchone()
            if existing is not None:
                if _LEVELS.index(level) > _LEVELS.index(existing[4]):
                    connection.execute("UPDATE cases SET level=?, signals=?, updated_at=? WHERE case_id=?",
                                       (level, json.dumps(list(signals)), stamp, existing[0]))
                return connection.execute(f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_id=?",
                                          (existing[0],)).fetchone(), False
            connection.execute(
                "INSERT INTO cases (case_id, user_key, address, platform, level, signals, status, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
                (case_id, user_key, sealed, platform, level, json.dumps(list(signals)), stamp, stamp))
            connection.execute(
                "INSERT INTO jobs (kind, payload, run_at, status, max_attempts, dedupe_key, user_key, created_at,"
                " updated_at) VALUES (?, ?, ?, 'pending', 20, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
                (job_kind, json.dumps(job_payload), stamp, f"notify:{case_id}:0", user_key, stamp, stamp))
            return connection.execute(f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_id=?", (case_id,)).fetchone(), True

        row, created = await self._batched(write)
        return self._case(row), created

    async def get_case(self, case_id: str) -> Case | None:
        rows = await self.db.execute_fetchall(f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_id=?", (case_id,))
        row = next(iter(rows), None)
        return self._case(row) if row else None

    async def update_case(self, case_id: str, now: datetime, **fields: Any) -> None:
        allowed = {"status", "destination_index", "destination_notices", "notices_sent", "claimed_by", "level"}
        if set(fields) - allowed:
            raise ValueError(f"unknown case fields: {sorted(set(fields) - allowed)}")
        assignments = ", ".join(f"{name}=?" for name in fields)
        await self._write(f"UPDATE cases SET {assignments}, updated_at=? WHERE case_id=?",
                          (*fields.values(), _ts(now), case_id))

    def _case(self, row: Any) -> Case:
        return Case(case_id=row[0], user_key=row[1], address=json.loads(self._cipher.decrypt(row[2], "address")),
                    platform=row[3], level=row[4], signals=tuple(json.loads(row[5])), status=row[6],
                    destination_index=row[7], destination_notices=row[8], notices_sent=row[9], claimed_by=row[10],
                    created_at=datetime.fromisoformat(row[11]), updated_at=datetime.fromisoformat(row[12]))

    # --- key rotation ---------------------------------------------------------------------------------------

    async def rotate_key(self, new_cipher: FieldCipher) -> int:
        """Re-encrypt every protected field under a new key in one transaction (all or nothing).
        Plain fields written before a key was configured are encrypted too. Returns the fields rewritten."""
        old = self._cipher
        changed = 0
        async with self.transaction():
            for table, key, column, context in ENCRYPTED_COLUMNS:
                rows = await self.db.execute_fetchall(f"SELECT {key}, {column} FROM {table}")
                for row_key, value in rows:
                    plain = old.decrypt(value, context)
                    if value.startswith("enc1:") and plain.startswith("[unreadable"):
                        raise ValueError(f"{table}.{column}: stored data does not decrypt with the current key")
                    await self._write(f"UPDATE {table} SET {column}=? WHERE {key}=?",
                                      (new_cipher.encrypt(plain, context), row_key))
                    changed += 1
        self._cipher = new_cipher
        return changed

    # --- wellbeing history: moods and screenings ----------------------------------------------------------

    async def get_user(self, user_key: str) -> UserRecord | None:
        """The person, or None (erased, or never seen): durable jobs read profiles without creating anyone."""
        row = next(iter(await self.db.execute_fetchall(_SELECT_USER, (user_key,))), None)
        return self._user(row) if row else None

    async def add_mood(self, user_key: str, at: datetime, score: int, emotions: tuple[str, ...] = (),
                       note: str = "") -> int:
        cursor = await self._write(
            "INSERT INTO mood_entries (user_key, at, score, emotions, note) VALUES (?, ?, ?, ?, ?)",
            (user_key, _ts(at), int(score), self._cipher.encrypt(json.dumps(list(emotions)), "mood"),
             self._cipher.encrypt(note, "mood")))
        return int(cursor.lastrowid or 0)

    async def update_mood(self, user_key: str, entry_id: int, *, emotions: tuple[str, ...] | None = None,
                          note: str | None = None) -> None:
        """Add the emotion words or the note to an entry recorded a moment ago (only the person's own entry)."""
        if emotions is not None:
            await self._write("UPDATE mood_entries SET emotions=? WHERE id=? AND user_key=?",
                              (self._cipher.encrypt(json.dumps(list(emotions)), "mood"), entry_id, user_key))
        if note is not None:
            await self._write("UPDATE mood_entries SET note=? WHERE id=? AND user_key=?",
                              (self._cipher.encrypt(note, "mood"), entry_id, user_key))

    async def moods(self, user_key: str, since: datetime | None = None) -> list[MoodEntry]:
        """The person's mood entries, oldest first (from `since` on, when given)."""
        rows = await self.db.execute_fetchall(
            "SELECT id, at, score, emotions, note FROM mood_entries WHERE user_key=? AND at>=? ORDER BY at, id",
            (user_key, _ts(since) if since else ""))
        return [MoodEntry(r[0], datetime.fromisoformat(r[1]), r[2], tuple(self._json_list(r[3], "mood")),
                          self._cipher.decrypt(r[4], "mood")) for r in rows]

    def _json_list(self, stored: str, context: str) -> list[Any]:
        try:
            value = json.loads(self._cipher.decrypt(stored, context) or "[]")
        except ValueError:   # "[encrypted]" without the key: show nothing rather than fail
            return []
        return value if isinstance(value, list) else []

    async def add_screening(self, user_key: str, at: datetime, questionnaire: str, score: int, band: str,
                            answers: tuple[int, ...]) -> int:
        cursor = await self._write(
            "INSERT INTO screenings (user_key, at, questionnaire, score, band, answers) VALUES (?, ?, ?, ?, ?, ?)",
            (user_key, _ts(at), questionnaire, int(score), band,
             self._cipher.encrypt(json.dumps(list(answers)), "screening")))
        return int(cursor.lastrowid or 0)

    async def screenings(self, user_key: str, limit: int = 20) -> list[ScreeningRecord]:
        """The person's completed screenings, newest first."""
        rows = await self.db.execute_fetchall(
            "SELECT id, at, questionnaire, score, band, answers FROM screenings WHERE user_key=?"
            " ORDER BY at DESC, id DESC LIMIT ?", (user_key, limit))
        return [ScreeningRecord(r[0], datetime.fromisoformat(r[1]), r[2], r[3], r[4],
                                tuple(int(a) for a in self._json_list(r[5], "screening"))) for r in rows]

    # --- data rights -----------------------------------------------------------------------------------------

    async def export_user(self, user_key: str) -> dict[str, Any]:
        async with self.db.execute("SELECT platform, created_at, profile, consent_version, consent_at,"
                                   " disclosed_at, last_seen_at FROM users WHERE user_key=?", (user_key,)) as cursor:
            user = await cursor.fetchone()
        if user is None:
            return {}
        async with self.db.execute("SELECT conv_key, direction, text, created_at FROM messages WHERE user_key=?"
                                   " ORDER BY id", (user_key,)) as cursor:
            messages = await cursor.fetchall()
        async with self.db.execute("SELECT state FROM conversations WHERE user_key=?", (user_key,)) as cursor:
            states = await cursor.fetchall()
        async with self.db.execute("SELECT booking_id, provider_id, starts_at, ends_at, modality, status, details"
                                   " FROM appointments WHERE user_key=? ORDER BY starts_at", (user_key,)) as cursor:
            bookings = await cursor.fetchall()
        async with self.db.execute("SELECT booking_id, answers, shared, created_at FROM intakes WHERE user_key=?"
                                   " ORDER BY id", (user_key,)) as cursor:
            intakes = await cursor.fetchall()
        return {
            "profile": json.loads(self._cipher.decrypt(user[2], "profile")),
            "platform": user[0], "created_at": user[1],
            "consent": {"version": user[3], "at": user[4]}, "disclosure_shown_at": user[5], "last_seen_at": user[6],
            "conversations": [json.loads(self._cipher.decrypt(s[0], "state")) for s in states],
            "messages": [{"direction": m[1], "text": self._cipher.decrypt(m[2], "message"), "at": m[3]}
                         for m in messages],
            "audit": [{"at": a["at"], "kind": a["kind"], "detail": a["detail"]}
                      for a in await self.audit_entries(user_key=user_key)],
            "moods": [{"at": _ts(m.at), "score": m.score, "emotions": list(m.emotions), "note": m.note}
                      for m in await self.moods(user_key)],
            "screenings": [{"at": _ts(s.at), "questionnaire": s.questionnaire, "score": s.score, "band": s.band,
                            "answers": list(s.answers)} for s in reversed(await self.screenings(user_key, 10_000))],
            "appointments": [{"booking": b[0], "provider": b[1], "starts_at": b[2], "ends_at": b[3], "modality": b[4],
                              "status": b[5], "details": self._cipher.decrypt(b[6], "appointment")} for b in bookings],
            "intakes": [{"booking": i[0], "shared": bool(i[2]), "at": i[3],
                         "answers": self._cipher.decrypt(i[1], "intake")} for i in intakes],
        }

    async def erase_user(self, user_key: str) -> None:
        """Everything about the person, in one transaction. Non-identifying counters stay."""
        async with self.transaction():
            for statement in ("DELETE FROM messages WHERE user_key=?", "DELETE FROM cases WHERE user_key=?",
                              "DELETE FROM mood_entries WHERE user_key=?", "DELETE FROM screenings WHERE user_key=?",
                              "UPDATE processed_events SET reply=NULL WHERE reply IS NOT NULL AND substr(event_id, 1,"
                              " instr(event_id, ':') - 1) IN (SELECT conv_key FROM conversations WHERE user_key=?)",
                              "DELETE FROM conversations WHERE user_key=?",
                              "DELETE FROM appointments WHERE user_key=?", "DELETE FROM intakes WHERE user_key=?",
                              "DELETE FROM jobs WHERE user_key=?",
                              "DELETE FROM audit_log WHERE user_key=?",
                              "DELETE FROM users WHERE user_key=?"):
                await self._write(statement, (user_key,))
