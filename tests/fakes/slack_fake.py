"""A loopback fake of Slack: the Web API methods Haven uses, Socket Mode, and signed Events API requests.

Driven by the real `slack_sdk` AsyncWebClient and slack-bolt AsyncApp. It behaves like Slack where Haven depends on
it: tokens are checked (`not_authed`, `invalid_auth`, `token_revoked`), errors are HTTP 200 with `{"ok": false,
"error": ...}`, rate limits are HTTP 429 with `Retry-After`, channels must exist (`channel_not_found`) and include
the bot (`not_in_channel`), and Block Kit limits are enforced (`invalid_blocks`, `msg_too_long`).

Synchronisation is by asyncio conditions (`wait_for`, `wait_ack`, `wait_connected`), never sleeps.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

SECTION_LIMIT = 3000
MESSAGE_BLOCKS = 50
HOME_BLOCKS = 100
TEXT_LIMIT = 40_000


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    ok: bool = True
    error: str | None = None


@dataclass
class Fault:
    error: str
    status: int = 200
    retry_after: int | None = None


@dataclass
class Channel:
    id: str
    is_im: bool
    members: set[str] = field(default_factory=set)
    bot_member: bool = True


class FakeSlack:
    def __init__(self, *, bot_token: str = "xoxb-fake", app_token: str = "xapp-fake-app-token",
                 signing_secret: str = "fake-signing-secret", team_id: str = "T0FAKE",
                 bot_user_id: str = "U0BOT") -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.revoked = False
        self._faults: dict[str, list[Fault]] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link/", self._socket)
        app.router.add_post("/response/{id}", self._response_url)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    # --- world setup -----------------------------------------------------------------------------------------

    def add_user(self, user_id: str, *, locale: str = "en-US") -> str:
        """A workspace member; returns the id of their DM with the bot."""
        self.users[user_id] = {"id": user_id, "team_id": self.team_id, "name": user_id.lower(),
                               "real_name": f"Person {user_id}", "tz": "America/New_York", "locale": locale,
                               "is_bot": False}
        dm = "D" + user_id[1:]
        self.channels[dm] = Channel(dm, is_im=True, members={user_id})
        return dm

    def add_channel(self, channel_id: str, members: set[str], *, bot_member: bool = True) -> None:
        self.channels[channel_id] = Channel(channel_id, is_im=False, members=set(members), bot_member=bot_member)

    # --- fault injection -------------------------------------------------------------------------------------

    def fail_next(self, method: str, error: str, *, status: int = 200, times: int = 1) -> None:
        self._faults.setdefault(method, []).extend(Fault(error, status) for _ in range(times))

    def rate_limit_next(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        self._faults.setdefault(method, []).extend(Fault("ratelimited", 429, retry_after) for _ in range(times))

    def hold(self, method: str) -> asyncio.Event:
        """Hold calls of `method` until the returned event is set (to prove Slack was acked before slow work)."""
        event = asyncio.Event()
        self._holds[method] = event
        return event

    # --- observation -----------------------------------------------------------------------------------------

    def calls_of(self, method: str, where: Callable[[Call], bool] | None = None, *, ok: bool | None = True
                 ) -> list[Call]:
        return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)
                and (where is None or where(c))]

    async def wait_for(self, method: str, *, count: int = 1, where: Callable[[Call], bool] | None = None,
                       ok: bool | None = True, timeout: float = 10.0) -> list[Call]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.calls_of(method, where, ok=ok)) >= count),
                                   timeout)
        return self.calls_of(method, where, ok=ok)

    def posted_texts(self, channel: str) -> list[str]:
        """Visible text of every message posted to `channel`, from the blocks (what a person sees)."""
        return [message_text(c.params) for c in self.calls_of("chat.postMessage",
                                                               lambda c: c.params.get("channel") == channel)]

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()

    # --- Web API ---------------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                params.update(body if isinstance(body, dict) else {})
            else:
                params.update(dict(await request.post()))
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() or params.pop("token", None)
        hold = self._holds.get(method)
        if hold is not None:
            await hold.wait()
        fault = (self._faults.get(method) or [None]).pop(0) if self._faults.get(method) else None
        if fault is not None:
            await self._record(Call(method, params, token, ok=False, error=fault.error))
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return web.json_response({"ok": False, "error": fault.error}, status=fault.status, headers=headers)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            result: dict[str, Any] = {"ok": False, "error": "unknown_method"}
        else:
            error = self._check_token(method, token)
            result = {"ok": False, "error": error} if error else handler(params)
        await self._record(Call(method, params, token, ok=bool(result.get("ok")), error=result.get("error")))
        return web.json_response(result)

    def _check_token(self, method: str, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        if method == "apps.connections.open":
            if token == self.bot_token:
                return "not_allowed_token_type"
            return None if token == self.app_token else "invalid_auth"
        if token == self.app_token:
            return "not_allowed_token_type"
        if token != self.bot_token:
            return "invalid_auth"
        return "token_revoked" if self.revoked else None

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.com/", "team": "Fake Team", "user": "haven",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": "B0BOT",
                "is_enterprise_install": False}

    def _m_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={uuid.uuid4()}"}

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        shown = dict(user)
        if str(params.get("include_locale", "")).lower() not in ("1", "true"):
            shown.pop("locale", None)
        return {"ok": True, "user": shown}

    def _m_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(params.get("users", "")).split(",") if u]
        if len(users) != 1:
            return {"ok": False, "error": "invalid_arguments"}
        if users[0] not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": "D" + users[0][1:]}}

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(params.get("channel")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not channel.is_im and not channel.bot_member:
            return {"ok": False, "error": "not_in_channel"}
        error = _check_message(params, MESSAGE_BLOCKS)
        if error:
            return {"ok": False, "error": error}
        ts = self._next_ts()
        message = {"type": "message", "user": self.bot_user_id, "ts": ts, "text": params.get("text", ""),
                   "blocks": _json_param(params.get("blocks")) or []}
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        self.messages[(channel.id, ts)] = message
        return {"ok": True, "channel": channel.id, "ts": ts, "message": message}

    def _m_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(params.get("channel")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not channel.is_im and not channel.bot_member:
            return {"ok": False, "error": "not_in_channel"}
        if params.get("user") not in channel.members:
            return {"ok": False, "error": "user_not_in_channel"}
        error = _check_message(params, MESSAGE_BLOCKS)
        return {"ok": False, "error": error} if error else {"ok": True, "message_ts": self._next_ts()}

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params.get("channel")), str(params.get("ts")))
        if key[0] not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        error = _check_message(params, MESSAGE_BLOCKS)
        if error:
            return {"ok": False, "error": error}
        self.messages[key].update(text=params.get("text", ""), blocks=_json_param(params.get("blocks")) or [])
        return {"ok": True, "channel": key[0], "ts": key[1], "text": params.get("text", "")}

    def _m_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("user_id") not in self.users:
            return {"ok": False, "error": "user_not_found"}
        view = _json_param(params.get("view"))
        if not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        error = _check_blocks(view.get("blocks"), HOME_BLOCKS)
        return {"ok": False, "error": error} if error else {"ok": True, "view": {"id": "V0HOME", **view}}

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(Call("response_url", body, None))
        return web.Response(text="ok")

    # --- Socket Mode -----------------------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                      "debug_info": {"host": "fake", "approximate_connection_time": 3600},
                                      "connection_info": {"app_id": "A0FAKE"}}))
        self._sockets.append(ws)
        await self._record(Call("socket.connected", {}, None))
        try:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    data = json.loads(frame.data)
                    if isinstance(data, dict) and isinstance(data.get("envelope_id"), str):
                        self._acks[data["envelope_id"]] = data
                        await self._record(Call("socket.ack", data, None))
        finally:
            self._sockets.remove(ws)
        return ws

    async def push_envelope(self, kind: str, payload: dict[str, Any]) -> str:
        """Send an envelope (`events_api`, `interactive`, `slash_commands`) on the open socket."""
        envelope_id = str(uuid.uuid4())
        await self._sockets[-1].send_str(json.dumps({
            "envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": kind != "events_api", "retry_attempt": 0, "retry_reason": ""}))
        return envelope_id

    async def push_raw(self, frame: str) -> None:
        """Send any text frame on the open socket, as is: garbage, or an envelope Slack would never build (fuzzing)."""
        await self._sockets[-1].send_str(frame)

    async def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        await self.wait_for("socket.ack", where=lambda c: c.params.get("envelope_id") == envelope_id,
                            timeout=timeout)
        return self._acks[envelope_id]

    # --- Events API over HTTP (signed like Slack signs) ------------------------------------------------------

    def sign(self, body: bytes, timestamp: int, secret: str | None = None) -> str:
        base = b"v0:" + str(timestamp).encode() + b":" + body
        digest = hmac.new((secret or self.signing_secret).encode(), base, hashlib.sha256).hexdigest()
        return f"v0={digest}"

    async def post_signed(self, url: str, body: bytes, content_type: str, *, timestamp: int | None = None,
                          secret: str | None = None, signature: str | None = None,
                          retry_num: int | None = None) -> tuple[int, str]:
        assert self._session is not None
        ts = int(time.time()) if timestamp is None else timestamp
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts),
                   "X-Slack-Signature": signature or self.sign(body, ts, secret)}
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
        async with self._session.post(url, data=body, headers=headers) as response:
            return response.status, await response.text()

    async def send_event(self, url: str, event: dict[str, Any], *, event_id: str | None = None,
                         **options: Any) -> tuple[int, str]:
        body = json.dumps(event_callback(event, event_id or f"Ev{uuid.uuid4().hex[:10]}", self.team_id)).encode()
        return await self.post_signed(url, body, "application/json", **options)

    async def send_interaction(self, url: str, payload: dict[str, Any], **options: Any) -> tuple[int, str]:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.post_signed(url, body, "application/x-www-form-urlencoded", **options)

    async def send_command(self, url: str, form: dict[str, str], **options: Any) -> tuple[int, str]:
        return await self.post_signed(url, urlencode(form).encode(), "application/x-www-form-urlencoded", **options)

    def response_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/response/{uuid.uuid4().hex[:8]}"


# --- payload builders (the shapes Slack sends) -------------------------------------------------------------------

def event_callback(event: dict[str, Any], event_id: str, team_id: str = "T0FAKE") -> dict[str, Any]:
    return {"token": "legacy", "team_id": team_id, "api_app_id": "A0FAKE", "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": team_id, "user_id": "U0BOT", "is_bot": True,
                                "is_enterprise_install": False}],
            "event": event}


def dm_event(user: str, text: str, *, channel: str | None = None, ts: str | None = None,
             thread_ts: str | None = None) -> dict[str, Any]:
    ts = ts or f"{time.time():.6f}"
    event = {"type": "message", "channel_type": "im", "channel": channel or "D" + user[1:], "user": user,
             "text": text, "ts": ts, "event_ts": ts, "team": "T0FAKE"}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def mention_event(user: str, channel: str, text: str = "<@U0BOT> hi") -> dict[str, Any]:
    ts = f"{time.time():.6f}"
    return {"type": "app_mention", "channel": channel, "user": user, "text": text, "ts": ts, "event_ts": ts,
            "team": "T0FAKE"}


def home_event(user: str, tab: str = "home") -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": "D" + user[1:], "tab": tab,
            "event_ts": f"{time.time():.6f}"}


def block_action(user: str, channel: str, message: dict[str, Any], button: dict[str, Any],
                 response_url: str = "") -> dict[str, Any]:
    return {"type": "block_actions", "user": {"id": user, "team_id": "T0FAKE"}, "api_app_id": "A0FAKE",
            "token": "legacy", "trigger_id": f"trig.{uuid.uuid4().hex[:8]}", "team": {"id": "T0FAKE"},
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel,
                          "is_ephemeral": False},
            "channel": {"id": channel, "name": "directmessage"}, "message": message, "response_url": response_url,
            "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "haven-actions-0",
                         "text": button["text"], "value": button["value"], "action_ts": f"{time.time():.6f}"}]}


def slash_command(user: str, channel: str, text: str, response_url: str) -> dict[str, str]:
    return {"token": "legacy", "team_id": "T0FAKE", "team_domain": "fake", "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else "general", "user_id": user,
            "user_name": user.lower(), "command": "/haven", "text": text, "api_app_id": "A0FAKE",
            "response_url": response_url, "trigger_id": f"trig.{uuid.uuid4().hex[:8]}"}


def message_text(params: dict[str, Any]) -> str:
    """What a person sees of a posted message: its section and context texts, or the fallback text."""
    parts: list[str] = []
    for block in _json_param(params.get("blocks")) or []:
        if block.get("type") == "section":
            parts.append(block["text"]["text"])
        elif block.get("type") == "context":
            parts.extend(e.get("text", "") for e in block.get("elements", []))
    return "\n".join(parts) if parts else str(params.get("text", ""))


def buttons_of(params: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in _json_param(params.get("blocks")) or [] if b.get("type") == "actions"
            for e in b.get("elements", [])]


# --- Slack's validation ------------------------------------------------------------------------------------------

def _json_param(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _check_message(params: dict[str, Any], max_blocks: int) -> str | None:
    text = params.get("text")
    blocks = _json_param(params.get("blocks"))
    if not text and not blocks:
        return "no_text"
    if isinstance(text, str) and len(text) > TEXT_LIMIT:
        return "msg_too_long"
    return _check_blocks(blocks, max_blocks) if blocks is not None else None


def _check_blocks(blocks: Any, max_blocks: int) -> str | None:
    if not isinstance(blocks, list) or len(blocks) > max_blocks:
        return "invalid_blocks"
    action_ids: set[str] = set()
    block_ids: set[str] = set()
    for block in blocks:
        if not isinstance(block, dict):
            return "invalid_blocks"
        if "block_id" in block:
            if block["block_id"] in block_ids or len(block["block_id"]) > 255:
                return "invalid_blocks"
            block_ids.add(block["block_id"])
        kind = block.get("type")
        if kind == "section":
            text = (block.get("text") or {}).get("text")
            if not isinstance(text, str) or not text or len(text) > SECTION_LIMIT:
                return "invalid_blocks"
        elif kind == "header":
            text = (block.get("text") or {}).get("text")
            if not isinstance(text, str) or not text or len(text) > 150:
                return "invalid_blocks"
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                return "invalid_blocks"
            for element in elements:
                label = (element.get("text") or {}).get("text", "")
                action_id = element.get("action_id", "")
                if element.get("type") != "button" or not label or len(label) > 75 or len(action_id) > 255 \
                        or len(element.get("value", "")) > 2000 or action_id in action_ids:
                    return "invalid_blocks"
                action_ids.add(action_id)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                return "invalid_blocks"
        elif kind != "divider":
            return "invalid_blocks"
    return None
