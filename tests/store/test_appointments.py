"""AppointmentStore on both backends: the flows call the same methods whatever database is underneath."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from bot.flows.appointments_store import AppointmentStore, JobSpec, SlotTaken, reminder_prefix
from bot.flows.availability import Slot
from tests.store.conftest import Backend

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
START = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


def a_slot(provider: str = "sam", start: datetime = START) -> Slot:
    """A 50-minute slot; the store reads only the provider's id."""
    return Slot(provider=SimpleNamespace(id=provider), start=start, end=start + timedelta(minutes=50))  # type: ignore[arg-type]


def reminders(booking_id: str, start: datetime, sequence: int = 0) -> list[JobSpec]:
    return [JobSpec("appt_reminder", {"booking": booking_id}, start - timedelta(hours=hours),
                    f"{reminder_prefix(booking_id)}{sequence}:{hours}h") for hours in (24, 1)]


async def test_book_move_cancel_with_their_reminders(store: Any) -> None:
    appointments = AppointmentStore(store)
    booked = await appointments.book(booking_id="HB-1", user_key="u1", slot=a_slot(), modality="video",
                                     details={"name": "Sam", "lang": "en"}, now=NOW, jobs=reminders("HB-1", START))
    assert (booked.start, booked.end, booked.status, booked.sequence) == (START, START + timedelta(minutes=50),
                                                                          "booked", 0)
    assert booked.shared_name == "Sam" and booked.created_at == NOW
    assert sorted(j.dedupe_key for j in await store.pending_jobs()) == ["appt:HB-1:rem:0:1h", "appt:HB-1:rem:0:24h"]
    later = START + timedelta(days=1)
    moved = await appointments.move(booked, a_slot(start=later), now=NOW, jobs=reminders("HB-1", later, 1)[:1])
    assert moved.start == later and moved.sequence == 1
    assert [(j.dedupe_key, j.run_at) for j in await store.pending_jobs()] == [
        ("appt:HB-1:rem:1:24h", later - timedelta(hours=24))]
    assert await appointments.get("HB-1") == moved
    assert await appointments.upcoming("u1", NOW) == [moved]
    assert await appointments.for_provider("sam", later, later + timedelta(hours=1)) == [moved]
    assert await appointments.taken(["sam", "kim"], NOW, later + timedelta(days=1)) == {
        "sam": [(later, later + timedelta(minutes=50))]}
    assert await appointments.taken([], NOW, later) == {}
    assert await appointments.cancel(moved, now=NOW, jobs=[]) is True
    assert await store.pending_jobs() == []
    assert await appointments.cancel(moved, now=NOW, jobs=[]) is False
    assert await appointments.upcoming("u1", NOW) == [] and await appointments.get("nope") is None


async def test_a_cancelled_slot_can_be_booked_again(store: Any) -> None:
    appointments = AppointmentStore(store)
    first = await appointments.book(booking_id="HB-1", user_key="u1", slot=a_slot(), modality="video", details={},
                                    now=NOW, jobs=[])
    with pytest.raises(SlotTaken):
        await appointments.book(booking_id="HB-2", user_key="u2", slot=a_slot(), modality="phone", details={},
                                now=NOW, jobs=[])
    await appointments.cancel(first, now=NOW, jobs=[])
    second = await appointments.book(booking_id="HB-2", user_key="u2", slot=a_slot(), modality="phone", details={},
                                     now=NOW, jobs=[])
    assert second.user_key == "u2"


async def test_two_workers_pressing_one_slot_get_one_booking(backend: Backend) -> None:
    stores = [await backend.open(), await backend.open()]

    async def attempt(n: int) -> str:
        try:
            await AppointmentStore(stores[n % 2]).book(booking_id=f"HB-{n}", user_key=f"u{n}", slot=a_slot(),
                                                       modality="video", details={}, now=NOW,
                                                       jobs=reminders(f"HB-{n}", START))
        except SlotTaken:
            return "taken"
        return "booked"

    outcomes = await asyncio.gather(*(attempt(n) for n in range(6)))
    assert sorted(outcomes) == ["booked"] + ["taken"] * 5
    winner = f"HB-{outcomes.index('booked')}"
    assert [a.booking_id for a in await AppointmentStore(stores[0]).for_provider("sam", START, START)] == []
    assert [a.booking_id for a in await AppointmentStore(stores[0]).for_provider(
        "sam", START, START + timedelta(minutes=1))] == [winner]
    # The losers' reminders were rolled back with their bookings.
    assert {j.payload["booking"] for j in await stores[1].pending_jobs()} == {winner}


async def test_intake_answers_are_kept_only_when_shared(store: Any) -> None:
    appointments = AppointmentStore(store)
    assert not await appointments.has_intake("u1")
    await appointments.save_intake(user_key="u1", booking_id="HB-1", answers=None, now=NOW, jobs=[])
    assert await appointments.has_intake("u1") and await appointments.shared_intake("HB-1") is None
    intake_id = await appointments.save_intake(user_key="u1", booking_id="HB-1", answers={"topic": "sleep"},
                                               now=NOW, jobs=[JobSpec("intake_notice", {}, NOW, "intake:HB-1")])
    assert intake_id > 0
    assert await appointments.shared_intake("HB-1") == {"topic": "sleep"}
    assert [j.dedupe_key for j in await store.pending_jobs()] == ["intake:HB-1"]
