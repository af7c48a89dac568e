"""/healthz, /readyz and /metrics over real HTTP, with the real Core, SQLite store, detector and job runner
behind them. Ends with the privacy check: nothing a person wrote, and none of their ids, reaches the metrics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter
from bot.config import Settings
from bot.core import Core
from bot.delivery import Outbox
from bot.events import ButtonPressed, ConversationKind, ConversationRef, IncomingMessage, UserRef
from bot.jobs import JobRunner
from bot.ops.metrics import PrometheusMetrics
from bot.ops.server import OpsServer
from bot.ops.store_gauges import StoreGauges
from bot.privacy import FieldCipher
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from tests.clock import Clock
from tests.conftest import make_core
from tests.ops.helpers import get, samples, value

CRISIS = "I have the pills in my hand and I'm going to take them tonight"


class Platform:
    """A stand-in adapter whose readiness the test controls."""

    name = "telegram"

    def __init__(self) -> None:
        self.ready = True


@dataclass
class Ops:
    core: Core
    store: SqliteStore
    metrics: PrometheusMetrics
    server: OpsServer
    runner: JobRunner
    clock: Clock
    platform: Platform
    staff: MemoryAdapter

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    async def say(self, text: str, *, user: str = "4242", chat: str = "4242", message_id: str = "1") -> None:
        conversation = ConversationRef("telegram", chat, ConversationKind.DIRECT)
        await self.core.handle(IncomingMessage(conversation, UserRef("telegram", user), text, message_id))

    async def scrape(self) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
        status, content_type, body = await get(self.port, "/metrics")
        assert status == 200 and content_type.startswith("text/plain")
        return body, samples(body)


@pytest.fixture
async def ops(tmp_path: Path, directory: ResourceDirectory) -> AsyncIterator[Ops]:
    settings = Settings.model_validate({"crisis": {"escalation": {"renotify_after": "5m", "destinations": [
        {"platform": "memory", "chat_id": "C0STAFF"}]}}})
    store = SqliteStore(tmp_path / "haven.sqlite3", FieldCipher(None))
    await store.open()
    clock, outbox, metrics = Clock(), Outbox(), PrometheusMetrics()
    core = make_core(settings, store, directory, clock=clock, outbox=outbox, metrics=metrics)
    staff = MemoryAdapter(core)
    outbox.register(staff)
    runner = JobRunner(store, clock=clock, metrics=metrics)
    core.attach_jobs(runner)
    metrics.track_inflight(lambda: core.inflight)
    platform = Platform()
    gauges = StoreGauges(store, metrics, late_after_s=settings.crisis.escalation.renotify_after, clock=clock,
                         min_interval_s=0)
    server = OpsServer(store=store, metrics=metrics, gauges=gauges, adapters=[platform], port=0)
    await server.start()
    yield Ops(core, store, metrics, server, runner, clock, platform, staff)
    await server.stop()
    await store.close()


async def test_healthz_answers_ok(ops: Ops) -> None:
    assert await get(ops.port, "/healthz") == (200, "text/plain; charset=utf-8", "ok")


async def test_readyz_is_200_when_store_and_adapters_are_ready(ops: Ops) -> None:
    status, content_type, body = await get(ops.port, "/readyz")
    assert status == 200 and content_type.startswith("application/json")
    assert json.loads(body) == {"ready": True, "not_ready": []}


async def test_readyz_names_an_adapter_that_is_not_ready(ops: Ops) -> None:
    ops.platform.ready = False
    status, _, body = await get(ops.port, "/readyz")
    assert status == 503 and json.loads(body)["not_ready"] == ["adapter:telegram"]
    ops.platform.ready = True
    assert (await get(ops.port, "/readyz"))[0] == 200


async def test_readyz_is_503_when_the_store_is_closed_and_metrics_still_answer(ops: Ops) -> None:
    await ops.store.close()
    status, _, body = await get(ops.port, "/readyz")
    assert status == 503 and json.loads(body) == {"ready": False, "not_ready": ["store"]}
    _, parsed = await ops.scrape()
    assert value(parsed, "haven_store_up") == 0


async def test_readyz_is_503_while_draining(ops: Ops) -> None:
    ops.server.draining = True
    status, _, body = await get(ops.port, "/readyz")
    assert status == 503 and json.loads(body)["not_ready"] == ["draining"]


async def test_counters_move_when_the_core_handles_messages(ops: Ops) -> None:
    _, before = await ops.scrape()
    assert value(before, "haven_messages_received_total", platform="telegram", kind="message") == 0
    for number in range(3):
        await ops.say(f"work has been a lot lately {number}", message_id=str(number))
    conversation = ConversationRef("telegram", "4242", ConversationKind.DIRECT)
    await ops.core.handle(ButtonPressed(conversation, UserRef("telegram", "4242"), "consent:yes", ""))
    _, after = await ops.scrape()
    assert value(after, "haven_messages_received_total", platform="telegram", kind="message") == 3
    assert value(after, "haven_messages_received_total", platform="telegram", kind="button") == 1
    assert value(after, "haven_replies_sent_total", platform="telegram") >= 4
    assert value(after, "haven_handle_seconds_count", platform="telegram") == 4
    assert value(after, "haven_crisis_assessments_total", level="none") == 3
    assert value(after, "haven_store_up") == 1 and value(after, "haven_inflight_handles") == 0


async def test_a_crisis_moves_the_level_counter_and_the_escalation_gauges(ops: Ops) -> None:
    await ops.say(CRISIS)
    _, parsed = await ops.scrape()
    assert value(parsed, "haven_crisis_assessments_total", level="imminent") == 1
    assert value(parsed, "haven_escalations_opened_total", level="imminent") == 1
    assert value(parsed, "haven_escalations_pending") == 1 and value(parsed, "haven_escalations_late") == 0
    assert value(parsed, "haven_jobs_due") == 1    # the staff notice, due now

    await ops.runner.run_until_idle()
    ops.clock.advance(minutes=6)
    _, parsed = await ops.scrape()
    assert value(parsed, "haven_escalations_late") == 1
    assert value(parsed, "haven_job_lag_seconds_count", kind="escalation_notify") == 1

    [(_, notice)] = ops.staff.delivered
    case_id = notice.buttons[0].value
    staff_chat = ConversationRef("memory", "C0STAFF", ConversationKind.GROUP)
    await ops.core.handle(ButtonPressed(staff_chat, UserRef("memory", "staff-1", "Sam"), "case:claim", case_id))
    _, parsed = await ops.scrape()
    assert value(parsed, "haven_escalations_pending") == 0 and value(parsed, "haven_escalations_late") == 0
    assert value(parsed, "haven_escalations_claimed") == 1


async def test_failed_jobs_are_counted_by_kind(ops: Ops) -> None:
    async def broken(job: object) -> None:
        raise RuntimeError("nope")

    ops.runner.register("broken_job", broken)
    await ops.store.enqueue_job("broken_job", {}, ops.clock())
    await ops.runner.run_once()
    _, parsed = await ops.scrape()
    assert value(parsed, "haven_jobs_failed_total", kind="broken_job") == 1


async def test_no_user_text_or_identifier_ever_reaches_the_metrics(ops: Ops) -> None:
    distinctive = ["zebraquokka", "marmalade-lighthouse", "Xylophone"]
    user, chat = "918273645", "-100918273645"
    for number, word in enumerate(distinctive):
        await ops.say(f"my {word} feels heavy today", user=user, chat=chat, message_id=f"m{number}")
    await ops.say(CRISIS + " zebraquokka", user=user, chat=chat, message_id="crisis")
    await ops.runner.run_until_idle()
    ops.metrics.message_received("918273645", "zebraquokka")   # a caller's mistake is clamped, not exposed
    ops.metrics.llm_error("status_418 zebraquokka")
    ops.metrics.job_failed("Xylophone job")
    body, parsed = await ops.scrape()
    case_ids = {e["detail"]["case"] for e in await ops.store.audit_entries(kind="escalation_opened")}
    user_keys = {e["user_key"] for e in await ops.store.audit_entries() if e["user_key"]}
    assert case_ids and user_keys
    lowered = body.lower()
    for secret in [*distinctive, user, chat, "pills", "tonight", *case_ids, *user_keys]:
        assert secret.lower() not in lowered, secret
    labels = {v for (_, pairs) in parsed for _, v in pairs}
    assert labels <= {"telegram", "memory", "other", "message", "button", "start", "none", "low", "moderate", "high",
                      "imminent", "status_4xx", "escalation_notify", "escalation_check"} | {
        le for (name, pairs) in parsed for k, le in pairs if k == "le"}
