"""Reminders are durable jobs: sent 24 h and 1 h before, moved with the booking, never after a cancellation,
and still sent after a restart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from adapters.memory import texts
from bot.events import Reply
from bot.flows.appointment_notices import REMINDER_JOB
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from tests.core.test_appointments_booking import MONDAY_2_MARCH, Rig, choose, rig, write_providers

UTC = timezone.utc
START = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)   # Tuesday 3 March 09:00 London (GMT): booked from Monday 07:00


def reminders_sent(r: Rig) -> list[str]:
    return [item.text for target, item in r.person.delivered if isinstance(item, Reply) and "Reminder" in item.text]


async def book_tuesday(r: Rig) -> None:
    out = await r.person.send("/book")
    out = await choose(r, await choose(r, out, "bk:topic"), "bk:lang")
    assert [b.label for b in out[0].buttons][3] == "Tue 3 Mar 09:00 – Sam Okafor"   # type: ignore[union-attr]
    out = await choose(r, await choose(r, await choose(r, out, "bk:slot", 3), "bk:how"), "bk:name", 1)
    assert "You're booked: Tue 3 Mar 09:00 GMT" in texts(await choose(r, out, "bk:ok"))


async def test_reminders_go_24h_and_1h_before_to_the_persons_chat(store: SqliteStore, directory: ResourceDirectory,
                                                                  tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    await r.person.send("/book")   # the person first appears; then book for Tuesday
    await book_tuesday(r)
    runs = sorted(job.run_at for job in await store.pending_jobs(REMINDER_JOB))
    assert runs == [START - timedelta(hours=24), START - timedelta(hours=1)]
    await r.runner.run_until_idle()
    assert reminders_sent(r) == []
    r.clock.now = START - timedelta(hours=24)
    await r.runner.run_until_idle()
    [first] = reminders_sent(r)
    assert "Sam Okafor on Tue 3 Mar 09:00 GMT (Video call)" in first
    assert r.person.delivered[-1][0].chat_id == "dm-user-1"
    r.clock.now = START - timedelta(minutes=59)
    await r.runner.run_until_idle()
    assert len(reminders_sent(r)) == 2
    r.clock.now = START + timedelta(hours=1)
    await r.runner.run_until_idle()
    assert len(reminders_sent(r)) == 2


async def test_a_cancelled_booking_is_never_reminded(store: SqliteStore, directory: ResourceDirectory,
                                                     tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    await book_tuesday(r)
    [booking] = await r.appointments.upcoming(r.user_key(), r.clock.now)
    leftover = await store.pending_jobs(REMINDER_JOB)
    out = await choose(r, await r.person.send("/appointments"), "bk:cancel")
    await choose(r, out, "bk:drop")
    assert await store.pending_jobs(REMINDER_JOB) == []
    # Even a reminder job that survived the cancellation (a crash between two writes, a replayed backup) is silent:
    # the handler re-reads the booking before it sends.
    for job in leftover:
        await store.enqueue_job(REMINDER_JOB, job.payload, job.run_at, dedupe_key=f"replayed:{job.id}")
    for moment in (START - timedelta(hours=24), START - timedelta(minutes=30)):
        r.clock.now = moment
        await r.runner.run_until_idle()
    assert reminders_sent(r) == []
    assert (await r.appointments.get(booking.booking_id)).status == "cancelled"   # type: ignore[union-attr]


async def test_moving_a_booking_moves_its_reminders(store: SqliteStore, directory: ResourceDirectory,
                                                    tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    await book_tuesday(r)
    old_jobs = await store.pending_jobs(REMINDER_JOB)
    out = await choose(r, await r.person.send("/appointments"), "bk:move")
    assert [b.label for b in out[0].buttons][3] == "Tue 3 Mar 10:00 – Sam Okafor"   # type: ignore[union-attr]
    out = await choose(r, out, "bk:slot", 3)
    assert "now Tue 3 Mar 10:00 GMT" in texts(await choose(r, out, "bk:ok"))
    new_start = START + timedelta(hours=1)
    assert sorted(j.run_at for j in await store.pending_jobs(REMINDER_JOB)) == [new_start - timedelta(hours=24),
                                                                              new_start - timedelta(hours=1)]
    for job in old_jobs:   # the old time's reminders are cancelled, and silent even if replayed
        await store.enqueue_job(REMINDER_JOB, job.payload, job.run_at, dedupe_key=f"replayed:{job.id}")
    r.clock.now = START - timedelta(hours=1)      # when the old time's 1 h reminder would have gone
    await r.runner.run_until_idle()
    assert ["10:00 GMT" in text for text in reminders_sent(r)] == [True]   # only the new time's 24 h one
    r.clock.now = new_start - timedelta(hours=1)
    await r.runner.run_until_idle()
    assert ["10:00 GMT" in text for text in reminders_sent(r)] == [True, True]


async def test_reminders_survive_a_restart(tmp_path: Path, directory: ResourceDirectory) -> None:
    providers = write_providers(tmp_path)
    first = SqliteStore(tmp_path / "haven.sqlite3")
    await first.open()
    r = rig(first, directory, providers, MONDAY_2_MARCH)
    await book_tuesday(r)
    await first.close()                             # the process stops
    second = SqliteStore(tmp_path / "haven.sqlite3")
    await second.open()
    try:
        again = rig(second, directory, providers, START - timedelta(hours=1))
        await again.runner.run_until_idle()
        [sent] = reminders_sent(again)   # the missed 24 h reminder is folded into the 1 h one, not sent twice
        assert "Tue 3 Mar 09:00 GMT" in sent
        assert len(again.desk.notices()) == 1    # and the staff notice that was never sent before the stop
    finally:
        await second.close()


async def test_reminder_offsets_are_configurable(store: SqliteStore, directory: ResourceDirectory,
                                                 tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH, reminders=["2h", "30m"])
    await book_tuesday(r)
    assert sorted(j.run_at for j in await store.pending_jobs(REMINDER_JOB)) == [START - timedelta(hours=2),
                                                                              START - timedelta(minutes=30)]


async def test_no_reminders_when_the_list_is_empty(store: SqliteStore, directory: ResourceDirectory,
                                                   tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH, reminders=[])
    await book_tuesday(r)
    assert await store.pending_jobs(REMINDER_JOB) == []
