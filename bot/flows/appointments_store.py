"""Appointments and intakes beside (not inside) the core store, on whichever backend it runs.

`AppointmentStore(store)` is the one entry the flows use; it hands back the implementation for the store's
backend (appointments_sqlite.py or appointments_pg.py), so flows never see which database is underneath.

A booking, its reminders and its staff notice are written in one transaction, so a
crash can never leave a booking nobody is reminded or told about. Two people pressing the same slot race on
the database's unique index: one insert wins, the other gets `SlotTaken` and is offered the next times.
Cancelling or moving a booking cancels its pending reminders in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bot.flows.availability import Interval, Slot

#: The columns every backend reads, in this order (see `AppointmentStore._appointment`).
COLUMNS = "booking_id, user_key, provider_id, starts_at, ends_at, modality, status, sequence, details, created_at"


class SlotTaken(Exception):
    """Someone else booked this provider at this time a moment earlier."""


def utc(value: datetime) -> str:
    """The one spelling of an instant (whole seconds, UTC): on SQLite the unique index compares this text."""
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def like_prefix(prefix: str) -> str:
    """A LIKE pattern (escape character backslash) that matches `prefix` literally."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


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
    """Bookings and intakes. Construct with the core store; the instance is the backend for that store.

    A booking, its reminders and its staff notice are written in one transaction. Two people pressing the same
    slot race on the database's partial unique index: one insert wins, the other gets `SlotTaken`."""

    def __new__(cls, store: Any) -> AppointmentStore:
        if cls is AppointmentStore:
            from bot.store.sqlite import SqliteStore
            if isinstance(store, SqliteStore):
                from bot.flows.appointments_sqlite import SqliteAppointments
                return super().__new__(SqliteAppointments)
            from bot.store.postgres import PostgresStore
            if isinstance(store, PostgresStore):
                from bot.flows.appointments_pg import PostgresAppointments
                return super().__new__(PostgresAppointments)
            raise TypeError(f"appointments need a SqliteStore or a PostgresStore, not {type(store).__name__}")
        return super().__new__(cls)

    def __init__(self, store: Any) -> None:
        self._store = store

    def _seal(self, details: dict[str, Any]) -> str:
        # Read the cipher at call time: `haven rotate-key` replaces it on the store.
        return str(self._store.cipher.encrypt(json.dumps(details, ensure_ascii=False), "appointment"))

    def _seal_intake(self, answers: dict[str, Any] | None) -> str:
        return str(self._store.cipher.encrypt(json.dumps(answers, ensure_ascii=False), "intake")) if answers else ""

    def _open_intake(self, stored: str) -> dict[str, Any] | None:
        try:
            value = json.loads(self._store.cipher.decrypt(stored, "intake"))
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _appointment(self, row: Any, start: datetime, end: datetime, created: datetime) -> Appointment:
        """A row in COLUMNS order; the backend has already turned its stored instants into datetimes."""
        try:
            details = json.loads(self._store.cipher.decrypt(row[8], "appointment"))
        except ValueError:   # "[encrypted]" without the key
            details = {}
        return Appointment(booking_id=row[0], user_key=row[1], provider_id=row[2], start=start, end=end,
                           modality=row[5], status=row[6], sequence=row[7], details=details, created_at=created)

    # --- the backend's part ----------------------------------------------------------------------------------

    async def book(self, *, booking_id: str, user_key: str, slot: Slot, modality: str, details: dict[str, Any],
                   now: datetime, jobs: list[JobSpec]) -> Appointment:
        """Book `slot`, its reminders and notices together; `SlotTaken` when someone else has it."""
        raise NotImplementedError

    async def move(self, appointment: Appointment, slot: Slot, *, now: datetime,
                   jobs: list[JobSpec]) -> Appointment:
        """Reschedule to `slot` (same provider): old reminders cancelled, new ones and a staff notice queued."""
        raise NotImplementedError

    async def cancel(self, appointment: Appointment, *, now: datetime, jobs: list[JobSpec]) -> bool:
        """Cancel a booked appointment and its reminders; False when it was not booked any more."""
        raise NotImplementedError

    async def save_intake(self, *, user_key: str, booking_id: str, answers: dict[str, Any] | None, now: datetime,
                          jobs: list[JobSpec]) -> int:
        """Record that intake was offered and answered. Answers are kept (encrypted) only when the person agreed
        to share them; otherwise only the fact that they were asked remains, so they are not asked again."""
        raise NotImplementedError

    async def get(self, booking_id: str) -> Appointment | None:
        raise NotImplementedError

    async def upcoming(self, user_key: str, now: datetime) -> list[Appointment]:
        raise NotImplementedError

    async def for_provider(self, provider_id: str, start: datetime, end: datetime) -> list[Appointment]:
        """Booked appointments of one provider starting in [start, end): the staff day list."""
        raise NotImplementedError

    async def taken(self, provider_ids: list[str], after: datetime, until: datetime) -> dict[str, list[Interval]]:
        raise NotImplementedError

    async def has_intake(self, user_key: str) -> bool:
        raise NotImplementedError

    async def shared_intake(self, booking_id: str) -> dict[str, Any] | None:
        raise NotImplementedError
