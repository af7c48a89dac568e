"""Telegram webhook endpoint that acknowledges an update only once it has been handled.

PTB's own webhook server answers 200 as soon as an update is queued. If the process dies before the handler runs
(a deploy, an OOM kill, a crashed machine), Telegram considers the update delivered and it is lost: for a crisis
message that would mean no reply and no escalation. Answering only after the handler finished turns Telegram's
retry into our recovery: a worker that dies mid-update gives no answer, Telegram redelivers (to this worker
after a restart, or to another one behind the same load balancer), and the core's event dedupe makes sure what
was already done is not done twice. Several workers can serve one webhook URL this way.

Forged or malformed requests are refused with a status and a log line naming the reason, never their content.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from adapters import telegram_updates as tg

log = logging.getLogger("haven.telegram")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Telegram's updates are a few kB; anything far larger is not from Telegram.
MAX_BODY = 1024 * 1024


class WebhookServer:
    def __init__(self, application: Application, *, listen: str, port: int, path: str,  # type: ignore[type-arg]
                 secret: str | None, drain_timeout: float = 10.0) -> None:
        self._application = application
        self._listen, self._port = listen, port
        self._path = "/" + path.strip("/")
        self._secret = secret
        self._drain_timeout = drain_timeout
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self._path, self._receive)
        # aiohttp's shutdown waits up to `shutdown_timeout` for requests in flight: their updates are being handled.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=self._drain_timeout,
                                     handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._listen, self._port)
        await site.start()
        server = site._server
        if self._port == 0 and server is not None and getattr(server, "sockets", None):
            self._port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting; updates already being handled finish and are acknowledged (up to the drain timeout)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        if self._secret is not None:
            offered = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(offered.encode("utf-8", "replace"), self._secret.encode("utf-8")):
                log.warning("event=webhook_rejected reason=secret")
                return web.Response(status=403)
        try:
            data: Any = await request.json()
        except Exception:   # not JSON, bad encoding, too large
            log.warning("event=webhook_rejected reason=not_json")
            return web.Response(status=400)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            log.warning("event=webhook_rejected reason=no_update_id")
            return web.Response(status=400)
        try:
            update = Update.de_json(data, self._application.bot)
        except Exception as exc:
            # Telegram would redeliver an update we refuse, forever: take it and drop it, as polling does.
            log.warning("event=update_rejected reason=malformed exc=%s", type(exc).__name__)
            return web.Response(status=200)
        if not tg.sane(update):
            log.warning("event=update_rejected reason=malformed exc=ids")
            return web.Response(status=200)
        try:
            await self._application.process_update(update)
        except Exception as exc:
            # Our handler catches its own failures; this is PTB's bookkeeping failing on an update it accepted.
            # Answered 200 like a malformed update: a 500 would make Telegram redeliver it forever.
            log.warning("event=update_failed exc=%s", type(exc).__name__)
        return web.Response(status=200)
