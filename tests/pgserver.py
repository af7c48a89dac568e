"""A real, throwaway PostgreSQL server for tests: nothing mocked.

Use from any test package's conftest.py:

    from tests.pgserver import postgres_server, postgres_url  # noqa: F401  (pytest fixtures)

`postgres_server` (session) is the admin DSN of a running server; `postgres_url` (function) is a DSN whose
search path is a fresh, empty schema for one test, dropped afterwards (see `fresh_database`).

Where the server comes from:
- env HAVEN_TEST_PG_URL: an existing server and database (its role needs CREATE on it); nothing is started.
- otherwise the PostgreSQL server binaries (`initdb`, `pg_ctl`: PATH, then /usr/lib/postgresql/*/bin, as the Debian
  package `postgresql` installs them): a cluster is created in a temporary directory and started on 127.0.0.1 on
  a free port (unix socket in the same directory), fsync off, trust auth, and removed at session end. PostgreSQL
  refuses to run as root, so under root it runs as the `postgres` user via `runuser`.
- no binaries: the PostgreSQL tests are skipped with the reason, unless HAVEN_REQUIRE_POSTGRES=1 (CI), which
  makes that an error.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

_SUPERUSER = "haven"
_counter = itertools.count()


def find_server_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, newest version first; None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalPostgres:
    """One temporary cluster: initdb, start, stop, remove."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Under /tmp: short enough for the unix socket path limit (~107 bytes), and traversable by the `postgres`
        # user when we run as root (a TMPDIR under /root would not be).
        self.root = Path(tempfile.mkdtemp(prefix="haven-pg-", dir="/tmp" if os.path.isdir("/tmp") else None))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:   # the server will not run as root
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no `postgres` user to run the server as") from None
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def dsn(self) -> str:
        return f"postgresql://{_SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as_user, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr.strip()}\n{tail}")

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", _SUPERUSER, "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
                   " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


_shared: LocalPostgres | None = None
_holders = 0


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The admin DSN of a PostgreSQL server for this test session (see the module docstring).

    Several test packages may each import this fixture; they share one server, stopped after the last one."""
    global _shared, _holders
    external = os.environ.get("HAVEN_TEST_PG_URL")
    if external:
        yield external
        return
    if _shared is None:
        bindir = find_server_bin()
        if bindir is None:
            reason = ("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin;"
                      " install the `postgresql` package or set HAVEN_TEST_PG_URL")
            if os.environ.get("HAVEN_REQUIRE_POSTGRES") == "1":
                pytest.fail(f"HAVEN_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
            pytest.skip(reason)
        server = LocalPostgres(bindir)
        try:
            server.start()
        except BaseException:
            server.stop()
            raise
        _shared = server
    _holders += 1
    try:
        yield _shared.dsn
    finally:
        _holders -= 1
        if _holders == 0 and _shared is not None:
            _shared.stop()
            _shared = None


def with_search_path(dsn: str, schema: str) -> str:
    """The same server, database and role, with `schema` as the only schema on the search path (asyncpg passes
    unknown DSN query parameters to the server as settings)."""
    separator = "&" if "?" in dsn else "?"
    return f"{dsn}{separator}search_path={schema}"


@asynccontextmanager
async def fresh_database(admin_dsn: str) -> AsyncIterator[str]:
    """An empty namespace of its own for one test: a new schema, first and only on the search path of the DSN
    yielded, dropped with everything in it afterwards. (A schema rather than a database: CREATE DATABASE costs
    most of a second, a schema a millisecond, and the role needs no CREATEDB.)"""
    import asyncpg

    name = f"haven_test_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await admin.close()
    try:
        yield with_search_path(admin_dsn, name)
    finally:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await admin.close()


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """A DSN on a fresh, empty schema for one test, dropped when the test ends."""
    async with fresh_database(postgres_server) as url:
        yield url
