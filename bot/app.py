"""Composition root: load config, build the store, core and adapters, run them, shut down cleanly."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.core import Core
from bot.crisis.detect import warm_up
from bot.delivery import Outbox
from bot.jobs import JobRunner
from bot.i18n import Catalog
from bot.llm.base import Responder
from bot.llm.offline import OfflineResponder
from bot.privacy import FieldCipher, Pseudonymizer, load_or_create_secret
from bot.resources import ResourceDirectory, default_directory_paths
from bot.store.factory import open_store
from bot.store.sqlite import SqliteStore

log = logging.getLogger("haven.app")


def build_responder(settings: Settings, catalog: Catalog, directory: ResourceDirectory | None = None) -> Responder:
    """The offline responder, or Claude wrapped so that any failure falls back to it (never silence)."""
    offline = OfflineResponder(catalog)
    if settings.llm.provider != "anthropic" or settings.llm.api_key is None:
        return offline
    from bot.llm.anthropic import AnthropicResponder, ResilientResponder

    claude = AnthropicResponder(settings.llm, catalog=catalog, directory=directory or load_directory(settings),
                                bot_name=settings.bot.name, default_country=settings.bot.default_country)
    return ResilientResponder(claude, offline)


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
    store: SqliteStore
    core: Core
    outbox: Outbox
    jobs: JobRunner

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
        responder = build_responder(settings, catalog, directory)
        core = Core(settings=settings, store=store, catalog=catalog, directory=directory, responder=responder,
                    pseudonymizer=Pseudonymizer(pseudonym_secret(settings, data_dir)), outbox=outbox,
                    second_opinion=_second_opinion(settings, responder))
        runner = JobRunner(store)
        core.attach_jobs(runner)
        await core.retention.schedule()
        return cls(settings=settings, data_dir=data_dir, store=store, core=core, outbox=outbox, jobs=runner)

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
    try:
        for name, adapter in zip(enabled, adapters):
            await adapter.start()
            log.info("event=ready adapter=%s", name)
        async with app.running_jobs():
            await stop.wait()
            log.info("event=stopping")
    finally:
        for adapter in reversed(adapters):
            await adapter.stop()
        await app.close()
    return 0


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
