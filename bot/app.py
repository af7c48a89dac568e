"""Composition root: load config, build the store, core and adapters, run them, shut down cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.core import Core
from bot.i18n import Catalog
from bot.llm.base import Responder
from bot.llm.offline import OfflineResponder
from bot.privacy import FieldCipher, Pseudonymizer, load_or_create_secret
from bot.resources import ResourceDirectory, default_directory_paths
from bot.store.factory import open_store
from bot.store.sqlite import SqliteStore

log = logging.getLogger("haven.app")


def build_responder(settings: Settings, catalog: Catalog) -> Responder:
    return OfflineResponder(catalog)


def load_directory(settings: Settings) -> ResourceDirectory:
    return ResourceDirectory.load(default_directory_paths(), [Path(p) for p in settings.resources.paths])


@dataclass
class HavenApp:
    settings: Settings
    data_dir: Path
    store: SqliteStore
    core: Core

    @classmethod
    async def create(cls, settings: Settings, data_dir: Path) -> "HavenApp":
        key = settings.privacy.encryption_key
        cipher = FieldCipher(key.get_secret_value() if key else None)
        if not cipher.enabled:
            log.warning("event=encryption_disabled hint=set_privacy.encryption_key")
        store = open_store(settings.storage.url, data_dir, cipher)
        await store.open()
        catalog = Catalog()
        core = Core(settings=settings, store=store, catalog=catalog, directory=load_directory(settings),
                    responder=build_responder(settings, catalog),
                    pseudonymizer=Pseudonymizer(load_or_create_secret(data_dir)))
        return cls(settings=settings, data_dir=data_dir, store=store, core=core)

    async def close(self) -> None:
        await self.store.close()


async def run_chat(settings: Settings, data_dir: Path) -> int:
    from adapters.console import ConsoleAdapter

    app = await HavenApp.create(settings, data_dir)
    try:
        return await ConsoleAdapter(app.core, data_dir).run()
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
    adapters = [AVAILABLE_ADAPTERS[name](app) for name in enabled]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for name, adapter in zip(enabled, adapters):
            await adapter.start()
            log.info("event=ready adapter=%s", name)
        await stop.wait()
        log.info("event=stopping")
    finally:
        for adapter in reversed(adapters):
            await adapter.stop()
        await app.close()
    return 0


AVAILABLE_ADAPTERS: dict[str, object] = {}
