"""PostgreSQL store on asyncpg: for deployments where several `haven run` workers share one database.

Same contract as SqliteStore (tests/store runs one suite against both), with what several processes need:
- durable jobs are claimed with `FOR UPDATE SKIP LOCKED` under a lease, so two workers never run the same job and
  a crashed worker's jobs are taken over once the lease runs out;
- platform events are deduplicated by the primary key, so a redelivery that reaches another worker is dropped;
- `conversation_lock` is a session advisory lock, so one conversation's turns stay in order across workers and a
  crashed holder's lock dies with its connection;
- one open crisis case per person, even when two workers see two of that person's conversations at once.

Instants are timestamptz; encrypted columns hold the same FieldCipher text as on SQLite. Two pools: one for
statements, one for conversation locks, so holders waiting on a busy conversation can never starve the
statements that the current holder needs to finish its turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

from bot.conversation import KeyedLocks
from bot.privacy import FieldCipher
from bot.store.base import (CASE_LEVELS, ENCRYPTED_COLUMNS, Case, ConversationRecord, EventClaim, Job, MoodEntry,
                            ScreeningRecord, StoredMessage, UserRecord, user_field_values)
from bot.store.pg_migrations import LOCK_NAMESPACE, migrate

log = logging.getLogger("haven.store")
#: Advisory-lock namespace (two-int4 form) for "one open case per person".
_CASE_LOCK_NAMESPACE = LOCK_NAMESPACE + 1
_CONNECT_TIMEOUT_S = 10.0
_CASE_FIELDS = {"status", "destination_index", "destination_notices", "notices_sent", "claimed_by", "level"}
_INSERT_MESSAGE = "INSERT INTO messages (conv_key, user_key, direction, text, created_at) VALUES ($1, $2, $3, $4, $5)"
_UPSERT_CONVERSATION = ("INSERT INTO conversations (conv_key, user_key, state, updated_at) VALUES ($1, $2, $3, $4)"
                        " ON CONFLICT (conv_key) DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at")
_FINISH_EVENT = "UPDATE processed_events SET status='done', reply=NULL WHERE platform=$1 AND event_id=$2"
_COMPLETE_EVENT = "UPDATE processed_events SET status='done', reply=$3 WHERE platform=$1 AND event_id=$2"
_SELECT_USER = ("SELECT user_key, platform, created_at, profile, consent_version, consent_at, disclosed_at,"
                " last_seen_at FROM users WHERE user_key=$1")
_CASE_COLUMNS = ("case_id, user_key, address, platform, level, signals, status, destination_index,"
                 " destination_notices, notices_sent, claimed_by, created_at, updated_at")
_JOB_COLUMNS = "id, kind, payload, run_at, attempts, dedupe_key"
_INSERT_JOB = ("INSERT INTO jobs (kind, payload, run_at, status, max_attempts, dedupe_key, user_key, created_at,"
               " updated_at) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $7) ON CONFLICT (dedupe_key) DO NOTHING"
               " RETURNING id")


def aware(value: datetime) -> datetime:
    """timestamptz needs an instant: a naive datetime is read as UTC (what the rest of Haven means by one)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _maybe(value: datetime | None) -> datetime | None:
    return aware(value) if value is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def rowcount(status: str) -> int:
    """asyncpg reports writes as a command tag such as `UPDATE 3`; the last word is the row count."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching `prefix` literally (backslash is PostgreSQL's default LIKE escape)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _job(row: Any) -> Job:
    return Job(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5])


class PostgresStore:
    def __init__(self, dsn: str, cipher: FieldCipher | None = None, *, pool_size: int = 10,
                 lock_pool_size: int = 20) -> None:
        self._dsn = dsn
        self._cipher = cipher or FieldCipher(None)
        self._pool_size = pool_size
        self._lock_pool_size = lock_pool_size
        self._pool_: asyncpg.Pool | None = None
        self._lock_pool_: asyncpg.Pool | None = None
        # The holders of one conversation in this process queue here, so at most one pooled connection per
        # conversation ever waits on the database lock.
        self._local_locks = KeyedLocks()

    @property
    def cipher(self) -> FieldCipher:
        """The current field cipher (read at call time: `rotate_key` replaces it)."""
        return self._cipher

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool_ is None:
            raise RuntimeError("store is not open")
        return self._pool_

    async def open(self) -> None:
        # `timeout` bounds each new connection: with the database down a turn fails in seconds (and the core
        # answers anyway), not after asyncpg's default minute.
        self._pool_ = await asyncpg.create_pool(self._dsn, min_size=1, max_size=self._pool_size,
                                                timeout=_CONNECT_TIMEOUT_S,
                                                server_settings={"application_name": "haven"})
        try:
            self._lock_pool_ = await asyncpg.create_pool(self._dsn, min_size=0, max_size=self._lock_pool_size,
                                                         timeout=_CONNECT_TIMEOUT_S,
                                                         server_settings={"application_name": "haven-locks"})
            async with self.pool.acquire() as connection:
                await migrate(connection)
        except BaseException:
            await self.close()
            raise

    async def close(self, timeout: float = 10.0) -> None:
        """Close both pools. Connections in use get `timeout` seconds to come back (so a turn being saved is not
        cut off); past that they are terminated, which also frees any conversation lock a stuck task holds."""
        pools, self._pool_, self._lock_pool_ = [self._lock_pool_, self._pool_], None, None
        for pool in pools:
            if pool is None:
                continue
            try:
                await asyncio.wait_for(pool.close(), timeout)
            except asyncio.TimeoutError:
                log.warning("event=store_close_timeout")
                pool.terminate()

    async def ping(self) -> None:
        """`SELECT 1` within five seconds; raises when the database cannot be reached (readiness checks)."""
        async with self.pool.acquire(timeout=5) as connection:
            await connection.fetchval("SELECT 1", timeout=5)

    @asynccontextmanager
    async def conversation_lock(self, conv_key: str) -> AsyncIterator[None]:
        """Hold one conversation across all workers: a session advisory lock on a dedicated connection.

        The unlock runs in `finally`; should it fail, returning the connection to the pool resets it (asyncpg
        unlocks all advisory locks on reset) or closes it, and a dead connection's locks die with it."""
        if self._lock_pool_ is None:
            raise RuntimeError("store is not open")
        async with self._local_locks.hold(conv_key), self._lock_pool_.acquire() as connection:
            await connection.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", conv_key)
            try:
                yield
            finally:
                try:
                    await connection.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", conv_key)
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                    # The turn itself is done; the pool's reset (or the connection's death) frees the lock.
                    log.warning("event=conversation_unlock_failed")

    async def schema_version(self) -> int:
        return int(await self.pool.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))

    # --- platform event dedupe -------------------------------------------------------------------------------

    async def claim_event(self, platform: str, event_id: str, now: datetime,
                          stale_after_s: float = 120.0) -> EventClaim:
        async with self.pool.acquire() as connection:
            return await _claim(connection, platform, event_id, aware(now), stale_after_s)

    async def begin_turn(self, *, event: tuple[str, str] | None, user_key: str, platform: str, conv_key: str,
                         now: datetime) -> tuple[EventClaim, UserRecord | None, ConversationRecord | None]:
        """Dedupe the event and load (or create) the person and the conversation in one transaction.

        The core calls this holding the conversation lock until the turn is saved, so an unfinished claim found
        here belongs to a worker that died (its lock died with it) and is recovered at once, as on SQLite."""
        now = aware(now)
        async with self.pool.acquire() as connection, connection.transaction():
            claim = await _claim(connection, event[0], event[1], now, 0.0) if event else EventClaim.NEW
            if claim in (EventClaim.DUPLICATE, EventClaim.REPLAY):
                return claim, None, None
            user_row = await connection.fetchrow(_SELECT_USER, user_key)
            if user_row is None:
                await connection.execute("INSERT INTO users (user_key, platform, created_at) VALUES ($1, $2, $3)"
                                         " ON CONFLICT DO NOTHING", user_key, platform, now)
            blob = await connection.fetchval("SELECT state FROM conversations WHERE conv_key=$1", conv_key)
        user = self._user(user_row) if user_row else UserRecord(user_key=user_key, platform=platform, created_at=now)
        state = json.loads(self._cipher.decrypt(blob, "state")) if blob is not None else {}
        return claim, user, ConversationRecord(conv_key=conv_key, user_key=user_key, state=state)

    async def finish_event(self, platform: str, event_id: str, now: datetime) -> None:
        await self.pool.execute(_FINISH_EVENT, platform, event_id)

    async def pending_reply(self, platform: str, event_id: str) -> str | None:
        sealed = await self.pool.fetchval("SELECT reply FROM processed_events WHERE platform=$1 AND event_id=$2",
                                          platform, event_id)
        return None if sealed is None else self._cipher.decrypt(sealed, "reply")

    # --- users and conversations -----------------------------------------------------------------------------

    def _user(self, row: Any) -> UserRecord:
        return UserRecord(user_key=row[0], platform=row[1], created_at=row[2],
                          profile=json.loads(self._cipher.decrypt(row[3], "profile")), consent_version=row[4],
                          consent_at=row[5], disclosed_at=row[6], last_seen_at=row[7])

    async def get_or_create_user(self, user_key: str, platform: str, now: datetime) -> UserRecord:
        row = await self.pool.fetchrow(_SELECT_USER, user_key)
        if row is not None:
            return self._user(row)
        await self.pool.execute("INSERT INTO users (user_key, platform, created_at) VALUES ($1, $2, $3)"
                                " ON CONFLICT DO NOTHING", user_key, platform, aware(now))
        return UserRecord(user_key=user_key, platform=platform, created_at=aware(now))

    async def get_user(self, user_key: str) -> UserRecord | None:
        """The person, or None (erased, or never seen): durable jobs read profiles without creating anyone."""
        row = await self.pool.fetchrow(_SELECT_USER, user_key)
        return self._user(row) if row else None

    async def update_user(self, user_key: str, **fields: Any) -> None:
        values = user_field_values(fields, self._cipher, aware)
        assignments = ", ".join(f"{name}=${i}" for i, name in enumerate(fields, start=2))
        await self.pool.execute(f"UPDATE users SET {assignments} WHERE user_key=$1", user_key, *values)

    async def load_conversation(self, conv_key: str, user_key: str) -> ConversationRecord:
        blob = await self.pool.fetchval("SELECT state FROM conversations WHERE conv_key=$1", conv_key)
        state = json.loads(self._cipher.decrypt(blob, "state")) if blob is not None else {}
        return ConversationRecord(conv_key=conv_key, user_key=user_key, state=state)

    async def save_conversation(self, conv_key: str, user_key: str, state: dict[str, Any], now: datetime) -> None:
        blob = self._cipher.encrypt(json.dumps(state, ensure_ascii=False, default=str), "state")
        await self.pool.execute(_UPSERT_CONVERSATION, conv_key, user_key, blob, aware(now))

    async def complete_turn(self, *, conv_key: str, user_key: str, state: dict[str, Any] | None,
                            messages: list[tuple[str, str]], event: tuple[str, str] | None, now: datetime,
                            reply: str | None = None) -> None:
        """A turn's messages, state and event mark in one transaction: a crash leaves all of them or none."""
        stamp = aware(now)
        rows = [(conv_key, user_key, d, self._cipher.encrypt(t, "message"), stamp) for d, t in messages]
        blob = None if state is None else self._cipher.encrypt(json.dumps(state, ensure_ascii=False, default=str),
                                                                "state")
        sealed = None if reply is None else self._cipher.encrypt(reply, "reply")
        async with self.pool.acquire() as connection, connection.transaction():
            if rows:
                await connection.executemany(_INSERT_MESSAGE, rows)
            if blob is not None:
                await connection.execute(_UPSERT_CONVERSATION, conv_key, user_key, blob, stamp)
            if event is not None:
                await connection.execute(_COMPLETE_EVENT, *event, sealed)

    # --- messages --------------------------------------------------------------------------------------------

    async def add_message(self, conv_key: str, user_key: str, direction: str, text: str, now: datetime) -> None:
        await self.add_messages(conv_key, user_key, [(direction, text)], now)

    async def add_messages(self, conv_key: str, user_key: str, items: list[tuple[str, str]], now: datetime) -> None:
        rows = [(conv_key, user_key, d, self._cipher.encrypt(t, "message"), aware(now)) for d, t in items]
        if rows:
            await self.pool.executemany(_INSERT_MESSAGE, rows)

    async def recent_messages(self, conv_key: str, limit: int) -> list[StoredMessage]:
        rows = await self.pool.fetch("SELECT direction, text, created_at FROM messages WHERE conv_key=$1"
                                     " ORDER BY id DESC LIMIT $2", conv_key, limit)
        return [StoredMessage(r[0], self._cipher.decrypt(r[1], "message"), r[2]) for r in reversed(rows)]

    async def delete_messages_before(self, cutoff: datetime) -> int:
        return rowcount(await self.pool.execute("DELETE FROM messages WHERE created_at < $1", aware(cutoff)))

    # --- durable jobs ----------------------------------------------------------------------------------------

    async def enqueue_job(self, kind: str, payload: dict[str, Any], run_at: datetime,
                          dedupe_key: str | None = None, max_attempts: int = 10) -> int | None:
        run_at = aware(run_at)
        job_id = await self.pool.fetchval(_INSERT_JOB, kind, json.dumps(payload, ensure_ascii=False), run_at,
                                          max_attempts, dedupe_key, payload.get("user_key"),
                                          datetime.now(run_at.tzinfo))
        return int(job_id) if job_id is not None else None

    async def claim_jobs(self, now: datetime, limit: int = 10, lease_s: float = 60.0,
                         kinds: tuple[str, ...] | None = None) -> list[Job]:
        """Due jobs (and jobs whose lease ran out: their worker died), leased to this caller for `lease_s`.

        `SKIP LOCKED` lets workers claim side by side without waiting on each other; a row another worker just
        claimed is re-checked against the WHERE clause after its commit, and no longer qualifies."""
        now = aware(now)
        kind_clause = " AND kind = ANY($4::text[])" if kinds else ""
        args: list[Any] = [now + timedelta(seconds=lease_s), now, limit, *([list(kinds)] if kinds else [])]
        rows = await self.pool.fetch(
            "WITH due AS (SELECT id FROM jobs"
            " WHERE ((status='pending' AND run_at<=$2) OR (status='claimed' AND lease_until<$2))"
            f"{kind_clause} ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)"
            " UPDATE jobs SET status='claimed', lease_until=$1, attempts=jobs.attempts+1, updated_at=$2"
            f" FROM due WHERE jobs.id = due.id RETURNING {', '.join('jobs.' + c for c in _JOB_COLUMNS.split(', '))}",
            *args)
        return sorted((_job(r) for r in rows), key=lambda job: (job.run_at, job.id))

    async def complete_job(self, job_id: int, now: datetime) -> None:
        await self.pool.execute("UPDATE jobs SET status='done', lease_until=NULL, updated_at=$2 WHERE id=$1",
                                job_id, aware(now))

    async def retry_job(self, job_id: int, error: str, run_at: datetime) -> None:
        """Back to pending at `run_at`, or failed for good once its attempts are used up."""
        await self.pool.execute(
            "UPDATE jobs SET status=CASE WHEN attempts>=max_attempts THEN 'failed' ELSE 'pending' END,"
            " run_at=$2, lease_until=NULL, last_error=$3, updated_at=$2 WHERE id=$1", job_id, aware(run_at),
            error[:200])

    async def cancel_jobs(self, dedupe_prefix: str) -> int:
        return rowcount(await self.pool.execute(
            "UPDATE jobs SET status='cancelled' WHERE status IN ('pending','claimed') AND dedupe_key LIKE $1",
            like_prefix(dedupe_prefix)))

    async def pending_jobs(self, kind: str | None = None) -> list[Job]:
        clause, args = ("AND kind=$1", [kind]) if kind else ("", [])
        rows = await self.pool.fetch(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status IN ('pending','claimed')"
                                     f" {clause} ORDER BY run_at, id", *args)
        return [_job(r) for r in rows]

    async def schedule_job(self, kind: str, payload: dict[str, Any], run_at: datetime, dedupe_key: str) -> bool:
        """Insert a job, or move a not-yet-run one with the same dedupe key; a job that ran, is running or failed
        keeps its key. Returns whether the job is now pending at `run_at`."""
        run_at = aware(run_at)
        job_id = await self.pool.fetchval(
            "INSERT INTO jobs (kind, payload, run_at, status, dedupe_key, user_key, created_at, updated_at)"
            " VALUES ($1, $2, $3, 'pending', $4, $5, $6, $6) ON CONFLICT (dedupe_key) DO UPDATE SET"
            " kind=excluded.kind, payload=excluded.payload, run_at=excluded.run_at, status='pending', attempts=0,"
            " lease_until=NULL, updated_at=excluded.updated_at WHERE jobs.status IN ('pending', 'cancelled')"
            " RETURNING id", kind, json.dumps(payload, ensure_ascii=False), run_at, dedupe_key,
            payload.get("user_key"), datetime.now(run_at.tzinfo))
        return job_id is not None

    async def job_status(self, job_id: int) -> str | None:
        status = await self.pool.fetchval("SELECT status FROM jobs WHERE id=$1", job_id)
        return str(status) if status is not None else None

    # --- audit and counters ----------------------------------------------------------------------------------

    async def audit(self, kind: str, now: datetime, user_key: str | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        await self.pool.execute("INSERT INTO audit_log (at, kind, user_key, detail) VALUES ($1, $2, $3, $4)",
                                aware(now), kind, user_key, json.dumps(detail or {}, ensure_ascii=False))

    async def audit_entries(self, user_key: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        clauses, args = [], []
        for column, value in (("user_key", user_key), ("kind", kind)):
            if value is not None:
                args.append(value)
                clauses.append(f"{column}=${len(args)}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self.pool.fetch(f"SELECT at, kind, user_key, detail FROM audit_log {where} ORDER BY id", *args)
        return [{"at": _iso(r[0]), "kind": r[1], "user_key": r[2], "detail": json.loads(r[3])} for r in rows]

    async def bump_counter(self, name: str, period: str, dims: str = "") -> None:
        await self.pool.execute(
            "INSERT INTO counters (name, period, dims, count) VALUES ($1, $2, $3, 1)"
            " ON CONFLICT (name, period, dims) DO UPDATE SET count=counters.count+1", name, period, dims)

    async def counters(self, name: str | None = None) -> list[tuple[str, str, str, int]]:
        clause, args = ("WHERE name=$1", [name]) if name else ("", [])
        rows = await self.pool.fetch(f"SELECT name, period, dims, count FROM counters {clause}"
                                     " ORDER BY name, period, dims", *args)
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    # --- crisis cases ----------------------------------------------------------------------------------------

    async def open_case(self, *, case_id: str, user_key: str, address: dict[str, Any], platform: str, level: str,
                        signals: tuple[str, ...], now: datetime, job_kind: str,
                        job_payload: dict[str, Any]) -> tuple[Case, bool]:
        """One open case per person; a new crisis while one is open raises its level instead. The case and its
        first notification job commit together. A per-person transaction lock keeps two workers that see two of
        the person's conversations at once from opening two cases."""
        sealed = self._cipher.encrypt(json.dumps(address), "address")
        stamp, signal_text = aware(now), json.dumps(list(signals))
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _CASE_LOCK_NAMESPACE, user_key)
            existing = await connection.fetchrow(
                f"SELECT {_CASE_COLUMNS} FROM cases WHERE user_key=$1 AND status != 'resolved'"
                " ORDER BY created_at DESC LIMIT 1", user_key)
            if existing is not None:
                if CASE_LEVELS.index(level) > CASE_LEVELS.index(existing[4]):
                    await connection.execute("UPDATE cases SET level=$2, signals=$3, updated_at=$4 WHERE case_id=$1",
                                             existing[0], level, signal_text, stamp)
                row = await connection.fetchrow(f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_id=$1", existing[0])
                return self._case(row), False
            await connection.execute(
                "INSERT INTO cases (case_id, user_key, address, platform, level, signals, status, created_at,"
                " updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $7)",
                case_id, user_key, sealed, platform, level, signal_text, stamp)
            await connection.execute(_INSERT_JOB, job_kind, json.dumps(job_payload), stamp, 20,
                                     f"notify:{case_id}:0", user_key, stamp)
            row = await connection.fetchrow(f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_id=$1", case_id)
        return self._case(row), True

    async def get_case(self, case_id: str) -> Case | None:
        row = await self.pool.fetchrow(f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_id=$1", case_id)
        return self._case(row) if row else None

    async def update_case(self, case_id: str, now: datetime, **fields: Any) -> None:
        if set(fields) - _CASE_FIELDS:
            raise ValueError(f"unknown case fields: {sorted(set(fields) - _CASE_FIELDS)}")
        assignments = "".join(f"{name}=${i}, " for i, name in enumerate(fields, start=3))
        await self.pool.execute(f"UPDATE cases SET {assignments}updated_at=$2 WHERE case_id=$1", case_id,
                                aware(now), *fields.values())

    def _case(self, row: Any) -> Case:
        return Case(case_id=row[0], user_key=row[1], address=json.loads(self._cipher.decrypt(row[2], "address")),
                    platform=row[3], level=row[4], signals=tuple(json.loads(row[5])), status=row[6],
                    destination_index=row[7], destination_notices=row[8], notices_sent=row[9], claimed_by=row[10],
                    created_at=row[11], updated_at=row[12])

    # --- key rotation ---------------------------------------------------------------------------------------

    async def rotate_key(self, new_cipher: FieldCipher) -> int:
        """Re-encrypt every protected field under a new key in one transaction (all or nothing); plain fields
        written before a key was configured are encrypted too. Returns the number of fields rewritten."""
        old, changed = self._cipher, 0
        async with self.pool.acquire() as connection, connection.transaction():
            for table, key, column, context in ENCRYPTED_COLUMNS:
                rows = await connection.fetch(f"SELECT {key}, {column} FROM {table} FOR UPDATE")
                updates = []
                for row_key, value in rows:
                    plain = old.decrypt(value, context)
                    if value.startswith("enc1:") and plain.startswith("[unreadable"):
                        raise ValueError(f"{table}.{column}: stored data does not decrypt with the current key")
                    updates.append((new_cipher.encrypt(plain, context), row_key))
                if updates:
                    await connection.executemany(f"UPDATE {table} SET {column}=$1 WHERE {key}=$2", updates)
                changed += len(updates)
        self._cipher = new_cipher
        return changed

    # --- wellbeing history: moods and screenings ----------------------------------------------------------

    async def add_mood(self, user_key: str, at: datetime, score: int, emotions: tuple[str, ...] = (),
                       note: str = "") -> int:
        return int(await self.pool.fetchval(
            "INSERT INTO mood_entries (user_key, at, score, emotions, note) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            user_key, aware(at), int(score), self._cipher.encrypt(json.dumps(list(emotions)), "mood"),
            self._cipher.encrypt(note, "mood")))

    async def update_mood(self, user_key: str, entry_id: int, *, emotions: tuple[str, ...] | None = None,
                          note: str | None = None) -> None:
        """Add the emotion words or the note to an entry recorded a moment ago (only the person's own entry)."""
        if emotions is not None:
            await self.pool.execute("UPDATE mood_entries SET emotions=$1 WHERE id=$2 AND user_key=$3",
                                    self._cipher.encrypt(json.dumps(list(emotions)), "mood"), entry_id, user_key)
        if note is not None:
            await self.pool.execute("UPDATE mood_entries SET note=$1 WHERE id=$2 AND user_key=$3",
                                    self._cipher.encrypt(note, "mood"), entry_id, user_key)

    async def moods(self, user_key: str, since: datetime | None = None) -> list[MoodEntry]:
        """The person's mood entries, oldest first (from `since` on, when given)."""
        rows = await self.pool.fetch(
            "SELECT id, at, score, emotions, note FROM mood_entries WHERE user_key=$1"
            " AND ($2::timestamptz IS NULL OR at>=$2) ORDER BY at, id", user_key, _maybe(since))
        return [MoodEntry(r[0], r[1], r[2], tuple(self._json_list(r[3], "mood")), self._cipher.decrypt(r[4], "mood"))
                for r in rows]

    def _json_list(self, stored: str, context: str) -> list[Any]:
        try:
            value = json.loads(self._cipher.decrypt(stored, context) or "[]")
        except ValueError:   # "[encrypted]" without the key: show nothing rather than fail
            return []
        return value if isinstance(value, list) else []

    async def add_screening(self, user_key: str, at: datetime, questionnaire: str, score: int, band: str,
                            answers: tuple[int, ...]) -> int:
        return int(await self.pool.fetchval(
            "INSERT INTO screenings (user_key, at, questionnaire, score, band, answers)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", user_key, aware(at), questionnaire, int(score), band,
            self._cipher.encrypt(json.dumps(list(answers)), "screening")))

    async def screenings(self, user_key: str, limit: int = 20) -> list[ScreeningRecord]:
        """The person's completed screenings, newest first."""
        rows = await self.pool.fetch("SELECT id, at, questionnaire, score, band, answers FROM screenings"
                                     " WHERE user_key=$1 ORDER BY at DESC, id DESC LIMIT $2", user_key, limit)
        return [ScreeningRecord(r[0], r[1], r[2], r[3], r[4], tuple(int(a) for a in self._json_list(r[5], "screening")))
                for r in rows]

    # --- data rights -----------------------------------------------------------------------------------------

    async def export_user(self, user_key: str) -> dict[str, Any]:
        """Everything stored about the person, decrypted, in the same shape as SqliteStore's export."""
        user = await self.pool.fetchrow(_SELECT_USER, user_key)
        if user is None:
            return {}
        async with self.pool.acquire() as connection:
            messages = await connection.fetch("SELECT direction, text, created_at FROM messages WHERE user_key=$1"
                                              " ORDER BY id", user_key)
            states = await connection.fetch("SELECT state FROM conversations WHERE user_key=$1", user_key)
            bookings = await connection.fetch(
                "SELECT booking_id, provider_id, starts_at, ends_at, modality, status, details FROM appointments"
                " WHERE user_key=$1 ORDER BY starts_at", user_key)
            intakes = await connection.fetch("SELECT booking_id, answers, shared, created_at FROM intakes"
                                             " WHERE user_key=$1 ORDER BY id", user_key)
        return {
            "profile": json.loads(self._cipher.decrypt(user[3], "profile")),
            "platform": user[1], "created_at": _iso(user[2]),
            "consent": {"version": user[4], "at": _iso(user[5])}, "disclosure_shown_at": _iso(user[6]),
            "last_seen_at": _iso(user[7]),
            "conversations": [json.loads(self._cipher.decrypt(s[0], "state")) for s in states],
            "messages": [{"direction": m[0], "text": self._cipher.decrypt(m[1], "message"), "at": _iso(m[2])}
                         for m in messages],
            "audit": [{"at": a["at"], "kind": a["kind"], "detail": a["detail"]}
                      for a in await self.audit_entries(user_key=user_key)],
            "moods": [{"at": _iso(m.at), "score": m.score, "emotions": list(m.emotions), "note": m.note}
                      for m in await self.moods(user_key)],
            "screenings": [{"at": _iso(s.at), "questionnaire": s.questionnaire, "score": s.score, "band": s.band,
                            "answers": list(s.answers)} for s in reversed(await self.screenings(user_key, 10_000))],
            "appointments": [{"booking": b[0], "provider": b[1], "starts_at": _iso(b[2]), "ends_at": _iso(b[3]),
                              "modality": b[4], "status": b[5],
                              "details": self._cipher.decrypt(b[6], "appointment")} for b in bookings],
            "intakes": [{"booking": i[0], "shared": bool(i[2]), "at": _iso(i[3]),
                         "answers": self._cipher.decrypt(i[1], "intake")} for i in intakes],
        }

    async def erase_user(self, user_key: str) -> None:
        """Everything about the person, in one transaction. Non-identifying counters stay."""
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("UPDATE processed_events SET reply=NULL WHERE reply IS NOT NULL AND"
                                     " split_part(event_id, ':', 1) IN (SELECT conv_key FROM conversations"
                                     " WHERE user_key=$1)", user_key)
            for table in ("messages", "cases", "mood_entries", "screenings", "conversations", "appointments",
                          "intakes", "jobs", "audit_log", "users"):
                await connection.execute(f"DELETE FROM {table} WHERE user_key=$1", user_key)


async def _claim(connection: Any, platform: str, event_id: str, now: datetime, stale_after_s: float) -> EventClaim:
    """New events are taken; finished or in-flight ones are duplicates; one taken long ago and never finished
    belonged to a worker that died and is taken over once (a compare-and-set on `received_at`, so two workers
    recovering it together cannot both win)."""
    inserted = await connection.fetchval(
        "INSERT INTO processed_events (platform, event_id, status, received_at) VALUES ($1, $2, 'received', $3)"
        " ON CONFLICT DO NOTHING RETURNING 1", platform, event_id, now)
    if inserted is not None:
        return EventClaim.NEW
    row = await connection.fetchrow("SELECT status, received_at, reply IS NOT NULL FROM processed_events"
                                    " WHERE platform=$1 AND event_id=$2", platform, event_id)
    if row is not None and row[0] == "done" and row[2]:
        return EventClaim.REPLAY
    if row is None or row[0] == "done" or now - row[1] < timedelta(seconds=stale_after_s):
        return EventClaim.DUPLICATE
    taken = await connection.fetchval(
        "UPDATE processed_events SET received_at=$1 WHERE platform=$2 AND event_id=$3 AND received_at=$4"
        " AND status='received' RETURNING 1", now, platform, event_id, row[1])
    return EventClaim.RECOVER if taken is not None else EventClaim.DUPLICATE
