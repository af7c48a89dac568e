"""Shared test fixtures. Tests never reach the internet: any non-loopback connect fails the test."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.core import Core
from bot.i18n import Catalog
from bot.llm.offline import OfflineResponder
from bot.privacy import FieldCipher, Pseudonymizer
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from adapters.memory import MemoryAdapter

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(address: object) -> None:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            if host == "localhost":
                return
        raise RuntimeError(f"test tried to reach a non-loopback address {host}")


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def connect(self: socket.socket, address: object) -> None:
        _check_address(address)
        return _real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        _check_address(address)
        return _real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield


@pytest.fixture(scope="session")
def directory() -> ResourceDirectory:
    return ResourceDirectory.load()


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "haven.sqlite3", FieldCipher(None))
    await s.open()
    yield s
    await s.close()


def make_core(settings: Settings, store: SqliteStore, directory: ResourceDirectory, **overrides: object) -> Core:
    catalog = Catalog()
    options: dict[str, object] = dict(settings=settings, store=store, catalog=catalog, directory=directory,
                                      responder=OfflineResponder(catalog), pseudonymizer=Pseudonymizer(b"k" * 32))
    options.update(overrides)
    return Core(**options)  # type: ignore[arg-type]


@pytest.fixture
async def core(settings: Settings, store: SqliteStore, directory: ResourceDirectory) -> Core:
    return make_core(settings, store, directory)


@pytest.fixture
async def memory(core: Core) -> MemoryAdapter:
    return MemoryAdapter(core)
