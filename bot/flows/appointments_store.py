"""Appointments and intakes in the store's own SQLite connection, beside (not inside) SqliteStore.

A booking, its reminders and its staff notice are written in one transaction (the store's group commit), so a
crash can never leave a booking nobody is reminded or told about. Two people pressing the same slot race on
the database's unique index: one insert wins, the other gets `SlotTaken` and is offered the next times.
Cancelling or moving a booking cancels its pending reminders in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bot.flows.availability import Interval, Slot

_COLUMNS = "booking_id, user_key, provider_id, starts_at, ends_at, modality, status, sequence, details, created_at"
_INSERT_JOB = ("INSERT INTO jobs (kind, payload, run_at, status, max_attempts, dedupe_key, user_key, created_at,"
               " updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING")


class SlotTaken(Exception):
    """Someone else booked this provider at this time a moment earlier."""


def utc(value: datetime) -> str:
    """The one spelling of an instant in these tables: the unique index compares text."""
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def reminder_prefix(booking_id: str) -> str:
    return f"appt:{booking_id}:rem:"


@dataclass(frozen=True, slots=True)
class JobSpec:
    kind: str
    payload: dict[str, Any]
    run_at: datetime
    dedupe_key: str
    max_attempts: int = 10


@dataclass(frozen=True, slots=True)
class Appointment:
    booking_id: str
    user_key: str
    provider_id: str
    start: datetime
    end: datetime
    modality: str
    status: str
    sequence: int
    #: Decrypted: `address` (where to remind the person), `name` (only if they chose to share one), `topic`, `lang`.
    details: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None

    @property
    def shared_name(self) -> str | None:
        return self.details.get("name") or None


class AppointmentStore:
    def __init__(self, store: Any) -> None:
        self._store = store   # SqliteStore: its connection, group commit and field cipher

    def _seal(self, details: dict[str, Any]) -> str:
        # Read the cipher at call time: `haven rotate-key` replaces it on the store.
        return self._store._cipher.encrypt(json.dumps(details, ensure_ascii=False), "appointment")

    def _row(self, row: Any) -> Appointment:
        details = self._store._cipher.decrypt(row[8], "appointment")
        try:
            decoded = json.loads(details)
        except ValueError:   # "[encrypted]" without the key
            decoded = {}
        return Appointment(booking_id=row[0], user_key=row[1], provider_id=row[2],
                           start=datetime.fromisoformat(row[3]), end=datetime.fromisoformat(row[4]), modality=row[5],
                           status=row[6], sequence=row[7], details=decoded, created_at=datetime.fromisoformat(row[9]))

    # --- writes ----------------------------------------------------------------------------------------------

    async def book(self, *, booking_id: str, user_key: str, slot: Slot, modality: str, details: dict[str, Any],
                   now: datetime, jobs: list[JobSpec]) -> Appointment:
        sealed, stamp = self._seal(details), utc(now)

        def write(connection: sqlite3.Connection) -> Any:
            connection.execute(
                f"INSERT INTO appointments ({_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'booked', 0, ?, ?, ?)",
                (booking_id, user_key, slot.provider.id, utc(slot.start), utc(slot.end), modality, sealed, stamp,
                 stamp))
            _insert_jobs(connection, jobs, user_key, stamp)
            return connection.execute(f"SELECT {_COLUMNS} FROM appointments WHERE booking_id=?",
                                      (booking_id,)).fetchone()

        return self._row(await self._commit(write))

    async def move(self, appointment: Appointment, slot: Slot, *, now: datetime,
                   jobs: list[JobSpec]) -> Appointment:
        """Reschedule to `slot` (same provider): old reminders cancelled, new ones and a staff notice queued."""
        stamp = utc(now)

        def write(connection: sqlite3.Connection) -> Any:
            changed = connection.execute(
                "UPDATE appointments SET starts_at=?, ends_at=?, sequence=sequence+1, updated_at=?"
                " WHERE booking_id=? AND status='booked'",
                (utc(slot.start), utc(slot.end), stamp, appointment.booking_id)).rowcount
            if changed:
                _cancel_prefix(connection, reminder_prefix(appointment.booking_id))
                _insert_jobs(connection, jobs, appointment.user_key, stamp)
            return connection.execute(f"SELECT {_COLUMNS} FROM appointments WHERE booking_id=?",
                                      (appointment.booking_id,)).fetchone()

        return self._row(await self._commit(write))

    async def cancel(self, appointment: Appointment, *, now: datetime, jobs: list[JobSpec]) -> bool:
        """Cancel a booked appointment and its reminders; False when it was not booked any more."""
        stamp = utc(now)

        def write(connection: sqlite3.Connection) -> bool:
            changed = connection.execute(
                "UPDATE appointments SET status='cancelled', sequence=sequence+1, updated_at=?"
                " WHERE booking_id=? AND status='booked'", (stamp, appointment.booking_id)).rowcount
            if changed:
                _cancel_prefix(connection, reminder_prefix(appointment.booking_id))
                _insert_jobs(connection, jobs, appointment.user_key, stamp)
            return bool(changed)

        return bool(await self._commit(write))

    async def _commit(self, write: Any) -> Any:
        try:
            return await self._store._batched(write)
        except sqlite3.IntegrityError as exc:
            if "appointments" in str(exc):
                raise SlotTaken() from None
            raise

    async def save_intake(self, *, user_key: str, booking_id: str, answers: dict[str, Any] | None, now: datetime,
                          jobs: list[JobSpec]) -> int:
        """Record that intake was offered and answered. Answers are kept (encrypted) only when the person agreed
        to share them; otherwise only the fact that they were asked remains, so they are not asked again."""
        sealed = self._store._cipher.encrypt(json.dumps(answers, ensure_ascii=False), "intake") if answers else ""
        stamp = utc(now)

        def write(connection: sqlite3.Connection) -> int:
            cursor = connection.execute(
                "INSERT INTO intakes (user_key, booking_id, answers, shared, created_at) VALUES (?, ?, ?, ?, ?)",
                (user_key, booking_id, sealed, int(bool(answers)), stamp))
            _insert_jobs(connection, jobs, user_key, stamp)
            return int(cursor.lastrowid or 0)

        return int(await self._store._batched(write))

    # --- reads -----------------------------------------------------------------------------------------------

    async def get(self, booking_id: str) -> Appointment | None:
        rows = await self._store.db.execute_fetchall(f"SELECT {_COLUMNS} FROM appointments WHERE booking_id=?",
                                                     (booking_id,))
        row = next(iter(rows), None)
        return self._row(row) if row else None

    async def upcoming(self, user_key: str, now: datetime) -> list[Appointment]:
        rows = await self._store.db.execute_fetchall(
            f"SELECT {_COLUMNS} FROM appointments WHERE user_key=? AND status='booked' AND ends_at>?"
            " ORDER BY starts_at", (user_key, utc(now)))
        return [self._row(r) for r in rows]

    async def for_provider(self, provider_id: str, start: datetime, end: datetime) -> list[Appointment]:
        """Booked appointments of one provider starting in [start, end): the staff day list."""
        rows = await self._store.db.execute_fetchall(
            f"SELECT {_COLUMNS} FROM appointments WHERE provider_id=? AND status='booked' AND starts_at>=?"
            " AND starts_at<? ORDER BY starts_at", (provider_id, utc(start), utc(end)))
        return [self._row(r) for r in rows]

    async def taken(self, provider_ids: list[str], after: datetime, until: datetime) -> dict[str, list[Interval]]:
        if not provider_ids:
            return {}
        marks = ",".join("?" * len(provider_ids))
        rows = await self._store.db.execute_fetchall(
            f"SELECT provider_id, starts_at, ends_at FROM appointments WHERE status='booked'"
            f" AND provider_id IN ({marks}) AND ends_at>? AND starts_at<?", (*provider_ids, utc(after), utc(until)))
        out: dict[str, list[Interval]] = {}
        for pid, start, end in rows:
            out.setdefault(pid, []).append((datetime.fromisoformat(start), datetime.fromisoformat(end)))
        return out

    async def has_intake(self, user_key: str) -> bool:
        rows = await self._store.db.execute_fetchall("SELECT 1 FROM intakes WHERE user_key=? LIMIT 1", (user_key,))
        return bool(list(rows))

    async def shared_intake(self, booking_id: str) -> dict[str, Any] | None:
        rows = await self._store.db.execute_fetchall(
            "SELECT answers FROM intakes WHERE booking_id=? AND shared=1 ORDER BY id DESC LIMIT 1", (booking_id,))
        row = next(iter(rows), None)
        if row is None:
            return None
        try:
            value = json.loads(self._store._cipher.decrypt(row[0], "intake"))
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


def _insert_jobs(connection: sqlite3.Connection, jobs: list[JobSpec], user_key: str, stamp: str) -> None:
    for job in jobs:
        connection.execute(_INSERT_JOB, (job.kind, json.dumps(job.payload, ensure_ascii=False), utc(job.run_at),
                                         job.max_attempts, job.dedupe_key, user_key, stamp, stamp))


def _cancel_prefix(connection: sqlite3.Connection, prefix: str) -> None:
    """`Store.cancel_jobs(prefix)` inside this transaction: cancelled together with the booking change."""
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    connection.execute("UPDATE jobs SET status='cancelled' WHERE status IN ('pending','claimed')"
                       " AND dedupe_key LIKE ? ESCAPE '\\'", (pattern,))
