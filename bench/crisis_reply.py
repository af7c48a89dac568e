"""Crisis reply latency with the language model down, against ordinary replies measured in the same run.

    python bench/crisis_reply.py [--messages 200]

Each crisis message comes from a new person (first contact: disclosure, crisis reply, escalation bookkeeping),
through the real core on SQLite, with a responder that would hang forever if called. The baseline is the same
number of ordinary first-contact messages answered by the offline responder. Target: the crisis reply within
200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.memory import MemoryAdapter  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core import Core  # noqa: E402
from bot.crisis.detect import warm_up  # noqa: E402
from bot.i18n import Catalog  # noqa: E402
from bot.llm.base import ResponderContext, ResponderReply  # noqa: E402
from bot.llm.offline import OfflineResponder  # noqa: E402
from bot.privacy import Pseudonymizer  # noqa: E402
from bot.resources import ResourceDirectory  # noqa: E402
from bot.store.sqlite import SqliteStore  # noqa: E402


class DownLLM:
    name = "anthropic"

    async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def timed(path: Path, responder: object, text: str, count: int) -> list[float]:
    store = SqliteStore(path)
    await store.open()
    catalog = Catalog()
    adapter = MemoryAdapter(Core(settings=Settings(), store=store, catalog=catalog, directory=ResourceDirectory.load(),
                                 responder=responder, pseudonymizer=Pseudonymizer(b"c" * 32)))  # type: ignore[arg-type]
    latencies = []
    for index in range(count):
        started = time.perf_counter()
        await asyncio.wait_for(adapter.send(text, user=f"p{index}"), timeout=5)
        latencies.append((time.perf_counter() - started) * 1000)
    await store.close()
    return sorted(latencies)


def summary(values: list[float]) -> str:
    return (f"p50 {values[len(values) // 2]:6.2f} ms  p99 {values[min(len(values) - 1, int(len(values) * .99))]:6.2f} ms"
            f"  max {values[-1]:6.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        crisis = await timed(Path(tmp) / "c.sqlite3", DownLLM(), "I'm going to kill myself tonight", args.messages)
        ordinary = await timed(Path(tmp) / "o.sqlite3", OfflineResponder(Catalog()), "work has been a lot lately",
                               args.messages)
    print(f"crisis reply, LLM down : {summary(crisis)}  ({args.messages} first-contact messages)")
    print(f"ordinary reply, offline: {summary(ordinary)}  (baseline, same run)")
    print(f"ratio p99 crisis/ordinary: {crisis[int(len(crisis) * .99)] / ordinary[int(len(ordinary) * .99)]:.2f}"
          f"   target: every crisis reply < 200 ms -> {'met' if crisis[-1] < 200 else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
