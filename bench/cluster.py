"""A small Haven deployment on this machine for the load and kill proofs: the Telegram fake (in the driving
process, so the driver sees every Bot API call as it happens), a load balancer process, and `haven run` worker
processes started exactly as operators start them (YAML config, secrets from the environment, webhook mode),
on SQLite or on a throwaway PostgreSQL server.

Everything listens on 127.0.0.1 only. Worker logs go to files so the proofs can scan them for leaked text and ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.telegram_fake import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "424242:BENCH-TOKEN"
WEBHOOK_SECRET = "bench-webhook-secret"
#: A fixed secret so every worker derives the same pseudonymous keys (privacy.pseudonym_secret).
PSEUDONYM_SECRET = "bench-pseudonym-secret-0123456789abcdef"
STAFF_CHAT = -100777


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WatchedTelegram(FakeTelegram):
    """The fake Bot API, counting sendMessage calls per chat and waking whoever waits for a chat's count."""

    def __init__(self, **options: Any) -> None:
        super().__init__(TOKEN, **options)
        self.sent: dict[int, list[tuple[float, str]]] = defaultdict(list)
        self._waiters: dict[int, list[tuple[int, asyncio.Future[None]]]] = defaultdict(list)

    async def _m_sendMessage(self, p: dict[str, Any]) -> Any:
        result = await super()._m_sendMessage(p)
        chat = int(p["chat_id"])
        self.sent[chat].append((time.perf_counter(), str(p.get("text") or "")))
        count = len(self.sent[chat])
        waiting = self._waiters.get(chat)
        if waiting:
            for target, future in list(waiting):
                if count >= target and not future.done():
                    future.set_result(None)
            waiting[:] = [(t, f) for t, f in waiting if not f.done()]
        return result

    async def wait_count(self, chat: int, count: int, timeout: float) -> bool:
        """True once `chat` has received `count` messages in all; False after `timeout` seconds."""
        if len(self.sent[chat]) >= count:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[chat].append((count, future))
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except asyncio.TimeoutError:
            return False


@dataclass
class Worker:
    """One `haven run` process."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"--- start {self.starts}\n".encode())
        log.flush()
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

    async def wait_ready(self, timeout: float = 90.0) -> None:
        needle = f"--- start {self.starts}\n"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if "event=ready adapter=telegram" in text[text.rfind(needle):]:
                return
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited with {self.process.returncode}:\n{text[-3000:]}")
            await asyncio.sleep(0.05)
        raise TimeoutError(f"worker {self.name} not ready after {timeout}s")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no drain, connections cut as a crash or an OOM kill would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=30)


@dataclass
class Cluster:
    """Workers behind one balancer, all sharing one database, talking to one fake Telegram."""

    fake: WatchedTelegram
    workers: list[Worker]
    balancer: subprocess.Popen[str] | None = None
    hook_url: str = ""
    logs: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.balancer is not None:
            self.balancer.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.balancer.wait(timeout=10)
            if self.balancer.stdout is not None:
                self.balancer.stdout.close()


def worker_config(path: Path, *, fake_root: str, storage_url: str, listen_port: int, hook_url: str,
                  escalate_to_staff: bool, lease_s: float = 5.0) -> None:
    lines = [
        "storage:",
        f"  url: {storage_url}",
        "telegram:",
        "  enabled: true",
        "  token: ${TELEGRAM_BOT_TOKEN}",
        f"  base_url: {fake_root}",
        "  mode: webhook",
        "  concurrency: 32",
        "  webhook:",
        "    listen: 127.0.0.1",
        f"    port: {listen_port}",
        "    path: tg-hook",
        f"    url: {hook_url}",
        "    secret_token: ${TELEGRAM_WEBHOOK_SECRET}",
        "privacy:",
        "  pseudonym_secret: ${HAVEN_PSEUDONYM_SECRET}",
        "limits:",
        "  messages_per_minute: 1000",
        "jobs:",
        f"  lease_s: {lease_s}",
        "  poll_s: 0.2",
    ]
    if escalate_to_staff:
        lines += ["crisis:", "  escalation:", "    renotify_after: 1h", "    destinations:",
                  f"      - {{platform: telegram, chat_id: {STAFF_CHAT}}}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def start_cluster(workdir: Path, *, workers: int, storage_url: str, escalate_to_staff: bool = False,
                        lease_s: float = 5.0, echo: bool = False) -> Cluster:
    """Start the fake, the workers and the balancer; returns once every worker logged `event=ready`.

    `echo=True` starts bare PTB echo bots (bench/echo_bot.py) instead of Haven: the baseline."""
    fake = WatchedTelegram()
    await fake.start()
    fake.webhook_retry_delay = 0.1
    balancer_port = free_port()
    hook_url = f"http://127.0.0.1:{balancer_port}/tg-hook"
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "HAVEN_PSEUDONYM_SECRET": PSEUDONYM_SECRET, "PYTHONUNBUFFERED": "1"}
    running: list[Worker] = []
    ports = []
    for index in range(workers):
        home = workdir / f"worker{index}"
        home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        ports.append(port)
        if echo:
            argv = [sys.executable, "-m", "bench.echo_bot", "--base-url", fake.root, "--port", str(port),
                    "--url", hook_url]
        else:
            config = home / "haven.yaml"
            worker_config(config, fake_root=fake.root, storage_url=storage_url, listen_port=port,
                          hook_url=hook_url, escalate_to_staff=escalate_to_staff, lease_s=lease_s)
            argv = [sys.executable, "-m", "bot", "run", "--config", str(config)]
        running.append(Worker(f"w{index}", argv, env | {"HAVEN_HOME": str(home)}, home / "haven.log"))
    cluster = Cluster(fake=fake, workers=running, hook_url=hook_url, logs=[w.log_path for w in running])
    backends = [arg for port in ports for arg in ("--backend", f"http://127.0.0.1:{port}")]
    cluster.balancer = subprocess.Popen([sys.executable, "-m", "bench.balancer", "--port", str(balancer_port),
                                         *backends], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert cluster.balancer.stdout is not None
    if not cluster.balancer.stdout.readline().startswith("port="):
        raise RuntimeError("the balancer did not start")
    for worker in running:
        worker.start()
    await asyncio.gather(*(worker.wait_ready() for worker in running))
    return cluster


async def close_cluster(cluster: Cluster) -> None:
    cluster.stop()
    await cluster.fake.close()


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A throwaway PostgreSQL server (Debian's binaries, temporary data dir, loopback); yields a database URL."""
    from tests.pgserver import LocalPostgres, find_server_bin

    bindir = find_server_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    server = LocalPostgres(bindir)
    try:
        await asyncio.to_thread(server.start)
        await _create_database(server.dsn, "haven")
        yield server.dsn.rsplit("/", 1)[0] + "/haven"
    finally:
        server.stop()


async def _create_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def scan_logs(paths: list[Path], needles: set[str]) -> list[str]:
    """Every needle (message text, platform id) found in any log line; the proofs require none."""
    leaks = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            for needle in needles:
                if needle and needle in line:
                    leaks.append(f"{path.name}: {needle!r}")
    return leaks
