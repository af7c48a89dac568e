"""Appointments on the PostgreSQL store: its pool and field cipher, one transaction per booking change.

Several workers may book at once; the partial unique index on (provider_id, starts_at) for booked rows makes a
double booking impossible, and its unique violation becomes `SlotTaken`. Instants are timestamptz, truncated to
whole seconds like the SQLite spelling (`utc`), so a slot is the same slot on both backends.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import asyncpg

from bot.flows.appointments_store import (COLUMNS, Appointment, AppointmentStore, JobSpec, SlotTaken, like_prefix,
                                          reminder_prefix)
from bot.flows.availability import Interval, Slot

_INSERT_JOB = ("INSERT INTO jobs (kind, payload, run_at, status, max_attempts, dedupe_key, user_key, created_at,"
               " updated_at) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $7) ON CONFLICT (dedupe_key) DO NOTHING")
_SELECT = f"SELECT {COLUMNS} FROM appointments"


def instant(value: datetime) -> datetime:
    """Whole seconds, UTC (a naive value is read as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).replace(microsecond=0)


class PostgresAppointments(AppointmentStore):
    @property
    def _pool(self) -> asyncpg.Pool:
        return self._store.pool

    def _row(self, row: Any) -> Appointment:
        return self._appointment(row, row[3], row[4], row[9])

    async def book(self, *, booking_id: str, user_key: str, slot: Slot, modality: str, details: dict[str, Any],
                   now: datetime, jobs: list[JobSpec]) -> Appointment:
        sealed, stamp = self._seal(details), instant(now)
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                await connection.execute(
                    f"INSERT INTO appointments ({COLUMNS}, updated_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, 'booked', 0, $7, $8, $8)", booking_id, user_key,
                    slot.provider.id, instant(slot.start), instant(slot.end), modality, sealed, stamp)
                await _insert_jobs(connection, jobs, user_key, stamp)
                row = await connection.fetchrow(f"{_SELECT} WHERE booking_id=$1", booking_id)
        except asyncpg.UniqueViolationError as exc:
            if exc.table_name == "appointments":
                raise SlotTaken() from None
            raise
        return self._row(row)

    async def move(self, appointment: Appointment, slot: Slot, *, now: datetime,
                   jobs: list[JobSpec]) -> Appointment:
        stamp = instant(now)
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                changed = await connection.fetchval(
                    "UPDATE appointments SET starts_at=$1, ends_at=$2, sequence=sequence+1, updated_at=$3"
                    " WHERE booking_id=$4 AND status='booked' RETURNING 1", instant(slot.start), instant(slot.end),
                    stamp, appointment.booking_id)
                if changed:
                    await _cancel_prefix(connection, reminder_prefix(appointment.booking_id))
                    await _insert_jobs(connection, jobs, appointment.user_key, stamp)
                row = await connection.fetchrow(f"{_SELECT} WHERE booking_id=$1", appointment.booking_id)
        except asyncpg.UniqueViolationError as exc:
            if exc.table_name == "appointments":
                raise SlotTaken() from None
            raise
        return self._row(row)

    async def cancel(self, appointment: Appointment, *, now: datetime, jobs: list[JobSpec]) -> bool:
        stamp = instant(now)
        async with self._pool.acquire() as connection, connection.transaction():
            changed = await connection.fetchval(
                "UPDATE appointments SET status='cancelled', sequence=sequence+1, updated_at=$1"
                " WHERE booking_id=$2 AND status='booked' RETURNING 1", stamp, appointment.booking_id)
            if changed:
                await _cancel_prefix(connection, reminder_prefix(appointment.booking_id))
                await _insert_jobs(connection, jobs, appointment.user_key, stamp)
        return bool(changed)

    async def save_intake(self, *, user_key: str, booking_id: str, answers: dict[str, Any] | None, now: datetime,
                          jobs: list[JobSpec]) -> int:
        sealed, stamp = self._seal_intake(answers), instant(now)
        async with self._pool.acquire() as connection, connection.transaction():
            intake_id = await connection.fetchval(
                "INSERT INTO intakes (user_key, booking_id, answers, shared, created_at) VALUES ($1, $2, $3, $4, $5)"
                " RETURNING id", user_key, booking_id, sealed, bool(answers), stamp)
            await _insert_jobs(connection, jobs, user_key, stamp)
        return int(intake_id)

    async def get(self, booking_id: str) -> Appointment | None:
        row = await self._pool.fetchrow(f"{_SELECT} WHERE booking_id=$1", booking_id)
        return self._row(row) if row else None

    async def upcoming(self, user_key: str, now: datetime) -> list[Appointment]:
        rows = await self._pool.fetch(f"{_SELECT} WHERE user_key=$1 AND status='booked' AND ends_at>$2"
                                      " ORDER BY starts_at", user_key, instant(now))
        return [self._row(r) for r in rows]

    async def for_provider(self, provider_id: str, start: datetime, end: datetime) -> list[Appointment]:
        rows = await self._pool.fetch(f"{_SELECT} WHERE provider_id=$1 AND status='booked' AND starts_at>=$2"
                                      " AND starts_at<$3 ORDER BY starts_at", provider_id, instant(start),
                                      instant(end))
        return [self._row(r) for r in rows]

    async def taken(self, provider_ids: list[str], after: datetime, until: datetime) -> dict[str, list[Interval]]:
        if not provider_ids:
            return {}
        rows = await self._pool.fetch(
            "SELECT provider_id, starts_at, ends_at FROM appointments WHERE status='booked'"
            " AND provider_id = ANY($1::text[]) AND ends_at>$2 AND starts_at<$3", list(provider_ids),
            instant(after), instant(until))
        out: dict[str, list[Interval]] = {}
        for pid, start, end in rows:
            out.setdefault(pid, []).append((start, end))
        return out

    async def has_intake(self, user_key: str) -> bool:
        return await self._pool.fetchval("SELECT 1 FROM intakes WHERE user_key=$1 LIMIT 1", user_key) is not None

    async def shared_intake(self, booking_id: str) -> dict[str, Any] | None:
        stored = await self._pool.fetchval(
            "SELECT answers FROM intakes WHERE booking_id=$1 AND shared ORDER BY id DESC LIMIT 1", booking_id)
        return self._open_intake(stored) if stored is not None else None


async def _insert_jobs(connection: Any, jobs: list[JobSpec], user_key: str, stamp: datetime) -> None:
    if jobs:
        await connection.executemany(_INSERT_JOB, [
            (job.kind, json.dumps(job.payload, ensure_ascii=False), instant(job.run_at), job.max_attempts,
             job.dedupe_key, user_key, stamp) for job in jobs])


async def _cancel_prefix(connection: Any, prefix: str) -> None:
    """`Store.cancel_jobs(prefix)` inside this transaction: cancelled together with the booking change."""
    await connection.execute("UPDATE jobs SET status='cancelled' WHERE status IN ('pending','claimed')"
                             " AND dedupe_key LIKE $1", like_prefix(prefix))
