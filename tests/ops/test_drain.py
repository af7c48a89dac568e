"""Graceful shutdown: on stop, `haven run` stops taking updates, lets replies already being worked on finish and
reach the platform, then stops. Run in-process against the Telegram fake with a responder (or a sendMessage)
held open by the test, so shutdown provably starts mid-reply."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.memory import MemoryAdapter, texts
from adapters.telegram import TelegramAdapter
from bot.app import HavenApp, serve
from bot.config import Settings
from bot.llm.base import ResponderContext, ResponderReply
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from tests.conftest import make_core
from tests.fakes.telegram_fake import Call, FakeTelegram
from tests.ops.helpers import get

ALICE = 5151
SLOW = "slow question"
ANSWER = "Thank you for waiting, I am here."


class GatedResponder:
    """Answers at once, except a message containing SLOW, which waits until the test opens the gate."""

    name = "gated"
    uses_history = False

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.gate = asyncio.Event()

    async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
        if SLOW in text:
            self.started.set()
            await self.gate.wait()
        return ResponderReply(ANSWER)


class SlowSendTelegram(FakeTelegram):
    """The fake Bot API, holding sendMessage calls that carry ANSWER until `gate` opens."""

    def __init__(self) -> None:
        super().__init__()
        self.sending = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def _m_sendMessage(self, p: dict[str, Any]) -> Any:
        if ANSWER in str(p.get("text")):
            self.sending.set()
            await self.gate.wait()
        return await super()._m_sendMessage(p)


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """For state no event announces (an adapter's `ready`, a log line from another task)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def logged(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith(event)]


# --- the core's own drain -----------------------------------------------------------------------------------

async def test_core_drain_waits_for_handles_in_flight(settings: Settings, store: SqliteStore,
                                                      directory: ResourceDirectory) -> None:
    responder = GatedResponder()
    memory = MemoryAdapter(make_core(settings, store, directory, responder=responder))
    await memory.send("hi")
    assert await memory.core.drain(5.0) == 0          # nothing in flight: returns at once
    slow = asyncio.create_task(memory.send(SLOW))
    await asyncio.wait_for(responder.started.wait(), 10)
    assert memory.core.inflight == 1
    assert await memory.core.drain(0.05) == 1         # bounded: reports what is still running
    draining = asyncio.create_task(memory.core.drain(10.0))
    await asyncio.sleep(0)
    assert not draining.done()
    responder.gate.set()
    assert await draining == 0
    assert ANSWER in texts(await slow)


# --- haven run's shutdown, in process -----------------------------------------------------------------------

Running = Callable[..., Awaitable[tuple[HavenApp, TelegramAdapter, asyncio.Event, "asyncio.Task[None]"]]]


@pytest.fixture
async def fake() -> AsyncIterator[SlowSendTelegram]:
    server = SlowSendTelegram()
    await server.start()
    yield server
    server.gate.set()
    await server.close()


@pytest.fixture
async def running(fake: SlowSendTelegram, tmp_path: Path) -> AsyncIterator[Running]:
    tasks: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def _start(responder: GatedResponder) -> tuple[HavenApp, TelegramAdapter, asyncio.Event,
                                                         asyncio.Task[None]]:
        settings = Settings.model_validate({
            "telegram": {"enabled": True, "token": fake.token, "base_url": fake.root},
            "ops": {"enabled": True, "drain_timeout_s": "10s"}})
        app = await HavenApp.create(settings, tmp_path / "data")
        app.core.responder = responder
        adapter = TelegramAdapter(app)
        app.outbox.register(adapter)
        stop = asyncio.Event()
        task = asyncio.create_task(serve(app, [("telegram", adapter)], stop, ops_port=0))
        tasks.append((stop, task))
        return app, adapter, stop, task

    yield _start
    for stop, task in tasks:
        stop.set()
        await asyncio.wait_for(task, 30)


def to(chat_id: int) -> Callable[[Call], bool]:
    return lambda call: call.params.get("chat_id") == chat_id and call.status == 200


async def consented(fake: FakeTelegram) -> None:
    fake.push_text(ALICE, "/start")
    consent = await fake.wait_call("sendMessage", lambda c: to(ALICE)(c) and "consent:yes" in str(c.params))
    fake.push_callback(ALICE, "consent:yes", fake.sent_result(consent))
    await fake.wait_call("sendMessage", lambda c: to(ALICE)(c) and "Thank you" in str(c.params.get("text")))


async def test_shutdown_mid_reply_still_delivers_the_reply(fake: SlowSendTelegram, running: Running,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    responder = GatedResponder()
    _, adapter, stop, task = await running(responder)
    await consented(fake)
    [listening] = logged(caplog, "event=ops_listening")
    port = int(listening.getMessage().split("port=")[1])
    assert (await get(port, "/readyz"))[0] == 200

    fake.push_text(ALICE, SLOW)
    await asyncio.wait_for(responder.started.wait(), 10)     # the reply is being worked on...
    stop.set()                                               # ...when SIGTERM arrives
    await eventually(lambda: not adapter.ready)              # polling stopped first
    status, _, body = await get(port, "/readyz")
    assert status == 503 and "draining" in json.loads(body)["not_ready"]
    later = fake.push_text(ALICE, "written after shutdown began")
    assert not task.done() and not logged(caplog, "event=drained")
    responder.gate.set()
    await asyncio.wait_for(task, 30)

    assert fake.calls_of("sendMessage", lambda c: to(ALICE)(c) and ANSWER in str(c.params.get("text")))
    assert [r.getMessage() for r in logged(caplog, "event=drained")] == ["event=drained inflight=0"]
    # Not fetched, so not lost: Telegram keeps it until a worker confirms it.
    assert later["update_id"] in [u["update_id"] for u in fake.updates]


async def test_shutdown_waits_for_a_slow_send_to_the_platform(fake: SlowSendTelegram, running: Running,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    responder = GatedResponder()
    responder.gate.set()
    _, _, stop, task = await running(responder)
    await consented(fake)
    fake.gate.clear()
    fake.push_text(ALICE, "are you there?")
    await asyncio.wait_for(fake.sending.wait(), 10)          # the core answered; sendMessage is in flight
    stop.set()
    await eventually(lambda: bool(logged(caplog, "event=drained")))
    assert not task.done()                                   # the adapter is still finishing the send
    fake.gate.set()
    await asyncio.wait_for(task, 30)
    [sent] = fake.calls_of("sendMessage", lambda c: to(ALICE)(c) and ANSWER in str(c.params.get("text")))
    assert sent.status == 200
