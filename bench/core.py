"""Core throughput and latency against a raw-aiosqlite baseline measured in the same run.

    python bench/core.py [--users 200] [--messages 10]

Drives USERS x MESSAGES ordinary messages through `Core.handle` (offline responder, SQLite store on disk, real
detector and directory), users concurrently and each user's messages in order, and reports messages/s and
p50/p99 per-message latency. The baseline is the same number of plain aiosqlite INSERTs into a file in the same
temporary dir, so the ratio says what Haven's pipeline costs on this machine, today.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiosqlite

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.memory import MemoryAdapter  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core import Core  # noqa: E402
from bot.crisis.detect import warm_up  # noqa: E402
from bot.i18n import Catalog  # noqa: E402
from bot.llm.offline import OfflineResponder  # noqa: E402
from bot.privacy import Pseudonymizer  # noqa: E402
from bot.resources import ResourceDirectory  # noqa: E402
from bot.store.sqlite import SqliteStore  # noqa: E402

SAMPLES = ["I've been feeling stressed about work", "can't sleep again", "thanks, that helps a bit",
           "my exams are next week and I'm behind", "I had an argument with my sister", "feeling a bit lonely"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def haven_on_sqlite(path: Path) -> tuple[MemoryAdapter, SqliteStore]:
    """The real core (detector, directory, offline responder) on an SQLite file, driven by the memory adapter."""
    warm_up()   # as the app does at start
    store = SqliteStore(path)
    await store.open()
    catalog = Catalog()
    settings = Settings.model_validate({"limits": {"messages_per_minute": 1000}})
    core = Core(settings=settings, store=store, catalog=catalog, directory=ResourceDirectory.load(),
                responder=OfflineResponder(catalog), pseudonymizer=Pseudonymizer(b"b" * 32))
    return MemoryAdapter(core), store


async def bench_core(tmp: Path, users: int, messages: int) -> tuple[float, list[float]]:
    adapter, store = await haven_on_sqlite(tmp / "core.sqlite3")
    latencies: list[float] = []

    async def one_user(index: int) -> None:
        await adapter.send("hi", user=f"u{index}")
        await adapter.press("consent:yes", user=f"u{index}")
        for n in range(messages):
            started = time.perf_counter()
            await adapter.send(SAMPLES[(index + n) % len(SAMPLES)], user=f"u{index}")
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one_user(i) for i in range(users)))
    elapsed = time.perf_counter() - started
    await store.close()
    total = users * (messages + 2)
    return total / elapsed, latencies


async def bench_paced(tmp: Path, rate: float, seconds: float) -> list[float]:
    """Open loop: messages arrive at a fixed rate from many users, as on a real deployment, not all at once."""
    adapter, store = await haven_on_sqlite(tmp / "paced.sqlite3")
    latencies: list[float] = []

    async def one(n: int) -> None:
        started = time.perf_counter()
        await adapter.send(SAMPLES[n % len(SAMPLES)], user=f"p{n % 500}")
        latencies.append(time.perf_counter() - started)

    tasks = []
    interval = 1.0 / rate
    origin = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = origin + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    await store.close()
    return latencies


async def bench_baseline(tmp: Path, count: int) -> tuple[float, list[float]]:
    db = await aiosqlite.connect(tmp / "baseline.sqlite3", isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, k TEXT, text TEXT, at TEXT)")
    latencies: list[float] = []
    started = time.perf_counter()
    for n in range(count):
        t0 = time.perf_counter()
        await db.execute("INSERT INTO m (k, text, at) VALUES (?, ?, ?)", (f"u{n}", SAMPLES[n % 6], "2026-11-25"))
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    await db.close()
    return count / elapsed, latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--paced-rate", type=float, default=500.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rate, latencies = await bench_core(tmp, args.users, args.messages)
        base_rate, base_latencies = await bench_baseline(tmp, args.users * (args.messages + 2))
    ms = 1000.0
    print(f"core      : {rate:8.0f} msg/s  p50 {percentile(latencies, .5) * ms:6.2f} ms"
          f"  p99 {percentile(latencies, .99) * ms:6.2f} ms  mean {statistics.mean(latencies) * ms:6.2f} ms"
          f"  ({args.users} users x {args.messages} messages, concurrent users)")
    print(f"baseline  : {base_rate:8.0f} ins/s  p50 {percentile(base_latencies, .5) * ms:6.2f} ms"
          f"  p99 {percentile(base_latencies, .99) * ms:6.2f} ms  (raw aiosqlite INSERT, sequential)")
    print(f"ratio     : core throughput = {rate / base_rate:.3f} x raw-insert throughput")
    with tempfile.TemporaryDirectory() as tmp_name:
        paced = await bench_paced(Path(tmp_name), args.paced_rate, 3.0)
    print(f"core paced: p50 {percentile(paced, .5) * ms:6.2f} ms  p99 {percentile(paced, .99) * ms:6.2f} ms"
          f"  ({args.paced_rate:.0f} msg/s offered for 3 s from 500 users: latency at a steady load)")
    # Latency with one user at a time shows the per-message overhead without queueing behind other users.
    with tempfile.TemporaryDirectory() as tmp_name:
        _, solo = await bench_core(Path(tmp_name), 1, 500)
    print(f"core solo : p50 {percentile(solo, .5) * ms:6.2f} ms  p99 {percentile(solo, .99) * ms:6.2f} ms"
          f"  (1 user x 500 messages: pipeline overhead without queueing)")


if __name__ == "__main__":
    asyncio.run(main())
