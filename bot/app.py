"""Composition root: load config, build the store, core and adapters, run them, shut down cleanly."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.core import Core
from bot.crisis.detect import warm_up
from bot.delivery import Outbox
from bot.jobs import JobRunner
from bot.i18n import Catalog
from bot.llm.base import Responder
from bot.llm.offline import OfflineResponder
from bot.ops.hooks import NO_METRICS, Metrics
from bot.ops.metrics import PrometheusMetrics
from bot.ops.server import OpsServer
from bot.ops.store_gauges import StoreGauges
from bot.privacy import FieldCipher, Pseudonymizer, load_or_create_secret
from bot.resources import ResourceDirectory, default_directory_paths
from bot.store.factory import open_store
from bot.store.base import Store

log = logging.getLogger("haven.app")


def build_responder(settings: Settings, catalog: Catalog, directory: ResourceDirectory | None = None,
                    metrics: Metrics = NO_METRICS) -> Responder:
    """The offline responder, or Claude wrapped so that any failure falls back to it (never silence)."""
    offline = OfflineResponder(catalog)
    if settings.llm.provider != "anthropic" or settings.llm.api_key is None:
        return offline
    from bot.llm.anthropic import AnthropicResponder, ResilientResponder

    claude = AnthropicResponder(settings.llm, catalog=catalog, directory=directory or load_directory(settings),
                                bot_name=settings.bot.name, default_country=settings.bot.default_country)
    return ResilientResponder(claude, offline, ops_metrics=metrics)


def _second_opinion(settings: Settings, responder: Responder):  # type: ignore[no-untyped-def]
    """Claude's second opinion on ambiguous messages, sharing the responder's client; None when offline."""
    if settings.llm.provider != "anthropic":
        return None
    from bot.crisis.second_opinion import from_responder

    return from_responder(responder, model=settings.llm.second_opinion_model,
                          timeout_s=settings.llm.second_opinion_timeout_s)


def pseudonym_secret(settings: Settings, data_dir: Path) -> bytes:
    """From the config when set (shared by every worker on one database), else the data dir's own secret."""
    configured = settings.privacy.pseudonym_secret
    if configured is not None:
        return configured.get_secret_value().encode("utf-8")
    return load_or_create_secret(data_dir)


def load_directory(settings: Settings) -> ResourceDirectory:
    return ResourceDirectory.load(default_directory_paths(), [Path(p) for p in settings.resources.paths])


