"""Kill proof: SIGKILL a worker at a random moment while crisis messages are in flight, again and again; every
escalation must reach the staff chat exactly once, and every person must get the crisis reply.

Topologies: two workers on PostgreSQL behind the balancer (the survivor takes over at once; the killed one is
restarted), and one worker on SQLite (restarted). Each trial sends crisis messages from new people, waits a
random 0-250 ms, kills a worker, restarts it, and waits until that trial's people are answered and their
notices are out before the next trial (one crash and its recovery per trial); at the end, after the job lease has expired so that
any double delivery would have happened, the staff chat must hold exactly one notice per person and every
person at least one crisis reply. Worker logs are scanned for the people's words and ids.

    python -m bench.kill [--trials 100] [--per-trial 3] [--only postgres,sqlite] [--seed 1]

Why recovery works: the webhook is acknowledged only after handling, so Telegram redelivers what a dead worker
had not finished; the event dedupe (under the per-conversation lock) takes over an unfinished event at once; the
case and its first notice job are committed together; a dead worker's claimed notice job comes back after
`jobs.lease_s`. The one unavoidable window is a kill between Telegram accepting a notice and the job being
marked done (the platform has no idempotency key): that notice is sent again, and the figures would show it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.cluster import (PSEUDONYM_SECRET, STAFF_CHAT, TOKEN, WEBHOOK_SECRET, Cluster, close_cluster,
                           postgres_database, start_cluster)
from bench.cluster import scan_logs

CRISIS_TEXTS = ["I want to kill myself tonight", "I have the pills in my hand and I'm going to take them all",
                "I'm going to end my life, I wrote the goodbye letter", "ich will mich heute umbringen",
                "quiero suicidarme esta noche"]
CRISIS_REPLY_MARKERS = ("Are you safe right now?", "Estás a salvo", "Bist du gerade in Sicherheit")
CASE_ID = re.compile(r"Haven case (\S+):")
FIRST_USER = 8_200_000
LEASE_S = 3.0


@dataclass
class Outcome:
    name: str
    trials: int
    people: int = 0
    kills: int = 0
    notices: Counter[str] = field(default_factory=Counter)
    without_reply: int = 0
    leaks: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def missing(self) -> int:
        return max(0, self.people - len(self.notices))

    @property
    def duplicated(self) -> int:
        return sum(count - 1 for count in self.notices.values() if count > 1)


async def trials(cluster: Cluster, outcome: Outcome, count: int, per_trial: int, rng: random.Random,
                 first_user: int) -> list[int]:
    fake = cluster.fake
    people: list[int] = []
    for trial in range(count):
        batch = [first_user + trial * per_trial + k for k in range(per_trial)]
        people += batch
        for user in batch:
            fake.push_text(user, rng.choice(CRISIS_TEXTS))
        await asyncio.sleep(rng.uniform(0.0, 0.25))
        victim = rng.choice(cluster.workers)
        victim.kill()
        outcome.kills += 1
        victim.start()
        await victim.wait_ready()
        # Each trial is one crash and its recovery: the next kill comes once this trial's people have their
        # reply and staff their notices (or after a minute, when the final count will show what is missing).
        await settle(cluster, people, timeout=60, linger=0.0)
    return people


def _replied(cluster: Cluster, user: int) -> bool:
    return any(marker in text for _, text in cluster.fake.sent[user] for marker in CRISIS_REPLY_MARKERS)


async def settle(cluster: Cluster, people: list[int], timeout: float, linger: float = LEASE_S * 2 + 1.0) -> None:
    """Wait until every person has a reply and a notice exists per person, then `linger` seconds more (by
    default past a job lease, so a notice held by a killed worker would have been sent twice by then)."""
    fake = cluster.fake
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        notices = {m.group(1) for _, text in fake.sent[STAFF_CHAT] if (m := CASE_ID.search(text))}
        if len(notices) >= len(people) and all(_replied(cluster, user) for user in people):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(linger)


async def run(name: str, workdir: Path, *, workers: int, storage_url: str, count: int, per_trial: int,
              rng: random.Random) -> Outcome:
    outcome = Outcome(name, count)
    started = time.perf_counter()
    cluster = await start_cluster(workdir, workers=workers, storage_url=storage_url, escalate_to_staff=True,
                                  lease_s=LEASE_S)
    cluster.fake.groups[STAFF_CHAT] = "supergroup"
    try:
        people = await trials(cluster, outcome, count, per_trial, rng, FIRST_USER)
        outcome.people = len(people)
        await settle(cluster, people, timeout=120)
        for _, text in cluster.fake.sent[STAFF_CHAT]:
            match = CASE_ID.search(text)
            if match:
                outcome.notices[match.group(1)] += 1
        outcome.without_reply = sum(1 for user in people if not _replied(cluster, user))
    finally:
        await close_cluster(cluster)
    needles = {text for text in CRISIS_TEXTS} | {str(user) for user in people} | {TOKEN, WEBHOOK_SECRET,
                                                                                  PSEUDONYM_SECRET}
    outcome.leaks = scan_logs(cluster.logs, needles)
    outcome.seconds = time.perf_counter() - started
    return outcome


def report(outcomes: list[Outcome]) -> None:
    print(f"{'topology':<22}{'trials':>7}{'kills':>7}{'people':>8}{'cases':>7}{'missing':>9}{'dup':>5}"
          f"{'no_reply':>10}{'leaks':>7}{'secs':>7}")
    for o in outcomes:
        print(f"{o.name:<22}{o.trials:>7}{o.kills:>7}{o.people:>8}{len(o.notices):>7}{o.missing:>9}{o.duplicated:>5}"
              f"{o.without_reply:>10}{len(o.leaks):>7}{o.seconds:>7.0f}")
        for leak in o.leaks[:10]:
            print(f"LEAK {o.name}: {leak}")


async def main(count: int, per_trial: int, only: set[str], seed: int, keep: Path | None) -> int:
    rng = random.Random(seed)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="haven-kill-") as tmp:
        root = keep or Path(tmp)
        if "postgres" in only:
            async with postgres_database() as url:
                outcomes.append(await run("postgres x2 (kill 1)", root / "pg", workers=2, storage_url=url,
                                          count=count, per_trial=per_trial, rng=rng))
        if "sqlite" in only:
            url = f"sqlite:///{root / 'sqlite' / 'haven.sqlite3'}"
            outcomes.append(await run("sqlite x1 (restart)", root / "sqlite", workers=1, storage_url=url,
                                      count=count, per_trial=per_trial, rng=rng))
    report(outcomes)
    bad = sum(o.missing + o.duplicated + o.without_reply + len(o.leaks) for o in outcomes)
    return 1 if bad else 0


if __name__ == "__main__":
    # The fake's server logs every connection a killed or stopping worker drops; that is the point, not news.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--per-trial", type=int, default=3)
    parser.add_argument("--only", default="postgres,sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="keep worker configs and logs in this directory")
    arguments = parser.parse_args()
    raise SystemExit(asyncio.run(main(arguments.trials, arguments.per_trial, set(arguments.only.split(",")),
                                      arguments.seed, arguments.keep)))
