"""Appointments on the SQLite store: the same connection, group commit and field cipher as SqliteStore.

Writes run as one function on the database thread inside the store's group commit (`_batched`), so a booking and
its jobs commit together; the partial unique index refuses a second booking of a slot with an IntegrityError,
which becomes `SlotTaken`.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from bot.flows.appointments_store import (COLUMNS, Appointment, AppointmentStore, JobSpec, SlotTaken, like_prefix,
                                          reminder_prefix, utc)
from bot.flows.availability import Interval, Slot

_INSERT_JOB = ("INSERT INTO jobs (kind, payload, run_at, status, max_attempts, dedupe_key, user_key, created_at,"
               " updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING")


class SqliteAppointments(AppointmentStore):
    def _row(self, row: Any) -> Appointment:
        return self._appointment(row, datetime.fromisoformat(row[3]), datetime.fromisoformat(row[4]),
                                 datetime.fromisoformat(row[9]))

    async def book(self, *, booking_id: str, user_key: str, slot: Slot, modality: str, details: dict[str, Any],
                   now: datetime, jobs: list[JobSpec]) -> Appointment:
        sealed, stamp = self._seal(details), utc(now)

        def write(connection: sqlite3.Connection) -> Any:
            connection.execute(
                f"INSERT INTO appointments ({COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'booked', 0, ?, ?, ?)",
                (booking_id, user_key, slot.provider.id, utc(slot.start), utc(slot.end), modality, sealed, stamp,
                 stamp))
            _insert_jobs(connection, jobs, user_key, stamp)
            return connection.execute(f"SELECT {COLUMNS} FROM appointments WHERE booking_id=?",
                                      (booking_id,)).fetchone()

        return self._row(await self._commit(write))

    async def move(self, appointment: Appointment, slot: Slot, *, now: datetime,
                   jobs: list[JobSpec]) -> Appointment:
        stamp = utc(now)

        def write(connection: sqlite3.Connection) -> Any:
            changed = connection.execute(
                "UPDATE appointments SET starts_at=?, ends_at=?, sequence=sequence+1, updated_at=?"
                " WHERE booking_id=? AND status='booked'",
                (utc(slot.start), utc(slot.end), stamp, appointment.booking_id)).rowcount
            if changed:
                _cancel_prefix(connection, reminder_prefix(appointment.booking_id))
                _insert_jobs(connection, jobs, appointment.user_key, stamp)
            return connection.execute(f"SELECT {COLUMNS} FROM appointments WHERE booking_id=?",
                                      (appointment.booking_id,)).fetchone()

        return self._row(await self._commit(write))

    async def cancel(self, appointment: Appointment, *, now: datetime, jobs: list[JobSpec]) -> bool:
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
        sealed, stamp = self._seal_intake(answers), utc(now)

        def write(connection: sqlite3.Connection) -> int:
            cursor = connection.execute(
                "INSERT INTO intakes (user_key, booking_id, answers, shared, created_at) VALUES (?, ?, ?, ?, ?)",
                (user_key, booking_id, sealed, int(bool(answers)), stamp))
            _insert_jobs(connection, jobs, user_key, stamp)
            return int(cursor.lastrowid or 0)

        return int(await self._store._batched(write))

    async def get(self, booking_id: str) -> Appointment | None:
        rows = await self._store.db.execute_fetchall(f"SELECT {COLUMNS} FROM appointments WHERE booking_id=?",
                                                     (booking_id,))
        row = next(iter(rows), None)
        return self._row(row) if row else None

    async def upcoming(self, user_key: str, now: datetime) -> list[Appointment]:
        rows = await self._store.db.execute_fetchall(
            f"SELECT {COLUMNS} FROM appointments WHERE user_key=? AND status='booked' AND ends_at>?"
            " ORDER BY starts_at", (user_key, utc(now)))
        return [self._row(r) for r in rows]

    async def for_provider(self, provider_id: str, start: datetime, end: datetime) -> list[Appointment]:
        rows = await self._store.db.execute_fetchall(
            f"SELECT {COLUMNS} FROM appointments WHERE provider_id=? AND status='booked' AND starts_at>=?"
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
        return self._open_intake(row[0]) if row else None


def _insert_jobs(connection: sqlite3.Connection, jobs: list[JobSpec], user_key: str, stamp: str) -> None:
    for job in jobs:
        connection.execute(_INSERT_JOB, (job.kind, json.dumps(job.payload, ensure_ascii=False), utc(job.run_at),
                                         job.max_attempts, job.dedupe_key, user_key, stamp, stamp))


def _cancel_prefix(connection: sqlite3.Connection, prefix: str) -> None:
    """`Store.cancel_jobs(prefix)` inside this transaction: cancelled together with the booking change."""
    connection.execute("UPDATE jobs SET status='cancelled' WHERE status IN ('pending','claimed')"
                       " AND dedupe_key LIKE ? ESCAPE '\\'", (like_prefix(prefix),))
