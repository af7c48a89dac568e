"""The core's own tests, run again with the PostgreSQL store underneath.

The contract suite checks the store method by method; this checks that the core (pipeline, crisis replies,
escalations, wellbeing, appointments) behaves the same when the store is PostgresStore. It borrows the core
tests that touch the store only through its public API and the shared fixtures (`memory`, `core`, `store`,
`settings`, `directory`, `tmp_path`); tests that open SQLite files or read SQLite rows stay SQLite-only.
The `store` fixture below overrides the SQLite one for these borrowed tests.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.privacy import FieldCipher
from bot.store.postgres import PostgresStore

_MODULES = ["test_pipeline", "test_crisis_response", "test_escalation", "test_offline_responder",
            "test_wellbeing_mood", "test_wellbeing_screening", "test_wellbeing_settings", "test_wellbeing_schedule",
            "test_wellbeing_ideas", "test_appointments_booking", "test_appointments_reminders",
            "test_appointments_intake", "test_privacy", "test_reply_replay"]
_SHARED_FIXTURES = {"memory", "core", "store", "settings", "directory", "tmp_path"}
_SQLITE_ONLY = ("SqliteStore(", ".db.", ".db\n", "sqlite3")
#: Borrowed tests that assume what only one SQLite connection gives, with why.
_NOT_PORTABLE = {
    # JobRunner.run_once runs a batch's jobs concurrently; on one SQLite thread their statements finish in
    # claim order, on a pool they may not, so the three staff notices of one booking can arrive reordered.
    "test_reschedule_and_cancel_from_appointments",
}


def _portable(test: Callable[..., Any]) -> bool:
    """Uses only shared fixtures and never the SQLite specifics; something must use the store."""
    parameters = set(inspect.signature(test).parameters)
    source = inspect.getsource(test)
    return (parameters <= _SHARED_FIXTURES and bool(parameters & {"memory", "core", "store"})
            and not any(marker in source for marker in _SQLITE_ONLY))


def _borrow() -> dict[str, Callable[..., Any]]:
    borrowed: dict[str, Callable[..., Any]] = {}
    for short in _MODULES:
        module = importlib.import_module(f"tests.core.{short}")
        for name, test in vars(module).items():
            if name.startswith("test_") and inspect.iscoroutinefunction(test) and test.__module__ == module.__name__ \
                    and name not in _NOT_PORTABLE and _portable(test):
                borrowed[f"{name}__{short.removeprefix('test_')}"] = test
    return borrowed


globals().update(_borrow())


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore(postgres_url, FieldCipher(None), pool_size=5, lock_pool_size=5)
    await opened.open()
    yield opened
    await opened.close()
