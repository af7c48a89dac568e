"""`storage.url` picks the backend; asyncpg is loaded only when PostgreSQL is configured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.privacy import FieldCipher
from bot.store.factory import open_store, postgres_options
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore


def test_sqlite_urls_open_sqlite(tmp_path: Path) -> None:
    assert isinstance(open_store("", tmp_path, FieldCipher(None)), SqliteStore)
    assert isinstance(open_store("sqlite:///haven.db", tmp_path, FieldCipher(None)), SqliteStore)


@pytest.mark.parametrize("url", ["postgresql://haven@db.internal/haven", "postgres://haven@db.internal/haven",
                                 "postgresql+asyncpg://haven@db.internal/haven"])
def test_postgres_urls_open_postgres(url: str, tmp_path: Path) -> None:
    assert isinstance(open_store(url, tmp_path, FieldCipher(None)), PostgresStore)


def test_pool_sizes_are_haven_options_not_server_settings() -> None:
    dsn, sizes = postgres_options("postgresql+asyncpg://h:s%40cret@db:5433/haven?sslmode=require&lock_pool_size=40"
                                  "&pool_size=5")
    assert dsn == "postgresql://h:s%40cret@db:5433/haven?sslmode=require"
    assert sizes == {"lock_pool_size": 40, "pool_size": 5}
    with pytest.raises(ValueError, match="pool_size"):
        postgres_options("postgresql://db/haven?pool_size=0")


def test_sqlite_users_never_load_asyncpg() -> None:
    code = "import sys, bot.store, bot.flows.booking; print('asyncpg' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "False"
