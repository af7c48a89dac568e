"""The operations HTTP server: `/healthz` (liveness), `/readyz` (readiness) and `/metrics` (Prometheus).

Liveness answers as long as the event loop runs: a supervisor restarts the process only when it is wedged.
Readiness is stricter: the store answers and every running adapter is connected; during shutdown it turns 503 at
once, so a load balancer stops sending work while in-flight replies drain. Bodies name components only
(`store`, `adapter:telegram`, `draining`): never an exception message, which could quote a DSN or a token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.ops.metrics import PrometheusMetrics
from bot.ops.store_gauges import StoreGauges, ping_store
from bot.store.base import Store

log = logging.getLogger("haven.ops")


class OpsServer:
    def __init__(self, *, store: Store, metrics: PrometheusMetrics, gauges: StoreGauges | None = None,
                 adapters: Sequence[Any] = (), host: str = "127.0.0.1", port: int = 9464) -> None:
        self._store = store
        self._metrics = metrics
        self._gauges = gauges
        self.adapters: list[Any] = list(adapters)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.draining = False
        #: The bound port (differs from the configured one when that was 0).
        self.port: int | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_page)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, self._host, self._port).start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def not_ready(self) -> list[str]:
        """What is not ready, by component name; empty when ready."""
        problems = ["draining"] if self.draining else []
        try:
            await ping_store(self._store)
        except Exception as exc:   # noqa: BLE001 - any failure means not ready; only its type is logged
            log.warning("event=readyz_store_unavailable exc=%s", type(exc).__name__)
            problems.append("store")
        for adapter in self.adapters:
            if not getattr(adapter, "ready", True):
                problems.append(f"adapter:{getattr(adapter, 'name', type(adapter).__name__)}")
        return problems

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, request: web.Request) -> web.Response:
        problems = await self.not_ready()
        body = {"ready": not problems, "not_ready": problems}
        return web.Response(text=json.dumps(body), status=503 if problems else 200, content_type="application/json")

    async def _metrics_page(self, request: web.Request) -> web.Response:
        if self._gauges is not None:
            await self._gauges.refresh()
        return web.Response(body=self._metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
