"""Speed of the deterministic crisis tier, next to a trivial baseline measured in the same run.

Usage: python bench/crisis_speed.py [-n N] [--seed S]

The messages are generated here (never taken from evaluation data): short and long, seven languages, benign,
figurative, distressed and risky, plus a few very long pastes. The baseline is one `re.search` of a simple
pattern over the same texts, so the printed ratio says what the full tier costs relative to doing almost
nothing, on this machine, in this run. Targets: >= 5,000 messages/s on one core, p99 < 2 ms.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.crisis.detect import assess, warm_up  # noqa: E402

_SNIPPETS = [
    "hey, how are you today?", "can you remind me about my appointment", "thanks, that helped a lot",
    "this exam is killing me lol", "I'd kill for a coffee right now", "how do I kill a python process",
    "I feel so tired and empty lately", "nobody would notice if I disappeared", "I want to die",
    "I've been cutting again", "how many pills would it take", "I'm on the roof", "my dad hits me",
    "estoy muy cansada, no puedo más", "quiero morir", "me muero de risa", "ich will nicht mehr leben",
    "die Prüfung bringt mich um", "j'ai envie de mourir", "je suis mort de rire", "não quero mais viver",
    "estou morrendo de fome", "voglio morire", "muoio dal ridere", "ik wil dood", "ik ben doodmoe",
    "I used to self-harm, two years clean", "my friend says she wants to die", "k!ll mys3lf", "🙂👍",
    "what are the warning signs of suicide?", "in the game I died three times", "I'm not suicidal, just sad",
]
_FILLER = ("Today was long. I went to work, had lunch with a colleague, and then the bus was late again so I "
           "walked home in the rain. ")


def make_messages(n: int, seed: int) -> list[str]:
    """A deterministic mix: mostly chat-sized, some paragraphs, ~1% long pastes (a few thousand chars)."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.70:
            out.append(rng.choice(_SNIPPETS))
        elif r < 0.97:
            parts = [rng.choice(_SNIPPETS) for _ in range(rng.randint(2, 6))]
            out.append(". ".join(parts) + " " + _FILLER * rng.randint(0, 3))
        else:
            out.append(_FILLER * rng.randint(15, 40) + rng.choice(_SNIPPETS))
    return out


def _time_each(fn, texts: list[str]) -> list[float]:  # type: ignore[no-untyped-def]
    lat = []
    clock = time.perf_counter
    for t in texts:
        t0 = clock()
        fn(t)
        lat.append(clock() - t0)
    return lat


def _report(name: str, lat: list[float]) -> float:
    total = sum(lat)
    qs = statistics.quantiles(lat, n=100)
    rate = len(lat) / total if total else float("inf")
    print(f"{name:24s} {rate:12,.0f} msg/s   p50 {qs[49] * 1e3:7.3f} ms   p99 {qs[98] * 1e3:7.3f} ms   "
          f"max {max(lat) * 1e3:7.3f} ms")
    return rate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    patterns = warm_up()
    print(f"lexicons: {patterns} patterns compiled in {time.perf_counter() - t0:.2f} s")
    texts = make_messages(args.n, args.seed)
    chars = sum(len(t) for t in texts)
    print(f"{len(texts)} messages, mean {chars / len(texts):.0f} chars, max {max(len(t) for t in texts)} chars")
    baseline_rx = re.compile(r"\b(die|kill|suicide)\b", re.IGNORECASE)
    _time_each(assess, texts[:200])  # warm caches
    base = _report("baseline re.search", _time_each(baseline_rx.search, texts))
    lat = _time_each(assess, texts)
    rate = _report("crisis tier (assess)", lat)
    p99 = statistics.quantiles(lat, n=100)[98]
    print(f"ratio baseline/tier: {base / rate:.1f}x slower than one re.search")
    ok = rate >= 5000 and p99 < 0.002
    print(f"targets (>= 5,000 msg/s, p99 < 2 ms): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
