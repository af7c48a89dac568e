"""Several `haven run` worker processes behind a balancer, on PostgreSQL and on SQLite, fed through the Telegram
fake's webhooks: nothing lost or duplicated under concurrent load, and escalations delivered exactly once when a
worker is SIGKILLed mid-crisis. These are the CI-sized runs of bench/load.py and bench/kill.py (which run 10,000
messages and 100 kills); they share their code, so the proofs and the tests cannot drift apart.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bench import kill, load
from tests.pgserver import fresh_database, postgres_server  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.slow
BACKENDS = ["sqlite", "postgres"]


@asynccontextmanager
async def deployment(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    """(storage.url, workers): one worker on its SQLite file, or two workers sharing one PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'haven.sqlite3'}", 1
        return
    async with fresh_database(request.getfixturevalue("postgres_server")) as url:
        yield url, 2


@pytest.mark.parametrize("backend", BACKENDS)
async def test_concurrent_users_get_every_reply_exactly_once(backend: str, request: pytest.FixtureRequest,
                                                             tmp_path: Path) -> None:
    async with deployment(backend, request, tmp_path) as (url, workers):
        result = await load.run("haven", tmp_path / "load", workers=workers, storage_url=url, echo=False,
                                users=40, script=load.SCRIPT)
    assert (result.lost, result.duplicated, result.unacknowledged) == (0, 0, 0)
    assert len(result.latencies) == 40 * len(load.SCRIPT)
    assert result.leaks == []


@pytest.mark.parametrize("backend", BACKENDS)
async def test_sigkilled_worker_loses_no_escalation_and_sends_none_twice(backend: str,
                                                                        request: pytest.FixtureRequest,
                                                                        tmp_path: Path) -> None:
    async with deployment(backend, request, tmp_path) as (url, workers):
        outcome = await kill.run("kill", tmp_path / "kill", workers=workers, storage_url=url, count=2, per_trial=3,
                                 rng=random.Random(7))
    assert outcome.people == 6 and outcome.kills == 2
    assert (outcome.missing, outcome.duplicated, outcome.without_reply) == (0, 0, 0)
    assert outcome.leaks == []
