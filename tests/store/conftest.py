"""One store contract, two backends: every test here runs against SQLite and against a real PostgreSQL server.

`backend` knows how to open more store instances on the same database (as a second worker process would) and how
to read raw rows (to check what is really at rest). `store` is one opened instance.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.privacy import FieldCipher
from bot.store.sqlite import SqliteStore
from tests.pgserver import fresh_database, postgres_server, postgres_url  # noqa: F401  (fixtures)


@dataclass
class Backend:
    name: str
    location: str                      # the SQLite file path or the PostgreSQL DSN
    opened: list[Any] = field(default_factory=list)

    def make(self, cipher: FieldCipher | None = None) -> Any:
        """A new, unopened store instance on this backend's database."""
        if self.name == "sqlite":
            return SqliteStore(Path(self.location), cipher or FieldCipher(None))
        from bot.store.postgres import PostgresStore
        return PostgresStore(self.location, cipher or FieldCipher(None), pool_size=5, lock_pool_size=5)

    async def open(self, cipher: FieldCipher | None = None) -> Any:
        """A new, opened store on the same database (closed when the test ends)."""
        store = self.make(cipher)
        await store.open()
        self.opened.append(store)
        return store

    async def raw(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows exactly as stored, through a connection of its own (no parameters: tests write literal SQL)."""
        if self.name == "sqlite":
            connection = sqlite3.connect(self.location)
            try:
                return [tuple(row) for row in connection.execute(sql).fetchall()]
            finally:
                connection.close()
        import asyncpg
        connection = await asyncpg.connect(self.location)
        try:
            return [tuple(row) for row in await connection.fetch(sql)]
        finally:
            await connection.close()

    async def close_all(self) -> None:
        for store in reversed(self.opened):
            await store.close()
        self.opened.clear()


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        chosen = Backend("sqlite", str(tmp_path / "haven.sqlite3"))
        yield chosen
        await chosen.close_all()
        return
    admin_dsn = request.getfixturevalue("postgres_server")
    async with fresh_database(admin_dsn) as dsn:
        chosen = Backend("postgres", dsn)
        try:
            yield chosen
        finally:
            await chosen.close_all()


@pytest.fixture
async def store(backend: Backend) -> Any:
    return await backend.open()
