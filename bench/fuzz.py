"""Fuzz campaigns at scale: 10,000 generated hostile payloads per adapter through the real client libraries.

The same campaigns as tests/reliability/test_fuzz_*.py (which feed a few hundred in CI): each adapter runs against
its loopback fake with a real HavenApp, every payload goes through the library's own parsing and Haven's handler
(concurrently, in batches, as a busy platform would deliver them), and the report says per adapter: payloads sent,
rejections by reason, answers, crashes, unhandled exceptions, log records scanned and leaks found. Exit status 1
when any campaign broke a promise (a crash, an unhandled exception, a library error, a missed or doubled answer,
a leak).

Payloads are drawn by Hypothesis in worker processes (both cores: drawing is the slow part), in chunks with seeds
derived from `--seed`, so a run can be repeated. Regression payloads (shapes that once broke an adapter) are fed
first.

    python bench/fuzz.py [--n 10000] [--adapter telegram|slack|discord|all] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

# `python bench/fuzz.py` puts bench/ first on the path, where bench/telegram.py would shadow the `telegram` package:
# the repository root takes its place.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from tests.reliability import payloads  # noqa: E402
from tests.reliability.campaign import Report, run_discord, run_slack, run_telegram  # noqa: E402

CAMPAIGNS: dict[str, tuple[str, Any, list[Any]]] = {
    "telegram": ("telegram_posts", run_telegram, payloads.TELEGRAM_REGRESSIONS),
    "slack": ("slack_requests", run_slack, payloads.SLACK_REGRESSIONS),
    "discord": ("discord_frames", run_discord, payloads.DISCORD_REGRESSIONS),
}
CHUNK = 500


def _draw(strategy_name: str, count: int, seed: int) -> list[Any]:
    return payloads.generate(getattr(payloads, strategy_name), count, seed_value=seed)


def draw_all(strategy_name: str, n: int, seed: int, workers: int) -> list[Any]:
    """`n` payloads, drawn in chunks of CHUNK by `workers` processes."""
    sizes = [min(CHUNK, n - start) for start in range(0, n, CHUNK)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        chunks = pool.map(_draw, [strategy_name] * len(sizes), sizes,
                          [seed * 10_000 + index for index in range(len(sizes))])
        return [item for chunk in chunks for item in chunk]


async def run_one(name: str, n: int, seed: int, workers: int) -> tuple[Report, float]:
    strategy_name, runner, regressions = CAMPAIGNS[name]
    started = time.monotonic()
    items = copy.deepcopy(regressions) + draw_all(strategy_name, n, seed, workers)
    drawn = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix=f"haven-fuzz-{name}-") as data_dir:
        report = await runner(items, Path(data_dir), seed=seed)
    return report, drawn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="generated payloads per adapter (default 10000)")
    parser.add_argument("--adapter", choices=[*CAMPAIGNS, "all"], default="all")
    parser.add_argument("--seed", type=int, default=None, help="default: a fresh random seed, printed")
    parser.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    # The campaigns capture every log record themselves (tests/reliability/logscan.py); nothing goes to stderr.
    logging.getLogger().handlers[:] = [logging.NullHandler()]
    names = list(CAMPAIGNS) if args.adapter == "all" else [args.adapter]
    print(f"fuzz: {args.n} generated payloads per adapter (+ regressions), seed {seed}", flush=True)
    failed = False
    for name in names:
        report, drawn = asyncio.run(run_one(name, args.n, seed, args.workers))
        print(report.summary(), flush=True)
        print(f"  drawing the payloads took {drawn:.1f} s (not included above)", flush=True)
        failed = failed or not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
