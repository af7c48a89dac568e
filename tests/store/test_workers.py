"""Several workers on one database: each store instance here stands for a `haven run` process of its own.

Job claims, event dedupe, case opening and migrations must hold across instances on both backends. Conversation
locks are real only on PostgreSQL (one process owns a SQLite file), so those tests run there alone.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bot.store.base import EventClaim
from bot.store.migrations import SQLITE_MIGRATIONS
from tests.store.conftest import Backend

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


async def wait_for_waiters(backend: Backend, count: int) -> None:
    """Until `count` sessions wait on an advisory lock (bounded: fails rather than hangs)."""
    for _ in range(500):
        rows = await backend.raw("SELECT COUNT(*) FROM pg_locks WHERE locktype='advisory' AND NOT granted")
        if rows[0][0] >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} session(s) waiting on a conversation lock")


def postgres_only(backend: Backend) -> None:
    if backend.name != "postgres":
        pytest.skip("conversation locks are a no-op on SQLite: one process owns the file")


async def test_two_stores_opening_a_new_database_together_migrate_once(backend: Backend) -> None:
    first, second = backend.make(), backend.make()
    await asyncio.gather(first.open(), second.open())
    backend.opened += [first, second]
    assert await first.schema_version() == await second.schema_version() == len(SQLITE_MIGRATIONS)
    assert await backend.raw("SELECT COUNT(*) FROM schema_version") == [(len(SQLITE_MIGRATIONS),)]


async def test_racing_workers_never_claim_the_same_job(backend: Backend) -> None:
    workers = [await backend.open(), await backend.open()]
    total = 120
    for n in range(total):
        await workers[0].enqueue_job("reminder", {"n": n}, NOW + timedelta(seconds=n % 7))
    claimed: list[list[int]] = [[], []]

    async def drain(index: int) -> None:
        while True:
            batch = await workers[index].claim_jobs(NOW + timedelta(minutes=1), limit=7, lease_s=600)
            if not batch:
                return
            claimed[index] += [job.id for job in batch]
            for job in batch[::2]:   # finish some at once, leave the rest leased: neither may come back
                await workers[index].complete_job(job.id, NOW)

    await asyncio.gather(drain(0), drain(1), drain(0), drain(1))
    everything = claimed[0] + claimed[1]
    assert len(everything) == len(set(everything)) == total
    if backend.name == "postgres":   # SQLite's busy handler may let one connection win every round: still correct
        assert claimed[0] and claimed[1], "both workers should have taken part"


async def test_a_crashed_workers_lease_is_taken_over_once_it_expires(backend: Backend) -> None:
    crashed, survivor = await backend.open(), await backend.open()
    job_id = await crashed.enqueue_job("escalation", {"case": "HC-1"}, NOW, dedupe_key="notify:HC-1:0")
    [job] = await crashed.claim_jobs(NOW, lease_s=30)
    assert job.id == job_id
    assert await survivor.claim_jobs(NOW + timedelta(seconds=29)) == []
    [taken] = await survivor.claim_jobs(NOW + timedelta(seconds=31), lease_s=30)
    assert taken.id == job_id and taken.attempts == 2
    assert await crashed.claim_jobs(NOW + timedelta(seconds=40)) == []   # the survivor's lease holds
    await survivor.complete_job(taken.id, NOW + timedelta(seconds=45))
    assert await crashed.claim_jobs(NOW + timedelta(hours=1)) == []
    assert await survivor.job_status(job_id) == "done"


async def test_an_event_claimed_by_two_workers_is_new_for_one_only(backend: Backend) -> None:
    workers = [await backend.open(), await backend.open()]
    claims = await asyncio.gather(*(workers[n % 2].claim_event("telegram", f"e{n // 2}", NOW) for n in range(40)))
    for n in range(20):
        assert sorted(c.value for c in claims[2 * n:2 * n + 2]) == ["duplicate", "new"], f"event e{n}"
    # Stale and unfinished: exactly one of the two recovers it.
    later = NOW + timedelta(minutes=5)
    recovered = await asyncio.gather(workers[0].claim_event("telegram", "e0", later),
                                     workers[1].claim_event("telegram", "e0", later))
    assert sorted(c.value for c in recovered) == ["duplicate", "recover"]


async def turn(store: Any, event_id: str, text: str) -> EventClaim:
    """One turn as the core runs it: under the conversation lock from claim to save."""
    async with store.conversation_lock("c1"):
        claim, _, conversation = await store.begin_turn(event=("telegram", event_id), user_key="u1",
                                                        platform="telegram", conv_key="c1", now=NOW)
        if claim is not EventClaim.DUPLICATE:
            seen = conversation.state.get("seen", [])
            await store.complete_turn(conv_key="c1", user_key="u1", state={"seen": [*seen, event_id]},
                                      messages=[("in", text)], event=("telegram", event_id), now=NOW)
        return claim


async def test_an_update_delivered_to_two_workers_is_answered_once_and_in_order(backend: Backend) -> None:
    postgres_only(backend)
    workers = [await backend.open(), await backend.open()]
    claims = await asyncio.gather(*(turn(workers[n % 2], f"e{n // 2}", f"m{n // 2}") for n in range(30)))
    for n in range(15):
        assert sorted(c.value for c in claims[2 * n:2 * n + 2]) == ["duplicate", "new"], f"event e{n}"
    state = (await workers[0].load_conversation("c1", "u1")).state
    assert sorted(state["seen"]) == sorted(f"e{n}" for n in range(15))   # no turn lost its predecessor's state
    assert len(await workers[1].recent_messages("c1", 100)) == 15


async def test_an_update_a_dead_worker_left_unfinished_is_taken_over_at_once(backend: Backend) -> None:
    postgres_only(backend)
    crashed, survivor = await backend.open(), await backend.open()
    async with crashed.conversation_lock("c1"):
        claim, _, _ = await crashed.begin_turn(event=("telegram", "e1"), user_key="u1", platform="telegram",
                                               conv_key="c1", now=NOW)
        assert claim is EventClaim.NEW
    # ... and it died before saving the turn. Telegram redelivers; the other worker answers it.
    assert await turn(survivor, "e1", "hello") is EventClaim.RECOVER
    assert await turn(crashed, "e1", "hello") is EventClaim.DUPLICATE


async def test_two_workers_opening_a_case_for_one_person_make_one_case(backend: Backend) -> None:
    workers = [await backend.open(), await backend.open()]

    async def open_case(n: int) -> bool:
        _, created = await workers[n % 2].open_case(
            case_id=f"HC-{n}", user_key="u1", address={"chat": "x"}, platform="memory", level="high",
            signals=(), now=NOW, job_kind="escalate", job_payload={"case_id": f"HC-{n}"})
        return bool(created)

    created = await asyncio.gather(*(open_case(n) for n in range(6)))
    assert created.count(True) == 1
    assert await backend.raw("SELECT COUNT(*) FROM cases") == [(1,)]
    assert len(await workers[0].pending_jobs("escalate")) == 1


async def test_conversation_lock_serialises_one_conversation_across_workers(backend: Backend) -> None:
    postgres_only(backend)
    first, second = await backend.open(), await backend.open()
    order: list[str] = []
    release = asyncio.Event()

    async def hold(store: Any, name: str, key: str, wait: asyncio.Event | None = None) -> None:
        async with store.conversation_lock(key):
            order.append(f"{name} in")
            if wait is not None:
                await wait.wait()
            order.append(f"{name} out")

    holder = asyncio.create_task(hold(first, "A", "conv-1", release))
    while order != ["A in"]:
        await asyncio.sleep(0.01)
    waiter = asyncio.create_task(hold(second, "B", "conv-1"))
    await wait_for_waiters(backend, 1)
    # Another conversation is not held up by conv-1.
    await asyncio.wait_for(hold(second, "C", "conv-2"), timeout=10)
    assert order == ["A in", "C in", "C out"]
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, waiter), timeout=10)
    assert order == ["A in", "C in", "C out", "A out", "B in", "B out"]


async def test_conversation_lock_serialises_tasks_in_one_worker(backend: Backend) -> None:
    postgres_only(backend)
    store = await backend.open()
    inside = 0
    most = 0

    async def turn() -> None:
        nonlocal inside, most
        async with store.conversation_lock("conv-1"):
            inside += 1
            most = max(most, inside)
            await store.ping()
            inside -= 1

    await asyncio.wait_for(asyncio.gather(*(turn() for _ in range(25))), timeout=30)
    assert most == 1


async def test_a_crashed_holders_conversation_lock_is_released(backend: Backend) -> None:
    postgres_only(backend)
    crashed, survivor = await backend.open(), await backend.open()
    entered = asyncio.Event()
    never = asyncio.Event()

    async def hold_forever() -> None:
        async with crashed.conversation_lock("conv-1"):
            entered.set()
            await never.wait()

    holder = asyncio.create_task(hold_forever())
    await entered.wait()
    survivor_lock = survivor.conversation_lock("conv-1")
    waiter = asyncio.create_task(survivor_lock.__aenter__())
    await wait_for_waiters(backend, 1)
    # The holder's process dies: the server ends its session, and its session lock with it.
    # Only the session holding this conversation's lock: other tests' sessions on the shared server live on.
    await backend.raw("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype='advisory' AND granted"
                      " AND objsubid=1 AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('conv-1', 0)")
    await asyncio.wait_for(waiter, timeout=10)
    await survivor_lock.__aexit__(None, None, None)
    holder.cancel()   # what the dead holder's task does now does not matter: its process is gone
    await asyncio.gather(holder, return_exceptions=True)


async def test_ping_raises_while_the_database_refuses_this_worker(backend: Backend) -> None:
    """What /readyz sees when the database is unreachable: ping raises, and answers again once it is back."""
    postgres_only(backend)
    role = f"haven_ping_{abs(hash(backend.location)) % 10**8}"
    await backend.raw(f"CREATE ROLE {role} LOGIN SUPERUSER")
    try:
        dsn = backend.location.replace("postgresql://haven@", f"postgresql://{role}@", 1)
        assert dsn != backend.location, "expected the test server's DSN"
        store = Backend("postgres", dsn).make()
        await store.open()
        try:
            await store.ping()
            await backend.raw(f"ALTER ROLE {role} NOLOGIN")
            await backend.raw(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename='{role}'")
            with pytest.raises(Exception):
                await store.ping()
            with pytest.raises(Exception):
                await store.ping()
            await backend.raw(f"ALTER ROLE {role} LOGIN")
            await store.ping()
        finally:
            await store.close()
    finally:
        await backend.raw(f"DROP OWNED BY {role}")   # the tables it migrated into this test's schema
        await backend.raw(f"DROP ROLE {role}")
