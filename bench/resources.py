"""Benchmark: indexed ResourceDirectory.search against a plain linear scan, same queries, same run.

    .venv/bin/python bench/resources.py [--queries 10000] [--seed 7]

Why: the crisis reply looks helplines up on every risky message; the target is < 0.1 ms per lookup.
The baseline filters every entry with plain Python and sorts with the same ranking key, so the ratio
shows what the load-time indexes buy (both return the same ids; the script checks that).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.resources import Resource, ResourceDirectory  # noqa: E402
from bot.resources.model import KINDS, TOPICS  # noqa: E402
from bot.resources.search import normalize_country, normalize_lang  # noqa: E402

Query = dict[str, object]


def make_queries(directory: ResourceDirectory, n: int, seed: int) -> list[Query]:
    rng = random.Random(seed)
    countries = sorted(directory.countries()) + ["ZZ", "international"]
    langs = sorted({lang for r in directory for lang in r.languages}) + ["zz"]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    queries: list[Query] = []
    for _ in range(n):
        queries.append({
            "country": rng.choice(countries) if rng.random() < 0.9 else None,
            "topic": rng.choice(sorted(TOPICS)) if rng.random() < 0.5 else None,
            "lang": rng.choice(langs) if rng.random() < 0.7 else None,
            "kind": rng.choice(sorted(KINDS)) if rng.random() < 0.3 else None,
            "open_at": start + timedelta(minutes=rng.randrange(525600)) if rng.random() < 0.5 else None,
        })
    return queries


def linear_scan(entries: list[Resource], country: str | None, topic: str | None, lang: str | None,
                kind: str | None, open_at: datetime | None) -> list[str]:
    """The naive way: look at every entry for every query (no indexes, no precomputation)."""
    country = normalize_country(country)
    lang = normalize_lang(lang)

    def matches(r: Resource, want_country: str | None) -> bool:
        if want_country is not None and r.country != want_country:
            return False
        if topic is not None and topic not in r.topics and not (
            topic == "suicide" and r.kind in ("crisis_line", "text_line") and "mental_health" in r.topics
        ):
            return False
        if kind is not None and r.kind != kind:
            return False
        return open_at is None or r.is_open(open_at)

    hits = [r for r in entries if matches(r, country)]
    if not hits and country not in (None, "international"):
        hits = [r for r in entries if matches(r, "international")]
    order = {"crisis_line": 0, "text_line": 1, "chat": 2}

    def key(r: Resource) -> tuple[int, int, int, int, str]:
        in_lang = lang is None or lang in r.languages
        tier = 0 if (in_lang and r.is_crisis_247_free) else (1 if in_lang else 2)
        return (0 if r.operator else 1, tier, 0 if r.audience == "everyone" else 1, order.get(r.kind, 3), r.id)

    return [r.id for r in sorted(hits, key=key)]


def timed(fn, queries: list[Query]) -> tuple[list[float], list[list[str]]]:  # type: ignore[no-untyped-def]
    times: list[float] = []
    results: list[list[str]] = []
    clock = time.perf_counter
    for q in queries:
        t0 = clock()
        out = fn(q)
        times.append(clock() - t0)
        results.append(out)
    return times, results


def report(name: str, times: list[float]) -> float:
    total = sum(times)
    ms = sorted(t * 1000 for t in times)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"{name:12} {len(times) / total:12,.0f} lookups/s   mean {statistics.fmean(ms):.4f} ms   p99 {p99:.4f} ms")
    return statistics.fmean(ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    directory = ResourceDirectory.load()
    entries = list(directory)
    queries = make_queries(directory, args.queries, args.seed)
    print(f"directory: {len(entries)} entries, {len(directory.countries())} countries; {len(queries)} random queries")

    def indexed(q: Query) -> list[str]:
        return [r.id for r in directory.search(**q)]  # type: ignore[arg-type]

    def baseline(q: Query) -> list[str]:
        return linear_scan(entries, **q)  # type: ignore[arg-type]

    indexed(queries[0]), baseline(queries[0])  # warm caches (zoneinfo, bytecode)
    t_idx, r_idx = timed(indexed, queries)
    t_lin, r_lin = timed(baseline, queries)
    # Pairs are expanded only by the directory; compare as sets on queries without paired entries.
    paired = {r.id for r in entries if r.pair}
    mismatches = sum(1 for a, b in zip(r_idx, r_lin) if not (set(a) | set(b)) & paired and a != b)
    mean_idx = report("indexed", t_idx)
    mean_lin = report("linear scan", t_lin)
    scoped = [t for t, q in zip(t_idx, queries) if q["country"] is not None]
    report("  by country", scoped)
    report("  no country", [t for t, q in zip(t_idx, queries) if q["country"] is None])
    print(f"ratio        indexed is {mean_lin / mean_idx:.1f}x faster than the linear scan (mean)")
    print(f"target       < 0.1 ms per lookup: {'met' if mean_idx < 0.1 else 'NOT met'}; result mismatches: {mismatches}")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
