"""Choose the store from `storage.url` (SQLAlchemy-style URLs, design.md §3)."""

from __future__ import annotations

from pathlib import Path

from bot.privacy import FieldCipher
from bot.store.sqlite import SqliteStore


def sqlite_path(url: str, data_dir: Path) -> Path:
    """`sqlite:///relative` is relative to the data dir; `sqlite:////absolute` is absolute; empty is the default."""
    if not url:
        return data_dir / "haven.sqlite3"
    rest = url.removeprefix("sqlite:///")
    path = Path(rest)
    return path if path.is_absolute() else data_dir / path


def open_store(url: str, data_dir: Path, cipher: FieldCipher) -> SqliteStore:
    """A store ready to `open()`. PostgreSQL arrives with the scaling work; until then it is refused clearly."""
    if url.startswith(("postgresql://", "postgres://")):
        raise NotImplementedError("storage.url: PostgreSQL support is not available in this version; use sqlite:///")
    return SqliteStore(sqlite_path(url, data_dir), cipher)
