"""A loopback fake of the Telegram Bot API, driven by the real python-telegram-bot.

It validates what the real service validates (token, required parameters, text length in UTF-16 units,
callback data size, command names, chat reachability) and answers with the real envelopes
(`{"ok": false, "error_code": N, "description": ..., "parameters": {"retry_after": N}}`), so the adapter's error
handling is exercised against the shapes it will meet in production.

Tests use it in their own event loop (`await fake.start()`), push updates with `push_*`, inject faults with
`fail_next`, and synchronise on `await fake.wait_call(method, ...)` (asyncio conditions, never sleeps). The bench
runs it in a separate process (`python -m tests.fakes.telegram_fake`) and drives it through `/_ctl/*`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

DEFAULT_TOKEN = "123456:TEST-TOKEN"
_TOKEN_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
#: Fields PTB sends as raw strings; everything else arrives JSON-encoded inside the form field.
_STRING_FIELDS = {"text", "caption", "callback_query_id", "url", "secret_token", "parse_mode", "action",
                  "language_code", "inline_message_id", "ip_address", "file_id", "description", "short_description",
                  "name", "emoji"}
_CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                 "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}
_DESCRIPTIONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                 409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200
    result: Any = None
    at: float = field(default_factory=time.monotonic)


class FakeTelegram:
    """The Bot API for one bot. Private chats exist once the user has written to the bot (as on Telegram)."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, username: str = "fake_test_bot", host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self.host, self.port = host, port
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_deliveries: list[tuple[int, int]] = []   # (update_id, HTTP status)
        self.started_users: set[int] = set()
        self.blocked_users: set[int] = set()
        self.groups: dict[int, str] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.open_queries: set[str] = set()
        self._faults: dict[str, list[ApiError]] = {}
        self._update_ids = itertools.count(1000)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._query_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        #: Like Telegram: up to `max_connections` webhook POSTs in flight (setWebhook's parameter, default 40),
        #: each chat's updates in order on one connection, and a failed delivery (no answer, or not 2xx) retried
        #: after `webhook_retry_delay` seconds until the bot takes it.
        self.webhook_max_connections = 40
        self.webhook_retry_delay = 0.2
        self._hook_queues: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self._hook_tasks: list[asyncio.Task[None]] = []
        self._session: ClientSession | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def me(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "FakeBot", "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/_ctl/{action}", self._control)
        app.router.add_route("GET", "/file/bot{token}/{path:.*}", self._file)
        app.router.add_route("*", "/{tail:.*}", self._api)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        self._closing = True
        await self._notify()
        for task in self._hook_tasks:
            task.cancel()
        await asyncio.gather(*self._hook_tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- test helpers: inbound -------------------------------------------------------------------------------

    def user(self, user_id: int, language_code: str | None = "en") -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if language_code:
            user["language_code"] = language_code
        return user

    def message(self, user_id: int, text: str, *, chat_id: int | None = None, chat_type: str = "private",
                language_code: str | None = "en", reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        """A message as Telegram builds it: command and @mention entities are added like the real server does."""
        chat_id = user_id if chat_id is None else chat_id
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = f"User{user_id}"
        else:
            chat["title"] = f"Group {chat_id}"
            self.groups[chat_id] = chat_type
        message: dict[str, Any] = {"message_id": next(self._message_counter(chat_id)), "date": int(time.time()),
                                   "chat": chat, "from": self.user(user_id, language_code), "text": text}
        entities = [{"type": "bot_command", "offset": m.start(), "length": m.end() - m.start()}
                    for m in re.finditer(r"(?<!\S)/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text) if m.start() == 0]
        entities += [{"type": "mention", "offset": m.start(), "length": m.end() - m.start()}
                     for m in re.finditer(r"@[A-Za-z0-9_]{5,32}", text)
                     if not (entities and m.start() < entities[0]["length"])]
        if entities:
            message["entities"] = _utf16_entities(text, entities)
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return message

    def push_text(self, user_id: int, text: str, **options: Any) -> dict[str, Any]:
        update_id = options.pop("update_id", None)
        message = self.message(user_id, text, **options)
        return self.push_update({"message": message} | ({"update_id": update_id} if update_id else {}))

    def push_callback(self, user_id: int, data: str, message: dict[str, Any]) -> dict[str, Any]:
        """A press of an inline button on `message` (a message the bot sent, as returned by sendMessage)."""
        query_id = str(next(self._query_ids))
        self.open_queries.add(query_id)
        return self.push_update({"callback_query": {
            "id": query_id, "chat_instance": f"ci-{message['chat']['id']}", "data": data,
            "from": self.user(user_id), "message": message}})

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        return self.push_updates([update])[0]

    def push_updates(self, updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Queue updates atomically (one long poll sees them all); in webhook mode POST them in order."""
        out = []
        for update in updates:
            update = dict(update)
            update.setdefault("update_id", next(self._update_ids))
            chat = (update.get("message") or {}).get("chat") or {}
            if chat.get("type") == "private":   # writing to a bot opens the private chat
                self.started_users.add(int(chat["id"]))
            out.append(update)
            if self.webhook_url:
                self._hook_queue_for(update).put_nowait(update)
            else:
                self.updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return out

    async def post_webhook(self, update: dict[str, Any], *, secret: str | None,
                           content_type: str = "application/json") -> int:
        """POST an update to the registered webhook with any secret header; returns the HTTP status."""
        headers = {"Content-Type": content_type}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        session = self._client()
        async with session.post(self.webhook_url, data=json.dumps(update), headers=headers) as response:
            await response.read()
            return response.status

    def sent_result(self, call: Call) -> dict[str, Any]:
        assert isinstance(call.result, dict), call
        return call.result

    # --- test helpers: faults and synchronisation ------------------------------------------------------------

    def fail_next(self, method: str, status: int, description: str | None = None, *,
                  retry_after: int | None = None, times: int = 1) -> None:
        if description is None:
            description = _DESCRIPTIONS.get(status, "Error")
            if retry_after is not None:
                description = f"Too Many Requests: retry after {retry_after}"
        self._faults.setdefault(method, []).extend(ApiError(status, description, retry_after) for _ in range(times))

    def calls_of(self, method: str, where: Callable[[Call], bool] | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method and (where is None or where(c))]

    def texts_to(self, chat_id: int) -> list[str]:
        return [str(c.params.get("text")) for c in self.calls_of("sendMessage") if c.status == 200
                and c.params.get("chat_id") == chat_id]

    async def wait_call(self, method: str, where: Callable[[Call], bool] | None = None, *, count: int = 1,
                        timeout: float = 10.0) -> Call:
        """The count-th recorded call of `method` matching `where` (any status)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.calls_of(method, where)) >= count),
                                   timeout)
        return self.calls_of(method, where)[count - 1]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- HTTP ------------------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        match = _TOKEN_PATH.match(request.path)
        if match is None:
            return _json(ApiError(404, "Not Found").envelope(), 404)
        method = match["method"]
        if match["token"] != self.token:
            error = ApiError(401, "Unauthorized").envelope()
            self.calls.append(Call(method, {}, 401, error))
            await self._notify()
            return _json(error, 401)
        handler = getattr(self, f"_m_{method}", None)
        params = await _params(request)
        call = Call(method, params)
        try:
            if handler is None:
                raise ApiError(404, "Not Found")
            faults = self._faults.get(method)
            if faults:
                raise faults.pop(0)
            call.result = await handler(params)
        except ApiError as error:
            call.status, call.result = error.code, error.envelope()
        if method != "getUpdates" or call.result or call.status != 200:
            self.calls.append(call)
            await self._notify()
        if call.status != 200:
            return _json(call.result, call.status)
        return _json({"ok": True, "result": call.result})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _json(ApiError(401, "Unauthorized").envelope(), 401)
        return web.Response(body=b"fake file " + request.match_info["path"].encode())

    async def _control(self, request: web.Request) -> web.Response:
        """Cross-process control for the bench: push updates, allow users, count calls."""
        action = request.match_info["action"]
        if action == "push":
            body = await request.json()
            pushed = self.push_updates(body.get("updates", []))
            return _json({"ok": True, "count": len(pushed)})
        if action == "count":
            method = request.query.get("method", "sendMessage")
            return _json({"ok": True, "count": len(self.calls_of(method))})
        if action == "reset":
            self.calls.clear()
            return _json({"ok": True})
        return _json(ApiError(404, "Not Found").envelope(), 404)

    # --- Bot API methods -------------------------------------------------------------------------------------

    async def _m_getMe(self, p: dict[str, Any]) -> Any:
        return self.me

    async def _m_logOut(self, p: dict[str, Any]) -> Any:
        return True

    async def _m_close(self, p: dict[str, Any]) -> Any:
        return True

    async def _m_getUpdates(self, p: dict[str, Any]) -> Any:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        limit = int(p.get("limit") or 100)
        if not 1 <= limit <= 100:
            raise ApiError(400, "Bad Request: limit must be between 1 and 100")
        offset = int(p.get("offset") or 0)
        if offset < 0:
            self.updates = self.updates[offset:]
        elif offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        timeout = float(p.get("timeout") or 0)
        if not self.updates and timeout > 0 and not self._closing:
            try:
                async with self._changed:
                    await asyncio.wait_for(self._changed.wait_for(lambda: bool(self.updates) or self._closing),
                                           timeout)
            except TimeoutError:
                pass
        return self.updates[:limit]

    async def _m_deleteWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook_url, self.webhook_secret = "", None
        if p.get("drop_pending_updates"):
            self.updates.clear()
        return True

    async def _m_setWebhook(self, p: dict[str, Any]) -> Any:
        url = str(p.get("url") or "")
        if not url:
            return await self._m_deleteWebhook(p)
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook_url, self.webhook_secret = url, secret
        connections = p.get("max_connections")
        if connections is not None:
            if not isinstance(connections, int) or not 1 <= connections <= 100:
                raise ApiError(400, "Bad Request: bad webhook: max_connections must be between 1 and 100")
            self.webhook_max_connections = connections
        if p.get("drop_pending_updates"):
            self.updates.clear()
        for update in self.updates:
            self._hook_queue_for(update).put_nowait(update)
        self.updates = []
        return True

    async def _m_getWebhookInfo(self, p: dict[str, Any]) -> Any:
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": len(self.updates)}

    async def _m_sendMessage(self, p: dict[str, Any]) -> Any:
        chat_id = self._chat(p)
        text = _text(p.get("text"))
        markup = _markup(p.get("reply_markup"))
        return self._store_message(chat_id, {"text": text} | ({"reply_markup": markup} if markup else {}))

    async def _m_sendDocument(self, p: dict[str, Any]) -> Any:
        chat_id = self._chat(p)
        document = p.get("document")
        if not isinstance(document, FileField):
            raise ApiError(400, "Bad Request: there is no document in the request")
        caption = str(p.get("caption") or "")
        if _utf16_len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        return self._store_message(chat_id, {"document": {"file_name": document.filename, "file_id": "f1",
                                                          "file_unique_id": "u1", "file_size": len(document.data)},
                                             "caption": caption})

    async def _m_sendChatAction(self, p: dict[str, Any]) -> Any:
        self._chat(p)
        if p.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    async def _m_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        query_id = str(p.get("callback_query_id") or "")
        if query_id not in self.open_queries:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(str(p.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self.open_queries.discard(query_id)
        return True

    async def _m_editMessageText(self, p: dict[str, Any]) -> Any:
        chat_id = self._chat(p)
        key = (chat_id, int(p.get("message_id") or 0))
        if key not in self.messages:
            raise ApiError(400, "Bad Request: message to edit not found")
        text = _text(p.get("text"))
        markup = _markup(p.get("reply_markup"))
        old = self.messages[key]
        if old.get("text") == text and old.get("reply_markup") == markup:
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        old["text"] = text
        old.pop("reply_markup", None)
        if markup:
            old["reply_markup"] = markup
        old["edit_date"] = int(time.time())
        return old

    async def _m_deleteMessage(self, p: dict[str, Any]) -> Any:
        chat_id = self._chat(p)
        if self.messages.pop((chat_id, int(p.get("message_id") or 0)), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _m_setMyCommands(self, p: dict[str, Any]) -> Any:
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be an array of at most 100 commands")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND.fullmatch(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        language = str(p.get("language_code") or "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise ApiError(400, "Bad Request: LANG_CODE_INVALID")
        scope = p.get("scope") or {"type": "default"}
        self.commands[(str(scope.get("type")), language)] = commands
        return True

    async def _m_getMyCommands(self, p: dict[str, Any]) -> Any:
        scope = p.get("scope") or {"type": "default"}
        return self.commands.get((str(scope.get("type")), str(p.get("language_code") or "")), [])

    async def _m_getFile(self, p: dict[str, Any]) -> Any:
        return {"file_id": p.get("file_id"), "file_unique_id": "u1", "file_size": 10, "file_path": "documents/f1"}

    # --- internals -------------------------------------------------------------------------------------------

    def _chat(self, p: dict[str, Any]) -> int:
        raw = p.get("chat_id")
        if raw in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat_id > 0:
            if chat_id in self.blocked_users:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if chat_id not in self.started_users:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif chat_id not in self.groups:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _message_counter(self, chat_id: int) -> itertools.count[int]:
        return self._message_ids.setdefault(chat_id, itertools.count(1))

    def _store_message(self, chat_id: int, content: dict[str, Any]) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": "private" if chat_id > 0 else self.groups[chat_id]}
        message = {"message_id": next(self._message_counter(chat_id)), "date": int(time.time()), "chat": chat,
                   "from": {k: v for k, v in self.me.items() if k in ("id", "is_bot", "first_name", "username")}}
        message.update(content)
        self.messages[(chat_id, message["message_id"])] = message
        return json.loads(json.dumps(message))

    def _client(self) -> ClientSession:
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=30))
        return self._session

    def _hook_queue_for(self, update: dict[str, Any]) -> asyncio.Queue[dict[str, Any]]:
        """The connection that carries this update's chat, so one chat's updates arrive in order."""
        lane = _chat_of(update) % self.webhook_max_connections
        queue = self._hook_queues.get(lane)
        if queue is None:
            queue = self._hook_queues[lane] = asyncio.Queue()
            self._hook_tasks.append(asyncio.get_running_loop().create_task(self._deliver_webhooks(queue)))
        return queue

    async def _deliver_webhooks(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Deliver in order with the registered secret, retrying until the bot answers 2xx, as Telegram does.

        Every attempt is recorded as (update_id, HTTP status), 0 when the connection failed: a bot that acknowledges
        before it has handled an update, then dies, loses it; one that answers after handling gets it again."""
        while True:
            update = await queue.get()
            while not self._closing:
                try:
                    status = await self.post_webhook(update, secret=self.webhook_secret)
                except Exception:
                    status = 0
                self.webhook_deliveries.append((int(update["update_id"]), status))
                await self._notify()
                if 200 <= status < 300 or not self.webhook_url:
                    break
                await asyncio.sleep(self.webhook_retry_delay)


def _chat_of(update: dict[str, Any]) -> int:
    for key in ("message", "edited_message", "channel_post"):
        chat = (update.get(key) or {}).get("chat") if isinstance(update.get(key), dict) else None
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return abs(chat["id"])
    query = update.get("callback_query")
    if isinstance(query, dict) and isinstance(query.get("from"), dict) and isinstance(query["from"].get("id"), int):
        return abs(query["from"]["id"])
    return 0


@dataclass
class FileField:
    filename: str
    data: bytes


async def _params(request: web.Request) -> dict[str, Any]:
    raw: dict[str, Any] = dict(request.query)
    content_type = request.content_type
    if content_type == "application/json":
        body = await request.json() if request.can_read_body else {}
        return raw | (body if isinstance(body, dict) else {})
    if content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if part.filename:  # type: ignore[union-attr]
                raw[part.name] = FileField(part.filename, await part.read())  # type: ignore[union-attr,arg-type]
            else:
                raw[part.name] = await part.text()  # type: ignore[union-attr]
    elif request.can_read_body:
        raw |= dict(await request.post())
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _STRING_FIELDS or not isinstance(value, str):
            params[key] = value
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    for key, value in list(params.items()):
        if isinstance(value, FileField) or not isinstance(value, str) or not value.startswith("attach://"):
            continue
        params[key] = raw.get(value.removeprefix("attach://"), value)
    return params


def _text(value: Any) -> str:
    text = "" if value is None else str(value)
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if _utf16_len(text) > 4096:
        raise ApiError(400, "Bad Request: message is too long")
    return text


def _markup(value: Any) -> dict[str, Any] | None:
    if value in (None, "", {}):
        return None
    rows = value.get("inline_keyboard") if isinstance(value, dict) else None
    if rows is None:
        return value if isinstance(value, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an array")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text") or "").strip():
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text must be non-empty")
            kinds = [k for k in ("callback_data", "url") if k in button]
            if len(kinds) != 1:
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: "
                                    "Field \"callback_data\" or \"url\" must be present")
            if "callback_data" in button and not 1 <= len(str(button["callback_data"]).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return {"inline_keyboard": rows}


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _utf16_entities(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Telegram counts entity offsets in UTF-16 code units; convert from Python indices."""
    return [{**e, "offset": _utf16_len(text[:e["offset"]]),
             "length": _utf16_len(text[e["offset"]:e["offset"] + e["length"]])} for e in entities]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


async def _serve(port: int, token: str) -> None:
    fake = FakeTelegram(token, port=port)
    await fake.start()
    print(f"port={fake.port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the fake Telegram Bot API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args.port, args.token))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