@dataclass
class HavenApp:
    settings: Settings
    data_dir: Path
    store: Store
    core: Core
    outbox: Outbox
    jobs: JobRunner
    #: The app's own Prometheus registry (served by bot/ops when `ops.enabled`).
    metrics: PrometheusMetrics = field(default_factory=PrometheusMetrics)

    @classmethod
    async def create(cls, settings: Settings, data_dir: Path) -> "HavenApp":
        key = settings.privacy.encryption_key
        cipher = FieldCipher(key.get_secret_value() if key else None)
        if not cipher.enabled:
            log.warning("event=encryption_disabled hint=set_privacy.encryption_key")
        store = open_store(settings.storage.url, data_dir, cipher)
        await store.open()
        warm_up()   # compile the crisis lexicons now, not when the first person in crisis writes
        catalog = Catalog()
        outbox = Outbox()
        directory = load_directory(settings)
        metrics = PrometheusMetrics()
        responder = build_responder(settings, catalog, directory, metrics)
        core = Core(settings=settings, store=store, catalog=catalog, directory=directory, responder=responder,
                    pseudonymizer=Pseudonymizer(pseudonym_secret(settings, data_dir)), outbox=outbox,
                    second_opinion=_second_opinion(settings, responder), metrics=metrics)
        metrics.track_inflight(lambda: core.inflight)
        runner = JobRunner(store, metrics=metrics, lease_s=settings.jobs.lease_s, poll_s=settings.jobs.poll_s)
        core.attach_jobs(runner)
        await core.retention.schedule()
        return cls(settings=settings, data_dir=data_dir, store=store, core=core, outbox=outbox, jobs=runner,
                   metrics=metrics)

    def ops_server(self, adapters: Sequence[Any] = (), *, port: int | None = None) -> OpsServer:
        """/healthz, /readyz and /metrics for this app; `port` overrides `ops.port` (tests pass 0)."""
        gauges = StoreGauges(self.store, self.metrics, late_after_s=self.settings.crisis.escalation.renotify_after)
        return OpsServer(store=self.store, metrics=self.metrics, gauges=gauges, adapters=adapters,
                         host=self.settings.ops.host, port=self.settings.ops.port if port is None else port)

    @asynccontextmanager
    async def running_jobs(self) -> AsyncIterator[None]:
        """Run durable jobs in the background while the adapters serve; stop them before the store closes."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.jobs.run_forever(stop), name="haven-jobs")
        try:
            yield
        finally:
            stop.set()
            await task

    async def close(self) -> None:
        close_responder = getattr(self.core.responder, "aclose", None)
        if close_responder is not None:
            await close_responder()
        await self.store.close()


async def run_chat(settings: Settings, data_dir: Path) -> int:
    from adapters.console import ConsoleAdapter

    app = await HavenApp.create(settings, data_dir)
    console = ConsoleAdapter(app.core, data_dir)
    app.outbox.register(console)
    try:
        async with app.running_jobs():
            return await console.run()
    finally:
        await app.close()


async def run_adapters(settings: Settings, data_dir: Path, names: list[str]) -> int:
    """Run the named (or all enabled) adapters in one event loop until SIGINT/SIGTERM, then drain."""
    enabled = names or [n for n in ("telegram", "discord", "slack") if getattr(settings, n).enabled]
    if not enabled:
        log.error("event=no_adapters hint=enable_one_in_config_or_pass_--adapter")
        return 2
    unknown = [n for n in enabled if n not in AVAILABLE_ADAPTERS]
    if unknown:
        log.error("event=adapter_unavailable adapter=%s", ",".join(unknown))
        return 2
    app = await HavenApp.create(settings, data_dir)
    adapters = [adapter_class(name)(app) for name in enabled]
    for adapter in adapters:
        app.outbox.register(adapter)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(app, list(zip(enabled, adapters)), stop)
    return 0


async def serve(app: HavenApp, adapters: list[tuple[str, Any]], stop: asyncio.Event, *,
                ops_port: int | None = None) -> None:
    """Serve until `stop` is set, then shut down without dropping anyone's reply.

    Order matters: readiness turns 503 and the adapters stop taking updates first; replies already being worked
    on finish (bounded by `ops.drain_timeout_s`); then durable jobs stop (a running job completes), the adapters
    finish sending and disconnect, and the store closes last. `ops_port` overrides `ops.port` (tests pass 0).
    """
    ops: OpsServer | None = None
    try:
        if app.settings.ops.enabled:
            ops = app.ops_server([adapter for _, adapter in adapters], port=ops_port)
            await ops.start()
            log.info("event=ops_listening port=%d", ops.port)
        for name, adapter in adapters:
            await adapter.start()
            log.info("event=ready adapter=%s", name)
        async with app.running_jobs():
            await stop.wait()
            log.info("event=stopping")
            if ops is not None:
                ops.draining = True
            for name, adapter in adapters:
                await _stop_receiving(name, adapter)
            inflight = await app.core.drain(app.settings.ops.drain_timeout_s)
            log.info("event=drained inflight=%d", inflight)
    finally:
        for _, adapter in reversed(adapters):
            await adapter.stop()
        if ops is not None:
            await ops.stop()
        await app.close()


async def _stop_receiving(name: str, adapter: Any) -> None:
    """Ask an adapter to stop taking updates while it keeps sending (optional: `stop()` does both otherwise)."""
    hook = getattr(adapter, "stop_receiving", None)
    if hook is None:
        return
    try:
        await hook()
    except Exception as exc:   # noqa: BLE001 - shutdown carries on; stop() disconnects it anyway
        log.warning("event=stop_receiving_failed adapter=%s exc=%s", name, type(exc).__name__)


#: Adapter classes by name, imported only when used so the core never imports a platform library.
#: Each takes the running HavenApp and exposes `name`, `capabilities`, `start()`, `stop()`, `deliver()`.
AVAILABLE_ADAPTERS: dict[str, str] = {
    "telegram": "adapters.telegram:TelegramAdapter",
    "discord": "adapters.discord_bot:DiscordAdapter",
    "slack": "adapters.slack:SlackAdapter",
}


def adapter_class(name: str) -> type:
    module_name, _, class_name = AVAILABLE_ADAPTERS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)
