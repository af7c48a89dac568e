"""What Haven adds on top of the SDK call: Claude replies through the fake Messages API, measured in one run.

    python bench/llm.py [--conversations 200] [--turns 5] [--concurrency 50]

Runs CONVERSATIONS scripted conversations of TURNS messages each (history grows turn by turn) against the
loopback fake (same process, same event loop). For every turn it times, back to back and alternating order:
  * baseline: `client.messages.create(**request)` alone, with the request already built;
  * full: `ResilientResponder.reply(text, context)`: prompt build, history windowing, the SDK call, the output
    guard and placeholder fill, metrics.
It prints both, the difference per reply (target < 5 ms) and the ratio, the pure-CPU cost of Haven's own steps
(build + guard, no network), and replies/s with CONCURRENCY in flight for both paths.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import LlmSettings  # noqa: E402
from bot.i18n import Catalog  # noqa: E402
from bot.llm.anthropic import AnthropicResponder, ResilientResponder  # noqa: E402
from bot.llm.base import ResponderContext  # noqa: E402
from bot.llm.offline import OfflineResponder  # noqa: E402
from bot.resources import ResourceDirectory  # noqa: E402
from tests.fakes.anthropic_fake import FakeAnthropic, Text  # noqa: E402

MESSAGES = ["I've been feeling stressed about work", "can't sleep again and my head keeps racing",
            "thanks, that helps a bit", "my exams are next week and I'm behind on everything",
            "I had an argument with my sister and I keep replaying it", "feeling a bit lonely tonight"]
REPLIES = ["That sounds like a lot to hold. What has been weighing on you most this week?",
           "Racing thoughts at night are exhausting. Would a short wind-down routine be worth a try tonight?",
           "I'm glad it helped a little. If things get heavy, you can reach {helpline} any time. What's next for you?",
           "Exams with a backlog can feel overwhelming. What is one small piece you could start with tomorrow?",
           "Replaying an argument is so draining. What do you wish your sister understood?"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def conversation(index: int, turns: int) -> list[str]:
    return [MESSAGES[(index + t) % len(MESSAGES)] for t in range(turns)]


async def main(conversations: int, turns: int, concurrency: int) -> None:
    counter = iter(range(10**9))
    fake = FakeAnthropic(default=lambda body: Text(REPLIES[next(counter) % len(REPLIES)]))
    await fake.start()
    catalog = Catalog()
    settings = LlmSettings(provider="anthropic", api_key="test-key", base_url=fake.base_url,
                           model="claude-sonnet-4-6", timeout_s=20)
    claude = AnthropicResponder(settings, catalog=catalog, directory=ResourceDirectory.load())
    bot = ResilientResponder(claude, OfflineResponder(catalog))
    client = claude.client
    base: list[float] = []
    full: list[float] = []
    cpu: list[float] = []
    try:
        await bot.reply("warm up", ResponderContext(lang="en"))          # connection pool, caches, imports
        # -- sequential, interleaved: per-reply latency of both paths under identical conditions ----------------
        for c in range(conversations):
            history: list[tuple[str, str]] = []
            profile = {"preferred_name": f"P{c}", "country": ("US", "GB", "DE", "AU")[c % 4]}
            for t, text in enumerate(conversation(c, turns)):
                context = ResponderContext(lang="en", history=list(history), profile=profile)
                request = claude.build_request(text, context)
                order = (("base", "full"), ("full", "base"))[(c + t) % 2]
                for which in order:
                    started = time.perf_counter()
                    if which == "base":
                        await client.messages.create(**request)
                        base.append(time.perf_counter() - started)
                    else:
                        reply = await bot.reply(text, context)
                        full.append(time.perf_counter() - started)
                started = time.perf_counter()
                claude.build_request(text, context)
                claude.guard(REPLIES[(c + t) % len(REPLIES)], context)
                cpu.append(time.perf_counter() - started)
                history += [("user", text), ("assistant", reply.text)]
        # -- concurrent throughput -------------------------------------------------------------------------------
        gate = asyncio.Semaphore(concurrency)

        async def run(path: str, c: int) -> None:
            history: list[tuple[str, str]] = []
            for text in conversation(c, turns):
                context = ResponderContext(lang="en", history=list(history), profile={"country": "US"})
                async with gate:
                    if path == "base":
                        await client.messages.create(**claude.build_request(text, context))
                        answer = "ok"
                    else:
                        answer = (await bot.reply(text, context)).text
                history += [("user", text), ("assistant", answer)]

        # Open the pool's connections first, then alternate the paths twice and keep each path's better run.
        await asyncio.gather(*(client.messages.create(**claude.build_request("hi", ResponderContext(lang="en")))
                               for _ in range(concurrency)))
        rates = {"base": 0.0, "full": 0.0}
        for path in ("base", "full", "full", "base"):
            started = time.perf_counter()
            await asyncio.gather(*(run(path, c) for c in range(conversations)))
            rates[path] = max(rates[path], conversations * turns / (time.perf_counter() - started))
    finally:
        await bot.aclose()
        await fake.stop()

    n = len(full)
    mb, mf = statistics.mean(base) * 1000, statistics.mean(full) * 1000
    print(f"{conversations} conversations x {turns} turns = {n} replies per path (sequential, interleaved)")
    print(f"baseline client.messages.create : mean {mb:6.2f} ms  p50 {pct(base, .5)*1000:6.2f}  "
          f"p99 {pct(base, .99)*1000:6.2f}")
    print(f"full ResilientResponder.reply   : mean {mf:6.2f} ms  p50 {pct(full, .5)*1000:6.2f}  "
          f"p99 {pct(full, .99)*1000:6.2f}")
    print(f"Haven overhead per reply        : {mf - mb:+6.2f} ms (mean), "
          f"{(pct(full, .5) - pct(base, .5))*1000:+6.2f} ms (p50); ratio full/baseline {mf / mb:.3f}  "
          f"(target < 5 ms)")
    print(f"Haven CPU alone (build+guard)   : mean {statistics.mean(cpu)*1000:6.3f} ms  "
          f"p99 {pct(cpu, .99)*1000:6.3f} ms")
    print(f"throughput, {concurrency} in flight     : baseline {rates['base']:7.1f} replies/s, "
          f"full {rates['full']:7.1f} replies/s (ratio {rates['full'] / rates['base']:.3f})")
    print(f"outcomes: {dict(bot.metrics.outcomes)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.conversations, args.turns, args.concurrency))
