"""A loopback fake of Discord for the real discord.py client: REST `/api/v10` and the gateway websocket.

It validates what Discord validates and answers with Discord's error envelopes (`{"message", "code"}`):
the bot token on every authenticated route and in IDENTIFY (a wrong one closes the gateway with 4004), the
intents (guild messages are withheld without GUILD_MESSAGES, and their content blanked without the privileged
MESSAGE_CONTENT intent, as on the real gateway), 2,000-character content, component limits, interaction tokens,
a single initial response per interaction within 3 seconds, follow-ups only after it, DMs to people who closed
them (403 / 50007), channels the bot may not write to (403 / 50013). Faults: the next matching call can fail
with any status or a 429 carrying `retry_after` (and the `Via` header discord.py needs before it retries).

Sharding as Discord documents it: `GET /gateway/bot` recommends `recommended_shards`; IDENTIFY's `shard:
[id, count]` is validated (4010 Invalid shard), a session that would hold more than `max_guilds_per_session`
servers is refused (4011 Sharding required; Discord's limit is 2,500, unset here unless a test sets it); READY
and GUILD_CREATE carry only the session's own servers; a server's events go only to the shard that owns it,
`(guild_id >> 22) % count`, and DMs only to shard 0. A session identified without `shard` is shard [0, 1],
which owns everything, so unsharded clients see exactly what they saw before.

Every REST call is recorded; tests wait on "a call like this was recorded" through an asyncio.Condition, never
by sleeping. Only TEXT gateway frames are sent, so the client's zlib/zstd `compress` parameter is accepted and
ignored (discord.py only inflates binary frames).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aiohttp import WSMsgType, web

GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED = (1 << 1) | (1 << 8) | MESSAGE_CONTENT
INTERACTION_DEADLINE_S = 3.0
_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int
    files: list[str] = field(default_factory=list)


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    retry_after: float | None
    via: bool
    times: int


@dataclass
class PendingInteraction:
    id: int
    token: str
    created: float
    responded: bool = False
    payload: dict[str, Any] = field(default_factory=dict)


class FakeDiscord:
    def __init__(self, token: str = "fake-discord-token", *, privileged_intents: bool = True) -> None:
        self.token = token
        #: The token IDENTIFY must carry; differs from `token` only to simulate a token reset mid-login.
        self.gateway_token = token
        self.privileged_intents = privileged_intents
        self._ids = itertools.count(1_100_000_000_000_000_000)
        self.app_id = self.next_id()
        self.bot = self.user(self.next_id(), "haven", bot=True)
        self.guilds: dict[int, dict[str, Any]] = {}
        self.channels: dict[int, dict[str, Any]] = {}       # guild text channels and threads
        self.dm_channels: dict[int, int] = {}                # user id -> DM channel id
        self.dm_recipients: dict[int, int] = {}              # DM channel id -> user id
        self.dms_closed: set[int] = set()
        self.forbidden_channels: set[int] = set()
        self.messages: dict[int, dict[str, Any]] = {}
        self.interactions: dict[int, PendingInteraction] = {}
        self.commands: list[dict[str, Any]] = []
        self.calls: list[Call] = []
        self.identifies: list[dict[str, Any]] = []
        self.thread_members: dict[int, set[int]] = {}
        self._faults: list[Fault] = []
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._intents: dict[int, int] = {}
        #: What `GET /gateway/bot` recommends as `shards`.
        self.recommended_shards = 1
        #: Servers one session may hold before IDENTIFY is refused with 4011 (Discord: 2,500); None = no limit.
        self.max_guilds_per_session: int | None = None
        self._shards: dict[int, tuple[int, int]] = {}                  # id(ws) -> (shard id, shard count)
        self._sessions: dict[str, tuple[int, tuple[int, int]]] = {}    # session id -> (intents, shard)
        self._session_ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        app.router.add_get("/gw", self._gateway)
        app.router.add_get("/gw/", self._gateway)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gw"

    # --- world building --------------------------------------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    @staticmethod
    def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": name.title(),
                "avatar": None, "bot": bot}

    def add_guild(self, name: str, channels: list[str], members: list[dict[str, Any]],
                  roles: list[str] = (), *,  # type: ignore[assignment]
                  on_shard: tuple[int, int] | None = None) -> dict[str, Any]:
        """A server with text channels and members; `on_shard=(id, count)` picks an id that shard owns."""
        guild_id = self.next_id() if on_shard is None else self.snowflake_on_shard(*on_shard)
        guild: dict[str, Any] = {
            "id": str(guild_id), "name": name, "unavailable": False, "owner_id": members[0]["id"],
            "member_count": len(members) + 1, "features": [], "emojis": [], "stickers": [], "threads": [],
            "roles": [{"id": str(guild_id), "name": "@everyone", "permissions": "0", "position": 0, "color": 0,
                       "hoist": False, "managed": False, "mentionable": False, "flags": 0}],
            "channels": [], "members": [], "voice_states": [], "presences": [], "large": False,
            "joined_at": _now(), "preferred_locale": "en-US", "mfa_level": 0, "verification_level": 0,
            "explicit_content_filter": 0, "default_message_notifications": 0, "premium_tier": 0,
            "system_channel_flags": 0, "nsfw_level": 0, "afk_timeout": 300,
        }
        for position, role in enumerate(roles, start=1):
            guild["roles"].append({"id": str(self.next_id()), "name": role, "permissions": "0",
                                   "position": position, "color": 0, "hoist": False, "managed": False,
                                   "mentionable": True, "flags": 0})
        for position, channel_name in enumerate(channels):
            channel = {"id": str(self.next_id()), "type": 0, "name": channel_name, "position": position,
                       "guild_id": str(guild_id), "permission_overwrites": [], "nsfw": False, "topic": None,
                       "last_message_id": None, "rate_limit_per_user": 0}
            guild["channels"].append(channel)
            self.channels[int(channel["id"])] = channel
        for member in [self.bot, *members]:
            guild["members"].append(self._member(member))
        self.guilds[guild_id] = guild
        return guild

    def snowflake_on_shard(self, shard_id: int, shard_count: int) -> int:
        """A fresh id whose server would live on `shard_id`: ids are snowflakes, and Discord assigns a server to
        shard `(id >> 22) % count` (the timestamp part), so consecutive ids almost always share a shard."""
        candidate = self.next_id()
        while shard_of(candidate, shard_count) != shard_id:
            candidate += 1 << 22
        self._ids = itertools.count(candidate + 1)
        return candidate

    @staticmethod
    def _member(user: dict[str, Any], roles: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
        return {"user": user, "roles": list(roles), "joined_at": _now(), "deaf": False, "mute": False, "flags": 0,
                "nick": None, "pending": False}

    @staticmethod
    def channel_id(guild: dict[str, Any], name: str) -> int:
        return next(int(c["id"]) for c in guild["channels"] if c["name"] == name)

    @staticmethod
    def role_id(guild: dict[str, Any], name: str) -> int:
        return next(int(r["id"]) for r in guild["roles"] if r["name"] == name)

    def dm_channel_for(self, user_id: int) -> int:
        if user_id not in self.dm_channels:
            channel_id = self.next_id()
            self.dm_channels[user_id] = channel_id
            self.dm_recipients[channel_id] = user_id
        return self.dm_channels[user_id]

    # --- faults and waiting ----------------------------------------------------------------------------------

    def fail_next(self, method: str, path_pattern: str, status: int, *, code: int = 0, message: str = "",
                  retry_after: float | None = None, via: bool = True, times: int = 1) -> None:
        self._faults.append(Fault(method, re.compile(path_pattern), status, code, message or f"{status}",
                                  retry_after, via, times))

    def find(self, method: str, path_pattern: str, where: Callable[[Call], bool] | None = None) -> list[Call]:
        pattern = re.compile(path_pattern)
        return [c for c in self.calls if c.method == method and pattern.search(c.path) and c.status < 300
                and (where is None or where(c))]

    async def wait_for(self, method: str, path_pattern: str, where: Callable[[Call], bool] | None = None, *,
                       count: int = 1, timeout: float = 10.0) -> list[Call]:
        """The first `count` successful calls like this, waiting (on a condition, not a sleep) until they exist."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(
                lambda: len(self.find(method, path_pattern, where)) >= count), timeout)
            return self.find(method, path_pattern, where)[:count]

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    async def wait_identified(self, timeout: float = 10.0) -> dict[str, Any]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: bool(self._intents)), timeout)
            return self.identifies[-1]

    async def wait_identifies(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """All IDENTIFY payloads once there are `count` (re-identifies after a crash, every shard of a worker)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.identifies) >= count), timeout)
            return list(self.identifies)

    # --- REST ------------------------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await self._body(request)
        call = Call(request.method, path, dict(request.query), body, 0, files)
        response = self._fault_for(request.method, path)
        if response is None:
            open_route = path.startswith(("/webhooks/", "/interactions/"))
            if not open_route and request.headers.get("Authorization") != f"Bot {self.token}":
                response = _error(401, 0, "401: Unauthorized")
            else:
                response = self._route(request.method, path, body, dict(request.query))
        call.status = response.status
        await self._record(call)
        return response

    async def _body(self, request: web.Request) -> tuple[Any, list[str]]:
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: list[str] = []
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":   # type: ignore[union-attr]
                    payload = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    files.append(part.filename or "")  # type: ignore[union-attr]
                    await part.read()  # type: ignore[union-attr]
            return payload, files
        raw = await request.read()
        return (json.loads(raw) if raw else None), []

    def _fault_for(self, method: str, path: str) -> web.Response | None:
        for fault in self._faults:
            if fault.method == method and fault.pattern.search(path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                headers: dict[str, str] = {}
                body: dict[str, Any] = {"message": fault.message, "code": fault.code}
                if fault.status == 429:
                    body = {"message": "You are being rate limited.", "retry_after": fault.retry_after or 0.05,
                            "global": False, "code": 0}
                    headers = {"Retry-After": str(fault.retry_after or 0.05), "X-RateLimit-Scope": "user"}
                if fault.via:
                    headers["Via"] = "1.1 google"
                return _json(body, fault.status, headers)
        return None

    def _route(self, method: str, path: str, body: Any, query: dict[str, str]) -> web.Response:
        for verb, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                return handler(body, query, *match.groups())
        return _error(404, 0, "404: Not Found")

    def _routes(self) -> list[tuple[str, str, Callable[..., web.Response]]]:
        return [
            ("GET", r"/users/@me", lambda b, q: _json(self.bot)),
            ("GET", r"/oauth2/applications/@me", lambda b, q: _json(self._application())),
            ("GET", r"/gateway", lambda b, q: _json({"url": self.gateway_url})),
            ("GET", r"/gateway/bot", lambda b, q: _json({"url": self.gateway_url, "shards": self.recommended_shards,
                                                         "session_start_limit": {"total": 1000, "remaining": 999,
                                                                                 "reset_after": 0,
                                                                                 "max_concurrency": 1}})),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("POST", r"/channels/(\d+)/messages", self._create_message),
            ("PATCH", r"/channels/(\d+)/messages/(\d+)", self._edit_message),
            ("DELETE", r"/channels/(\d+)/messages/(\d+)", lambda b, q, c, m: web.Response(status=204)),
            ("POST", r"/channels/(\d+)/typing", self._typing),
            ("POST", r"/channels/(\d+)/threads", self._create_thread),
            ("PUT", r"/channels/(\d+)/thread-members/(\d+)", self._add_thread_member),
            ("PUT", r"/applications/(\d+)/commands", self._bulk_commands),
            ("PUT", r"/applications/(\d+)/guilds/(\d+)/commands", lambda b, q, a, g: self._bulk_commands(b, q, a)),
            ("POST", r"/interactions/(\d+)/([^/]+)/callback", self._interaction_callback),
            ("POST", r"/webhooks/(\d+)/([^/]+)", self._followup),
            ("PATCH", r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", self._edit_followup),
        ]

    def _application(self) -> dict[str, Any]:
        owner = self.user(self.next_id(), "owner")
        return {"id": str(self.app_id), "name": "Haven", "description": "", "icon": None, "bot_public": False,
                "bot_require_code_grant": False, "owner": owner, "verify_key": "00" * 32, "flags": 0,
                "team": None, "summary": "", "rpc_origins": []}

    def _create_dm(self, body: Any, query: dict[str, str]) -> web.Response:
        recipient = int((body or {}).get("recipient_id", 0))
        member = self._known_user(recipient)
        if member is None:
            return _error(400, 50035, "Invalid Form Body")
        channel_id = self.dm_channel_for(recipient)
        return _json({"id": str(channel_id), "type": 1, "recipients": [member], "last_message_id": None,
                      "flags": 0})

    def _known_user(self, user_id: int) -> dict[str, Any] | None:
        for guild in self.guilds.values():
            for member in guild["members"]:
                if int(member["user"]["id"]) == user_id:
                    return member["user"]
        return None

    def _channel_error(self, channel_id: int) -> web.Response | None:
        if channel_id in self.dm_recipients:
            if self.dm_recipients[channel_id] in self.dms_closed:
                return _error(403, 50007, "Cannot send messages to this user")
            return None
        if channel_id not in self.channels:
            return _error(404, 10003, "Unknown Channel")
        if channel_id in self.forbidden_channels:
            return _error(403, 50013, "Missing Permissions")
        return None

    def _create_message(self, body: Any, query: dict[str, str], channel: str) -> web.Response:
        channel_id = int(channel)
        problem = self._channel_error(channel_id) or _validate_message(body or {})
        if problem is not None:
            return problem
        return _json(self._store_message(channel_id, body, self.bot))

    def _store_message(self, channel_id: int, body: dict[str, Any], author: dict[str, Any],
                       **extra: Any) -> dict[str, Any]:
        message = {"id": str(self.next_id()), "channel_id": str(channel_id), "type": 0,
                   "content": body.get("content") or "", "author": author, "timestamp": _now(),
                   "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
                   "mention_roles": [], "attachments": [], "embeds": body.get("embeds") or [], "pinned": False,
                   "components": body.get("components") or [], "flags": body.get("flags") or 0, **extra}
        guild_id = self.channels.get(channel_id, {}).get("guild_id")
        if guild_id:
            message["guild_id"] = guild_id
        self.messages[int(message["id"])] = message
        return message

    def _edit_message(self, body: Any, query: dict[str, str], channel: str, message: str) -> web.Response:
        stored = self.messages.get(int(message))
        if stored is None:
            return _error(404, 10008, "Unknown Message")
        stored.update({k: v for k, v in (body or {}).items() if k in ("content", "components", "embeds")})
        return _json(stored)

    def _typing(self, body: Any, query: dict[str, str], channel: str) -> web.Response:
        problem = self._channel_error(int(channel))
        return problem if problem is not None else web.Response(status=204)

    def _create_thread(self, body: Any, query: dict[str, str], channel: str) -> web.Response:
        parent = self.channels.get(int(channel))
        problem = self._channel_error(int(channel))
        if problem is not None or parent is None:
            return problem or _error(404, 10003, "Unknown Channel")
        body = body or {}
        if not 1 <= len(body.get("name", "")) <= 100 or body.get("type") not in (10, 11, 12):
            return _error(400, 50035, "Invalid Form Body")
        thread = {"id": str(self.next_id()), "guild_id": parent["guild_id"], "parent_id": parent["id"],
                  "owner_id": self.bot["id"], "name": body["name"], "type": body["type"], "message_count": 0,
                  "member_count": 1, "rate_limit_per_user": 0, "flags": 0, "total_message_sent": 0,
                  "thread_metadata": {"archived": False, "locked": False, "archive_timestamp": _now(),
                                      "auto_archive_duration": body.get("auto_archive_duration", 1440),
                                      "invitable": body.get("invitable", True), "create_timestamp": _now()}}
        self.channels[int(thread["id"])] = thread
        self.thread_members[int(thread["id"])] = {int(self.bot["id"])}
        return _json(thread, 201)

    def _add_thread_member(self, body: Any, query: dict[str, str], thread: str, user: str) -> web.Response:
        if int(thread) not in self.thread_members:
            return _error(404, 10003, "Unknown Channel")
        self.thread_members[int(thread)].add(int(user))
        return web.Response(status=204)

    def _bulk_commands(self, body: Any, query: dict[str, str], app: str) -> web.Response:
        if int(app) != self.app_id or not isinstance(body, list):
            return _error(403 if int(app) != self.app_id else 400, 50035, "Invalid Form Body")
        for command in body:
            problem = _validate_command(command)
            if problem:
                return _error(400, 50035, f"Invalid Form Body: {problem}")
        self.commands = [{**c, "id": str(self.next_id()), "application_id": str(self.app_id), "version": "1",
                          "type": c.get("type", 1), "default_member_permissions": None} for c in body]
        return _json(self.commands)

    def _interaction_callback(self, body: Any, query: dict[str, str], interaction_id: str,
                              token: str) -> web.Response:
        pending = self.interactions.get(int(interaction_id))
        if pending is None or pending.token != token:
            return _error(404, 10062, "Unknown interaction")
        if pending.responded:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - pending.created > INTERACTION_DEADLINE_S:
            return _error(404, 10062, "Unknown interaction")
        kind = (body or {}).get("type")
        if kind not in (1, 4, 5, 6, 7, 9):
            return _error(400, 50035, "Invalid Form Body")
        data = (body or {}).get("data") or {}
        if kind == 4:
            problem = _validate_message(data)
            if problem is not None:
                return problem
        pending.responded = True
        response: dict[str, Any] = {"interaction": {
            "id": interaction_id, "type": pending.payload["type"],
            "response_message_loading": kind == 5, "response_message_ephemeral": bool(data.get("flags", 0) & 64)}}
        if kind in (4, 5):
            channel_id = int(pending.payload.get("channel_id", 0))
            message = self._store_message(channel_id, data, self.bot, interaction_id=interaction_id)
            response["interaction"]["response_message_id"] = message["id"]
            response["resource"] = {"type": kind, "message": message}
        if query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        return _json(response)

    def _followup(self, body: Any, query: dict[str, str], app: str, token: str) -> web.Response:
        pending = next((p for p in self.interactions.values() if p.token == token), None)
        if int(app) != self.app_id or pending is None or not pending.responded:
            return _error(404, 10015, "Unknown Webhook")
        problem = _validate_message(body or {})
        if problem is not None:
            return problem
        channel_id = int(pending.payload.get("channel_id", 0))
        message = self._store_message(channel_id, body, self.bot, webhook_id=str(self.app_id))
        return _json(message)

    def _edit_followup(self, body: Any, query: dict[str, str], app: str, token: str, message: str) -> web.Response:
        pending = next((p for p in self.interactions.values() if p.token == token), None)
        if pending is None or not pending.responded:
            return _error(404, 10015, "Unknown Webhook")
        return _json(self._store_message(int(pending.payload.get("channel_id", 0)), body or {}, self.bot))

    # --- gateway ---------------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        if request.query.get("v") != "10" or request.query.get("encoding", "json") != "json":
            raise web.HTTPBadRequest()
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "s": None, "t": None, "d": {"heartbeat_interval": 41250}}))
        async for frame in ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            op, data = message.get("op"), message.get("d")
            if op == 1:
                await ws.send_str(json.dumps({"op": 11, "s": None, "t": None, "d": None}))
            elif op == 2:
                await self._identify(ws, data)
            elif op == 6:
                if data.get("token") != self.gateway_token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                else:
                    self._sockets.append(ws)
                    session = self._sessions.get(str(data.get("session_id")))
                    if session is not None:          # a resumed session keeps its intents and its shard
                        self._intents[id(ws)], self._shards[id(ws)] = session
                    await self._send(ws, "RESUMED", {})
        if ws in self._sockets:
            self._sockets.remove(ws)
            self._intents.pop(id(ws), None)
            self._shards.pop(id(ws), None)
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != self.gateway_token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            await ws.close(code=4013, message=b"Invalid intent(s).")
            return
        if intents & PRIVILEGED and not self.privileged_intents:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = _shard_pair(data.get("shard", [0, 1]))
        if shard is None:
            await ws.close(code=4010, message=b"Invalid shard.")
            return
        owned = [guild for guild_id, guild in self.guilds.items() if shard_of(guild_id, shard[1]) == shard[0]]
        if self.max_guilds_per_session is not None and len(owned) > self.max_guilds_per_session:
            await ws.close(code=4011, message=b"Sharding required.")
            return
        self._sockets.append(ws)
        self._shards[id(ws)] = shard
        session_id = f"fake-session-{next(self._session_ids)}"
        self._sessions[session_id] = (intents, shard)
        ready: dict[str, Any] = {
            "v": 10, "user": self.bot, "guilds": [{"id": g["id"], "unavailable": True} for g in owned],
            "session_id": session_id, "resume_gateway_url": self.gateway_url, "private_channels": [],
            "relationships": [], "application": {"id": str(self.app_id), "flags": 0}}
        if "shard" in data:
            ready["shard"] = list(shard)
        await self._send(ws, "READY", ready)
        for guild in owned:
            await self._send(ws, "GUILD_CREATE", guild)
        async with self._changed:
            self.identifies.append(data)
            self._intents[id(ws)] = intents
            self._changed.notify_all()

    async def _send(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        await ws.send_str(json.dumps({"op": 0, "s": next(self._seq), "t": event, "d": data}))

    async def dispatch(self, event: str, data: dict[str, Any], needs: int = 0,
                       adjust: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None) -> int:
        """Send an event to every identified connection whose intents include `needs` and whose shard owns it (a
        server's shard; shard 0 for DMs); returns how many."""
        sent = 0
        guild_id = _guild_of(event, data)
        for ws in list(self._sockets):
            intents = self._intents.get(id(ws), 0)
            if needs and not intents & needs:
                continue
            shard_id, shard_count = self._shards.get(id(ws), (0, 1))
            if shard_id != (0 if guild_id is None else shard_of(guild_id, shard_count)):
                continue
            await self._send(ws, event, adjust(intents, data) if adjust else data)
            sent += 1
        return sent

    async def send_raw(self, frame: str) -> int:
        """Send any text frame, as is, to every identified connection (unknown opcodes, replayed sequence numbers,
        for fuzzing); returns how many connections got it."""
        sockets = [ws for ws in self._sockets if id(ws) in self._intents]
        for ws in sockets:
            await ws.send_str(frame)
        return len(sockets)

    # --- pushing inbound events ------------------------------------------------------------------------------

    async def push_dm(self, author: dict[str, Any], content: str) -> dict[str, Any]:
        channel_id = self.dm_channel_for(int(author["id"]))
        message = self._store_message(channel_id, {"content": content}, author)
        await self.dispatch("MESSAGE_CREATE", message, needs=DIRECT_MESSAGES)
        return message

    async def push_guild_message(self, guild: dict[str, Any], channel_id: int, author: dict[str, Any],
                                 content: str, raw: dict[str, Any] | None = None) -> dict[str, Any]:
        member = {k: v for k, v in self._member(author).items() if k != "user"}
        message = raw or self._store_message(channel_id, {"content": content}, author, member=member)

        def visible(intents: int, data: dict[str, Any]) -> dict[str, Any]:
            mentioned = any(m.get("id") == self.bot["id"] for m in data.get("mentions", []))
            if intents & MESSAGE_CONTENT or mentioned:
                return data
            return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

        await self.dispatch("MESSAGE_CREATE", message, needs=GUILD_MESSAGES, adjust=visible)
        return message

    async def push_interaction(self, kind: int, data: dict[str, Any], user: dict[str, Any],
                               guild: dict[str, Any] | None = None, channel_id: int | None = None,
                               message: dict[str, Any] | None = None, locale: str = "en-US") -> PendingInteraction:
        interaction_id = self.next_id()
        token = f"itoken-{interaction_id}"
        payload: dict[str, Any] = {
            "id": str(interaction_id), "application_id": str(self.app_id), "type": kind, "token": token,
            "version": 1, "attachment_size_limit": 10 * 1024 * 1024, "data": data, "locale": locale,
            "app_permissions": "0", "entitlements": [], "authorizing_integration_owners": {"0": guild["id"]}
            if guild else {"1": user["id"]}, "context": 0 if guild else 1}
        if guild is not None:
            assert channel_id is not None
            payload.update(guild_id=guild["id"], channel_id=str(channel_id), channel=self.channels[channel_id],
                           member={**self._member(user), "permissions": "2248473465835073"},
                           guild_locale="en-US")
        else:
            dm = channel_id or self.dm_channel_for(int(user["id"]))
            payload.update(channel_id=str(dm), user=user,
                           channel={"id": str(dm), "type": 1, "recipients": [user], "last_message_id": None})
        if message is not None:
            payload["message"] = message
        pending = PendingInteraction(interaction_id, token, time.monotonic(), payload=payload)
        self.interactions[interaction_id] = pending
        await self.dispatch("INTERACTION_CREATE", payload)
        return pending

    async def push_slash(self, name: str, user: dict[str, Any], *, guild: dict[str, Any] | None = None,
                         channel_id: int | None = None, options: list[dict[str, Any]] | None = None,
                         resolved: dict[str, Any] | None = None) -> PendingInteraction:
        command = next((c for c in self.commands if c["name"] == name), None)
        assert command is not None, f"/{name} was never registered"
        data: dict[str, Any] = {"id": command["id"], "name": name, "type": 1, "options": options or []}
        if resolved:
            data["resolved"] = resolved
        return await self.push_interaction(2, data, user, guild, channel_id)

    async def press(self, message: dict[str, Any], label: str, user: dict[str, Any], *,
                    guild: dict[str, Any] | None = None) -> PendingInteraction:
        """Press the button labelled `label` on a message the bot sent."""
        custom_id = next(button["custom_id"] for row in message.get("components", [])
                         for button in row.get("components", []) if button.get("label") == label)
        channel_id = int(message["channel_id"])
        return await self.push_interaction(3, {"custom_id": custom_id, "component_type": 2}, user, guild,
                                           channel_id if guild is not None else None, message)

    def member_option(self, guild: dict[str, Any], name: str, user: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """A slash-command USER option and the `resolved` block Discord sends with it."""
        member = {k: v for k, v in self._member(user).items() if k != "user"}
        return ([{"name": name, "type": 6, "value": user["id"]}],
                {"users": {user["id"]: user}, "members": {user["id"]: {**member, "permissions": "0"}}})

    def sent_messages(self, channel_id: int) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if int(m["channel_id"]) == channel_id
                and m["author"]["id"] == self.bot["id"]]


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that receives a server's events, by Discord's documented formula."""
    return (guild_id >> 22) % shard_count


def _shard_pair(value: Any) -> tuple[int, int] | None:
    """IDENTIFY's `shard: [id, count]` if valid (0 <= id < count), else None (Discord closes with 4010)."""
    if not isinstance(value, list) or len(value) != 2 or not all(type(v) is int for v in value):
        return None
    shard_id, shard_count = value
    return (shard_id, shard_count) if 0 <= shard_id < shard_count else None


def _guild_of(event: str, data: Any) -> int | None:
    """The server an event belongs to (None for DMs and anything unparsable, which go to shard 0)."""
    if not isinstance(data, dict):
        return None
    raw = data.get("id") if event.startswith("GUILD_") and "guild_id" not in data else data.get("guild_id")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly `application/json`: discord.py compares the header string and treats anything else as text.
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json", **(headers or {})})


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status)


def _validate_message(body: dict[str, Any]) -> web.Response | None:
    content = body.get("content") or ""
    if len(content) > 2000:
        return _json({"message": "Invalid Form Body", "code": 50035, "errors": {"content": {"_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}}, 400)
    components = body.get("components") or []
    if not content and not components and not body.get("embeds") and not body.get("attachments") \
            and not body.get("files"):
        return _error(400, 50006, "Cannot send an empty message")
    seen: set[str] = set()
    if len(components) > 5:
        return _error(400, 50035, "Invalid Form Body: too many component rows")
    for row in components:
        buttons = row.get("components", [])
        if row.get("type") != 1 or not 1 <= len(buttons) <= 5:
            return _error(400, 50035, "Invalid Form Body: bad action row")
        for button in buttons:
            custom_id = button.get("custom_id", "")
            if not 1 <= len(custom_id) <= 100 or len(button.get("label", "")) > 80 or custom_id in seen:
                return _error(400, 50035, "Invalid Form Body: bad button")
            seen.add(custom_id)
    return None


def _validate_command(command: dict[str, Any]) -> str | None:
    name = command.get("name", "")
    if not _COMMAND_NAME.fullmatch(name) or name != name.lower():
        return f"bad command name {name!r}"
    if not 1 <= len(command.get("description", "")) <= 100:
        return f"bad description for {name}"
    required_done = False
    for option in command.get("options", []):
        if not _COMMAND_NAME.fullmatch(option.get("name", "")) or not 1 <= len(option.get("description", "")) <= 100:
            return f"bad option in {name}"
        if option.get("required"):
            if required_done:
                return f"required option after optional in {name}"
        else:
            required_done = True
    return None
