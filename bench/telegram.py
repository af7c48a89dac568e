"""Telegram throughput: Haven against a bare PTB echo bot, same fake Bot API, same run.

The fake runs in a separate process (as platform-notes measured: sharing one loop with it halves what the bot
can do). Both bots use the same transport settings (concurrent_updates and connection pool as Haven configures
them), get the same 2,000 updates from 200 users pushed at once, and are timed from the push until every update
has been handled and answered. The echo baseline runs before and after Haven. The ratio is what Haven's pipeline (crisis check, SQLite, offline responder,
rendering) costs relative to PTB alone; run-to-run noise on a shared machine is large, so compare the ratio.

    python -m bench.telegram [--updates 2000] [--users 200] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes, TypeHandler

from adapters.telegram import TelegramAdapter
from bot.app import HavenApp
from bot.config import Settings

TOKEN = "123456:TEST-TOKEN"
TEXTS = ["hi", "work has been a lot lately", "I can't sleep well", "my manager keeps piling things on",
         "thanks for listening", "I feel a bit better today", "my sister called me", "I went for a walk",
         "exams are coming up", "not sure what to do next"]


@contextlib.contextmanager
def fake_process() -> Iterator[str]:
    """The fake Bot API in its own Python process; yields its root URL."""
    process = subprocess.Popen([sys.executable, "-m", "tests.fakes.telegram_fake", "--port", "0", "--token", TOKEN],
                               stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("port="):
            raise RuntimeError("the fake did not start")
        yield f"http://127.0.0.1:{int(line.removeprefix('port='))}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _control(root: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(f"{root}/_ctl/{action}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def updates(count: int, users: int, offset: int) -> list[dict[str, Any]]:
    """Interleaved users, each writing its messages in order (user u's n-th message is TEXTS[n])."""
    result = []
    for index in range(count):
        user, nth = 10_000 + index % users, index // users
        text = TEXTS[nth % len(TEXTS)]
        result.append({"message": {
            "message_id": offset + index, "date": int(time.time()), "text": text,
            "chat": {"id": user, "type": "private", "first_name": "U"},
            "from": {"id": user, "is_bot": False, "first_name": "U", "language_code": "en"}}})
    return result


async def echo_bot(root: str, count: int, users: int, concurrency: int) -> float:
    handled = 0
    done = asyncio.Event()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        nonlocal handled
        if update.message and update.message.text:
            await update.message.chat.send_message(update.message.text)
        handled += 1
        if handled >= count:
            done.set()

    app = (Application.builder().token(TOKEN).base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
           .concurrent_updates(concurrency).connection_pool_size(concurrency + 8).pool_timeout(30.0).build())
    app.add_handler(TypeHandler(Update, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=25)
        batch = updates(count, users, offset=1)
        started = time.perf_counter()
        _control(root, "push", {"updates": batch})
        await asyncio.wait_for(done.wait(), 600)
        elapsed = time.perf_counter() - started
        await app.updater.stop()
        await app.stop()
    return count / elapsed


async def haven_bot(root: str, count: int, users: int, concurrency: int) -> tuple[float, int]:
    settings = Settings.model_validate({"telegram": {"enabled": True, "token": TOKEN, "base_url": root,
                                                     "concurrency": concurrency}})
    with tempfile.TemporaryDirectory() as data_dir:
        app = await HavenApp.create(settings, Path(data_dir))
        adapter = TelegramAdapter(app)
        app.outbox.register(adapter)
        await adapter.start()
        try:
            sent_before = _control(root, "count", {})["count"]
            batch = updates(count, users, offset=100_000)
            started = time.perf_counter()
            _control(root, "push", {"updates": batch})
            await adapter.wait_handled(count, timeout=600)
            elapsed = time.perf_counter() - started
            sent = _control(root, "count", {})["count"] - sent_before
        finally:
            await adapter.stop()
            await app.close()
    return count / elapsed, sent


async def main(count: int, users: int, concurrency: int) -> None:
    with fake_process() as root:
        echo_before = await echo_bot(root, count, users, concurrency)
        haven_rate, sent = await haven_bot(root, count, users, concurrency)
        echo_after = await echo_bot(root, count, users, concurrency)
    # The baseline runs before and after Haven so drift in machine load affects both sides alike.
    echo_rate = (echo_before + echo_after) / 2
    print(f"updates={count} users={users} concurrency={concurrency} fake=separate-process")
    print(f"echo_ptb   {echo_rate:8.1f} updates/s  (before {echo_before:.1f}, after {echo_after:.1f})")
    print(f"haven      {haven_rate:8.1f} updates/s  (sendMessage calls: {sent})")
    print(f"ratio      {haven_rate / echo_rate:8.2f}  (target >= 0.5)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.updates, arguments.users, arguments.concurrency))
