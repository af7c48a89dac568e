"""Choose the store from `storage.url` (SQLAlchemy-style URLs, design.md §3)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.privacy import FieldCipher
from bot.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from bot.store.postgres import PostgresStore

_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+asyncpg://")


def sqlite_path(url: str, data_dir: Path) -> Path:
    """`sqlite:///relative` is relative to the data dir; `sqlite:////absolute` is absolute; empty is the default."""
    if not url:
        return data_dir / "haven.sqlite3"
    rest = url.removeprefix("sqlite:///")
    path = Path(rest)
    return path if path.is_absolute() else data_dir / path


def is_postgres(url: str) -> bool:
    return url.startswith(_POSTGRES_SCHEMES)


def postgres_options(url: str) -> tuple[str, dict[str, int]]:
    """Split a PostgreSQL URL into the DSN asyncpg takes and Haven's own pool sizes.

    SQLAlchemy's `postgresql+asyncpg://` names the driver: that part is dropped. `pool_size` (statements) and
    `lock_pool_size` (conversations one worker can hold at once) are Haven's query parameters, removed from
    the DSN because asyncpg would send unknown parameters to the server as settings."""
    if url.startswith("postgresql+asyncpg://"):
        url = "postgresql://" + url.split("://", 1)[1]
    parts = urlsplit(url)
    kept, sizes = [], {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in ("pool_size", "lock_pool_size"):
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"storage.url: {name} must be a whole number of at least 1")
            sizes[name] = int(value)
        else:
            kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), sizes


def open_store(url: str, data_dir: Path, cipher: FieldCipher) -> SqliteStore | PostgresStore:
    """A store ready to `open()`. asyncpg is imported only for a PostgreSQL URL: SQLite users never load it."""
    if is_postgres(url):
        from bot.store.postgres import PostgresStore
        dsn, sizes = postgres_options(url)
        return PostgresStore(dsn, cipher, **sizes)
    return SqliteStore(sqlite_path(url, data_dir), cipher)
