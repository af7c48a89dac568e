"""A loopback fake of Anthropic's Messages API, so the real `anthropic` SDK can be driven in tests and benches.

Why a real HTTP server rather than a mocked client: the SDK's own retry, timeout, header and SSE parsing code is
exactly what Haven's failure handling depends on, so the tests must exercise it unmodified (platform-notes §4).

What it does like the real service: POST /v1/messages (JSON, or SSE with `stream: true`), `Authorization: Bearer`
or `x-api-key` auth (401 authentication_error), `anthropic-version` and body validation (400
invalid_request_error), the real error envelope with a `request-id` header, usage counts (with prompt-cache
creation/read counts for `cache_control` system blocks), tool-use replies. What it adds for tests: every request
recorded, scripted replies consumed in order, error injection (429 with retry-after-ms, 529, 500, slow
replies, malformed bodies, a mid-stream `error` event) and an awaitable "N requests recorded" helper.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                529: "overloaded_error"}


@dataclass(frozen=True, slots=True)
class Text:
    """A normal assistant text reply (streamed in `chunks` deltas when the request asks for SSE)."""
    text: str
    chunks: int = 3


@dataclass(frozen=True, slots=True)
class ToolUse:
    """A tool-use reply (structured output through a forced tool)."""
    name: str
    input: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Error:
    status: int
    message: str = "injected"
    retry_after_ms: int | None = None
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class Slow:
    """Wait `seconds` (or until the fake stops) before answering with `then`."""
    seconds: float
    then: Any = Text("Sorry that took a while. How are you feeling now?")


@dataclass(frozen=True, slots=True)
class Malformed:
    """HTTP 200 with a body that is not a valid Message: raw text, or a JSON value of the wrong shape."""
    body: Any
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class StreamError:
    """SSE that delivers `partial` text and then an `error` event (non-stream requests get the HTTP error)."""
    partial: str = "I hear "
    error_type: str = "overloaded_error"


Script = Text | ToolUse | Error | Slow | Malformed | StreamError


@dataclass
class Recorded:
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 0

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def last_user_text(self) -> str:
        messages = self.body.get("messages") or []
        content = messages[-1].get("content") if messages else ""
        if isinstance(content, list):
            return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
        return str(content)


@dataclass
class FakeAnthropic:
    api_key: str = "test-key"
    models: frozenset[str] | None = None
    #: Answers a request when nothing is scripted; the default echoes a short supportive reply.
    default: Callable[[dict[str, Any]], Script] = field(
        default=lambda body: Text("That sounds hard. What feels heaviest right now?"))
    requests: list[Recorded] = field(default_factory=list)
    script: deque[Script] = field(default_factory=deque)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _cached: set[str] = field(default_factory=set)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _recorded: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None
    port: int = 0

    # -- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> "FakeAnthropic":
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> "FakeAnthropic":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting helpers -------------------------------------------------------------------------------------
    def push(self, *items: Script) -> None:
        self.script.extend(items)

    async def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Recorded]:
        async with asyncio.timeout(timeout):
            async with self._recorded:
                await self._recorded.wait_for(lambda: len(self.requests) >= count)
        return self.requests

    # -- handlers ----------------------------------------------------------------------------------------------
    def _error(self, status: int, message: str, *, error_type: str | None = None,
               headers: dict[str, str] | None = None) -> web.Response:
        request_id = f"req_fake{next(self._ids)}"
        body = {"type": "error", "error": {"type": error_type or _ERROR_TYPES.get(status, "api_error"),
                                           "message": message}, "request_id": request_id}
        return web.json_response(body, status=status, headers={"request-id": request_id, **(headers or {})})

    def _authorised(self, request: web.Request) -> bool:
        bearer = request.headers.get("Authorization", "")
        return bearer == f"Bearer {self.api_key}" or request.headers.get("x-api-key") == self.api_key

    def _invalid(self, request: web.Request, body: Any) -> str | None:
        """The first reason the real API would reject this body with a 400, or None."""
        version = request.headers.get("anthropic-version")
        if not version or not _VERSION.match(version):
            return "anthropic-version: header is required and must be a date such as 2023-06-01"
        if not isinstance(body, dict):
            return "request body must be a JSON object"
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "model: Field required"
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            return "max_tokens: Field required and must be a positive integer"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: at least one message is required"
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                return f"messages.{i}.role: Input should be 'user' or 'assistant'"
            content = message.get("content")
            if isinstance(content, str):
                if not content.strip():
                    return f"messages.{i}: all messages must have non-empty content"
            elif not isinstance(content, list) or not content or \
                    not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in content):
                return f"messages.{i}.content: Input should be a string or a list of content blocks"
        system = body.get("system")
        if system is not None and not isinstance(system, str):
            if not isinstance(system, list) or not all(isinstance(b, dict) and b.get("type") == "text"
                                                       and isinstance(b.get("text"), str) for b in system):
                return "system: Input should be a string or a list of text blocks"
            for b in system:
                cache = b.get("cache_control")
                if cache is not None and cache.get("type") != "ephemeral":
                    return "system.cache_control.type: Input should be 'ephemeral'"
        for tool in body.get("tools") or []:
            if not isinstance(tool, dict) or not tool.get("name") or not isinstance(tool.get("input_schema"), dict):
                return "tools: each tool needs a name and an input_schema object"
        return None

    def _usage(self, body: dict[str, Any], output: str) -> dict[str, int]:
        chars = sum(len(json.dumps(m.get("content"))) for m in body.get("messages", []))
        created = read = 0
        system = body.get("system")
        if isinstance(system, list):
            for block in system:
                size = len(block["text"]) // 4
                if block.get("cache_control"):
                    if block["text"] in self._cached:
                        read += size
                    else:
                        self._cached.add(block["text"])
                        created += size
                else:
                    chars += len(block["text"])
        elif isinstance(system, str):
            chars += len(system)
        return {"input_tokens": max(1, chars // 4), "output_tokens": max(1, len(output) // 4),
                "cache_creation_input_tokens": created, "cache_read_input_tokens": read}

    def _message(self, body: dict[str, Any], item: Text | ToolUse) -> dict[str, Any]:
        if isinstance(item, ToolUse):
            content: list[dict[str, Any]] = [{"type": "tool_use", "id": f"toolu_fake{next(self._ids)}",
                                              "name": item.name, "input": item.input}]
            stop, out = "tool_use", json.dumps(item.input)
        else:
            content, stop, out = [{"type": "text", "text": item.text}], "end_turn", item.text
        return {"id": f"msg_fake{next(self._ids)}", "type": "message", "role": "assistant", "model": body["model"],
                "content": content, "stop_reason": stop, "stop_sequence": None, "usage": self._usage(body, out)}

    async def _count_tokens(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(401, "invalid x-api-key")
        body = await request.json()
        return web.json_response({"input_tokens": self._usage(body, "")["input_tokens"]})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        record = Recorded(headers={k.lower(): v for k, v in request.headers.items()},
                          body=body if isinstance(body, dict) else {})
        async with self._recorded:
            self.requests.append(record)
            self._recorded.notify_all()
        response = await self._answer(request, body, record)
        record.status = response.status
        return response

    async def _answer(self, request: web.Request, body: Any, record: Recorded) -> web.StreamResponse:
        if not self._authorised(request):
            return self._error(401, "invalid x-api-key")
        problem = self._invalid(request, body)
        if problem:
            return self._error(400, problem)
        if self.models is not None and body["model"] not in self.models:
            return self._error(404, f"model: {body['model']}")
        item: Script = self.script.popleft() if self.script else self.default(body)
        while isinstance(item, Slow):
            try:
                await asyncio.wait_for(self._stopping.wait(), item.seconds)
            except TimeoutError:
                pass
            item = item.then
        if isinstance(item, Error):
            headers = {"retry-after-ms": str(item.retry_after_ms)} if item.retry_after_ms is not None else {}
            return self._error(item.status, item.message, error_type=item.error_type, headers=headers)
        if isinstance(item, Malformed):
            text = item.body if isinstance(item.body, str) else json.dumps(item.body)
            return web.Response(text=text, content_type=item.content_type)
        if isinstance(item, StreamError) and not record.stream:
            return self._error(529, "Overloaded", error_type=item.error_type)
        if record.stream:
            return await self._sse(request, body, item)
        return web.json_response(self._message(body, item), headers={"request-id": f"req_fake{next(self._ids)}"})

    async def _sse(self, request: web.Request, body: dict[str, Any],
                   item: Text | ToolUse | StreamError) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "request-id": f"req_fake{next(self._ids)}"})
        await response.prepare(request)

        async def send(event: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        final = self._message(body, item if not isinstance(item, StreamError) else Text(item.partial))
        start = dict(final, content=[], stop_reason=None,
                     usage=dict(final["usage"], output_tokens=1))
        await send("message_start", {"type": "message_start", "message": start})
        await send("ping", {"type": "ping"})
        block = final["content"][0]
        if block["type"] == "tool_use":
            await send("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": dict(block, input={})})
            raw = json.dumps(block["input"])
            for part in (raw[: len(raw) // 2], raw[len(raw) // 2:]):
                await send("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                   "delta": {"type": "input_json_delta", "partial_json": part}})
        else:
            await send("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": ""}})
            for part in _chunks(block["text"], item.chunks if isinstance(item, Text) else 1):
                await send("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                   "delta": {"type": "text_delta", "text": part}})
        if isinstance(item, StreamError):
            await send("error", {"type": "error", "error": {"type": item.error_type, "message": "Overloaded"}})
            await response.write_eof()
            return response
        await send("content_block_stop", {"type": "content_block_stop", "index": 0})
        await send("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": final["stop_reason"], "stop_sequence": None},
                                     "usage": {"output_tokens": final["usage"]["output_tokens"]}})
        await send("message_stop", {"type": "message_stop"})
        await response.write_eof()
        return response


def _chunks(text: str, count: int) -> list[str]:
    count = max(1, min(count, len(text) or 1))
    size = -(-len(text) // count) or 1
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]
