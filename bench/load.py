"""Load proof: 10,000 messages from 1,000 users through the Telegram fake, into two workers on PostgreSQL and
into one worker on SQLite, against a bare PTB echo bot in the same run.

Every topology is a real deployment on loopback: the fake Bot API delivering webhooks as Telegram does (up to 40
connections, each chat in order, retried until acknowledged), a round-robin balancer process, and `haven run`
worker processes started from YAML. Each user writes its messages one after another, waiting for the answer
before writing again (as people do), all users at once. A one-user reference run first records how many
messages each step is answered with; afterwards every chat must hold exactly that many: fewer is a lost reply,
more a duplicated one. Worker logs are then scanned for the users' words and Telegram ids.

    python -m bench.load [--users 1000] [--messages 10] [--only echo,sqlite,postgres]

Reports throughput and p50/p99 reply latency (from the update's push to the first answer in that chat) per
topology and as a ratio against the echo baseline. All processes share this 2-core machine with the driver,
so absolute numbers are modest; the ratio and the zero-loss counts are the point.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cluster import (PSEUDONYM_SECRET, TOKEN, WEBHOOK_SECRET, WatchedTelegram, close_cluster,
                           postgres_database, scan_logs, start_cluster)

SCRIPT = ["hi", "work has been a lot lately", "I can't sleep well", "my manager keeps piling things on",
          "honestly I want to kill myself", "thanks for listening", "I went for a walk this evening",
          "exams are coming up soon", "not sure what to do next", "I feel a bit better today"]
FIRST_USER = 7_100_000
REFERENCE_USER = 7_099_999


@dataclass
class Result:
    name: str
    sent: int
    users: int
    wall_s: float
    latencies: list[float]
    lost: int
    duplicated: int
    unacknowledged: int
    leaks: list[str]

    @property
    def rate(self) -> float:
        return self.sent / self.wall_s if self.wall_s else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _settled(fake: WatchedTelegram, chat: int, quiet: float = 0.6) -> int:
    """The chat's message count once nothing more has arrived for `quiet` seconds."""
    count = len(fake.sent[chat])
    while True:
        await asyncio.sleep(quiet)
        now = len(fake.sent[chat])
        if now == count:
            return count
        count = now


async def reference(fake: WatchedTelegram, script: list[str]) -> list[int]:
    """How many messages a person has received after each step of the script: one user, one step at a time."""
    totals = []
    for text in script:
        before = len(fake.sent[REFERENCE_USER])
        fake.push_text(REFERENCE_USER, text)
        if not await fake.wait_count(REFERENCE_USER, before + 1, timeout=60):
            raise RuntimeError("the reference user got no answer")
        totals.append(await _settled(fake, REFERENCE_USER))
    return totals


async def drive(fake: WatchedTelegram, users: int, script: list[str], expected: list[int]) -> tuple[float, list[float]]:
    latencies: list[float] = []

    async def person(user: int) -> None:
        for step, text in enumerate(script):
            before = len(fake.sent[user])
            pushed = time.perf_counter()
            fake.push_text(user, text)
            if not await fake.wait_count(user, expected[step], timeout=180):
                return   # counted as lost below
            latencies.append(fake.sent[user][before][0] - pushed)

    started = time.perf_counter()
    await asyncio.gather(*(person(FIRST_USER + index) for index in range(users)))
    return time.perf_counter() - started, latencies


async def run(name: str, workdir: Path, *, workers: int, storage_url: str, echo: bool, users: int,
              script: list[str]) -> Result:
    cluster = await start_cluster(workdir, workers=workers, storage_url=storage_url, echo=echo)
    fake = cluster.fake
    try:
        expected = list(range(1, len(script) + 1)) if echo else await reference(fake, script)
        wall, latencies = await drive(fake, users, script, expected)
        await asyncio.sleep(2.0)   # late duplicates would arrive now
        lost = duplicated = 0
        for index in range(users):
            got = len(fake.sent[FIRST_USER + index])
            lost += max(0, expected[-1] - got)
            duplicated += max(0, got - expected[-1])
        final = {}
        for update_id, status in fake.webhook_deliveries:
            final[update_id] = final.get(update_id) == 200 or 200 <= status < 300
        unacknowledged = sum(1 for ok in final.values() if not ok)
    finally:
        await close_cluster(cluster)
    needles = {text for text in script if len(text) >= 8} | {str(FIRST_USER + i) for i in range(users)}
    needles |= {TOKEN, WEBHOOK_SECRET, PSEUDONYM_SECRET}
    leaks = [] if echo else scan_logs(cluster.logs, needles)
    return Result(name, users * len(script), users, wall, latencies, lost, duplicated, unacknowledged, leaks)


def report(results: list[Result]) -> None:
    baseline = next((r for r in results if r.name.startswith("echo")), None)
    print(f"{'topology':<28}{'msgs':>7}{'users':>7}{'wall_s':>8}{'msg/s':>8}{'p50_ms':>9}{'p99_ms':>9}"
          f"{'lost':>6}{'dup':>5}{'unack':>7}{'leaks':>7}{'ratio':>7}")
    for r in results:
        ratio = f"{r.rate / baseline.rate:7.2f}" if baseline and baseline.rate else "      -"
        print(f"{r.name:<28}{r.sent:>7}{r.users:>7}{r.wall_s:>8.1f}{r.rate:>8.0f}{r.percentile(0.5):>9.1f}"
              f"{r.percentile(0.99):>9.1f}{r.lost:>6}{r.duplicated:>5}{r.unacknowledged:>7}{len(r.leaks):>7}{ratio}")
    for r in results:
        for leak in r.leaks[:10]:
            print(f"LEAK {r.name}: {leak}")
    if baseline:
        print("ratio = msg/s against the bare PTB echo bot behind the same balancer, same fake, same run")


async def main(users: int, messages: int, only: set[str]) -> int:
    script = (SCRIPT * (messages // len(SCRIPT) + 1))[:messages]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="haven-load-") as tmp:
        root = Path(tmp)
        if "echo" in only:
            results.append(await run("echo (PTB) x1", root / "echo", workers=1, storage_url="", echo=True,
                                     users=users, script=script))
        if "sqlite" in only:
            url = f"sqlite:///{root / 'sqlite' / 'haven.sqlite3'}"
            results.append(await run("haven sqlite x1", root / "sqlite", workers=1, storage_url=url, echo=False,
                                     users=users, script=script))
        if "postgres" in only:
            async with postgres_database() as url:
                results.append(await run("haven postgres x2", root / "pg", workers=2, storage_url=url,
                                         echo=False, users=users, script=script))
    report(results)
    bad = sum(r.lost + r.duplicated + r.unacknowledged + len(r.leaks) for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    # The fake's server logs every connection a killed or stopping worker drops; that is the point, not news.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--only", default="echo,sqlite,postgres")
    arguments = parser.parse_args()
    raise SystemExit(asyncio.run(main(arguments.users, arguments.messages, set(arguments.only.split(",")))))
