"""Claude as Haven's responder, through the official `anthropic` SDK, and the wrapper that makes failure quiet.

Why it is shaped like this:
* One deadline (`llm.timeout_s`) covers the whole reply, SDK retries included: a person waiting in a chat should
  get *an* answer in bounded time, so past the deadline the offline responder answers instead
  (`ResilientResponder`). The SDK retries 429/529/5xx/network errors itself (`llm.max_retries`, each attempt
  limited to the time that is left); Haven retries what the SDK cannot see: a malformed body, an empty reply, an
  SSE `error` event in the middle of a stream. Nobody is ever shown an error code.
* Every reply passes the output guard (bot/llm/guard.py) before it leaves this module; help contacts come only
  from the reviewed directory through `{helpline}`/`{emergency}` placeholders.
* The reviewed system prompt is a cached block; per-person context is a second, small block (bot/llm/prompt.py).
* Metrics are counts, latencies and token numbers only, never content (`LlmMetrics`, and one log line per reply:
  `event=llm_reply outcome=... latency_ms=... tokens_in=... tokens_out=...`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anthropic

from bot.config import LlmSettings
from bot.crisis.respond import helplines_for
from bot.i18n import Catalog
from bot.llm import guard
from bot.llm.base import Responder, ResponderContext, ResponderReply
from bot.llm.prompt import help_fills, load_system_prompt, session_block, window_history
from bot.ops.hooks import NO_METRICS, Metrics
from bot.resources import ResourceDirectory

log = logging.getLogger("haven.llm")
_SENTENCE_END = re.compile(r"[.!?…](?:\s|$)|\n")


class LlmUnavailable(Exception):
    """Claude could not produce a usable reply in time; `reason` is a safe, stable label for logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class LlmMetrics:
    """In-process counters for tests, the bench and an operator's status page. Bounded; no content."""

    outcomes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    tokens_in: deque[int] = field(default_factory=lambda: deque(maxlen=10_000))
    tokens_out: deque[int] = field(default_factory=lambda: deque(maxlen=10_000))
    contacts_dropped: int = 0

    def record(self, outcome: str, latency_ms: float, tokens_in: int = 0, tokens_out: int = 0,
               reasons: tuple[str, ...] = (), dropped: int = 0) -> None:
        self.outcomes[outcome] += 1
        self.reasons.update(f"{outcome}:{r}" for r in reasons)
        self.latencies_ms.append(latency_ms)
        self.tokens_in.append(tokens_in)
        self.tokens_out.append(tokens_out)
        self.contacts_dropped += dropped
        log.info("event=llm_reply outcome=%s latency_ms=%d tokens_in=%d tokens_out=%d reason=%s dropped=%d",
                 outcome, round(latency_ms), tokens_in, tokens_out, ",".join(reasons) or "-", dropped)


@dataclass(frozen=True, slots=True)
class Generation:
    """One guarded Claude reply plus what the metrics need."""

    reply: ResponderReply
    tokens_in: int = 0
    tokens_out: int = 0
    blocked: tuple[str, ...] = ()
    dropped: int = 0


def _reason(exc: BaseException) -> str:
    """A stable label for an SDK failure (never its message: messages can echo request content)."""
    if isinstance(exc, anthropic.APITimeoutError):
        return "timeout"
    if isinstance(exc, anthropic.APIConnectionError):
        return "network"
    if isinstance(exc, anthropic.RateLimitError):
        return "rate_limited"
    if isinstance(exc, anthropic.OverloadedError):
        return "overloaded"
    if isinstance(exc, anthropic.InternalServerError):
        return "server_error"
    if isinstance(exc, (anthropic.AuthenticationError, anthropic.PermissionDeniedError)):
        return "auth"
    if isinstance(exc, anthropic.APIStatusError):
        return "stream_error" if exc.status_code == 200 else f"status_{exc.status_code}"
    return "unexpected"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _text_and_usage(message: object) -> tuple[str | None, int, int]:
    """The reply text, or None if the body is not a usable Message (the SDK does not validate bodies)."""
    content = getattr(message, "content", None)
    text = None
    if isinstance(content, list):
        parts = [b.text for b in content
                 if getattr(b, "type", None) == "text" and isinstance(getattr(b, "text", None), str)]
        text = "".join(parts).strip() or None
        if text and getattr(message, "stop_reason", None) == "max_tokens":
            ends = [m.end() for m in _SENTENCE_END.finditer(text)]
            text = text[:ends[-1]].strip() if ends else text
    usage = getattr(message, "usage", None)
    tokens_in = sum(_int(getattr(usage, k, 0)) for k in
                    ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    return text, tokens_in, _int(getattr(usage, "output_tokens", 0))


class AnthropicResponder:
    """Claude through `messages.create` (the core's path) or `messages.stream` (progress for platforms that can
    edit a message). Raises `LlmUnavailable` on failure; wrap it in `ResilientResponder`."""

    name = "anthropic"
    uses_history = True

    def __init__(self, settings: LlmSettings, *, catalog: Catalog, directory: ResourceDirectory,
                 bot_name: str = "Haven", default_country: str | None = "US",
                 client: anthropic.AsyncAnthropic | None = None, system_prompt: str | None = None) -> None:
        self.settings = settings
        key = settings.api_key.get_secret_value() if settings.api_key else None
        self.client = client or anthropic.AsyncAnthropic(api_key=key, base_url=settings.base_url,
                                                         max_retries=settings.max_retries, timeout=settings.timeout_s)
        self._catalog = catalog
        self._directory = directory
        self._default_country = default_country
        self._system = system_prompt if system_prompt is not None else load_system_prompt(bot_name)
        self._allowed = guard.Allowed.from_directory(directory)
        self._fills: dict[tuple[str | None, str], dict[str, str]] = {}

    # -- request and guard ---------------------------------------------------------------------------------------
    def build_request(self, text: str, context: ResponderContext) -> dict[str, Any]:
        window = window_history(context.history, text, self.settings.history_tokens)
        system = [{"type": "text", "text": self._system, "cache_control": {"type": "ephemeral"}},
                  {"type": "text", "text": session_block(context.lang, context.profile, window.summary)}]
        return {"model": self.settings.model, "max_tokens": self.settings.max_tokens, "system": system,
                "messages": window.messages}

    def fills_for(self, context: ResponderContext) -> dict[str, str]:
        """`{helpline}`/`{emergency}` values for this person's country and language, from the directory."""
        country = getattr(context, "country", None) or context.profile.get("country") or self._default_country
        key = (country, context.lang)
        if key not in self._fills:
            if len(self._fills) > 512:
                self._fills.clear()
            found = helplines_for(self._directory, country, context.lang)
            self._fills[key] = help_fills([r.format_line() for r in found.lines], found.emergency)
        return self._fills[key]

    def guard(self, raw: object, context: ResponderContext) -> guard.GuardResult:
        return guard.check(raw, fills=self.fills_for(context), allowed=self._allowed,
                           fallback=str(self._catalog.raw("guard_fallback", context.lang)))

    def _finish(self, message: object, context: ResponderContext) -> Generation | None:
        raw, tokens_in, tokens_out = _text_and_usage(message)
        if raw is None:
            return None
        checked = self.guard(raw, context)
        return Generation(ResponderReply(checked.text, source=self.name), tokens_in, tokens_out,
                          blocked=() if checked.ok else checked.reasons, dropped=checked.dropped)

    # -- non-streaming -------------------------------------------------------------------------------------------
    async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
        return (await self.generate(text, context)).reply

    async def generate(self, text: str, context: ResponderContext) -> Generation:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                return await self._create_until(self.build_request(text, context), context, deadline)
        except TimeoutError:
            raise LlmUnavailable("timeout") from None

    async def _create_until(self, request: dict[str, Any], context: ResponderContext, deadline: float,
                            attempts: int | None = None) -> Generation:
        """`messages.create`, retrying malformed or empty bodies (which the SDK accepts) while time is left."""
        loop = asyncio.get_running_loop()
        attempts = self.settings.max_retries + 1 if attempts is None else attempts
        for attempt in range(1, attempts + 1):
            try:
                message = await self.client.messages.create(**request, timeout=max(deadline - loop.time(), 0.01))
            except anthropic.AnthropicError as exc:
                raise LlmUnavailable(_reason(exc)) from None
            generation = self._finish(message, context)
            if generation is not None:
                return generation
            log.warning("event=llm_malformed attempt=%d", attempt)
        raise LlmUnavailable("malformed")

    # -- streaming -----------------------------------------------------------------------------------------------
    def stream(self, text: str, context: ResponderContext) -> "ClaudeStream":
        return ClaudeStream(self, text, context)

    async def aclose(self) -> None:
        """Close the SDK's connection pool (call on shutdown; an unclosed pool leaks sockets)."""
        await self.client.close()


class ClaudeStream:
    """Guarded progress from `messages.stream`: iterate for whole sentences as they arrive, then read `final`.

    Raw deltas are never passed on: each sentence is guarded before it is yielded, and the stream stops yielding
    at the first sentence the guard would not pass. `final` (set after iteration) is the complete, guarded
    reply; a platform that showed progress replaces it with `final.text`. A mid-stream `error` event or a
    malformed stream is retried once with `messages.create` within the same deadline (nothing more is yielded);
    a failure raises `LlmUnavailable` from the iteration.
    """

    def __init__(self, owner: AnthropicResponder, text: str, context: ResponderContext) -> None:
        self._owner, self._text, self._context = owner, text, context
        self.final: ResponderReply | None = None
        self.generation: Generation | None = None

    async def _produce(self, queue: asyncio.Queue[tuple[str, Any]], deadline: float) -> None:
        owner, loop = self._owner, asyncio.get_running_loop()
        request = owner.build_request(self._text, self._context)
        try:
            async with asyncio.timeout_at(deadline):
                generation = None
                try:
                    async with owner.client.messages.stream(**request,
                                                            timeout=max(deadline - loop.time(), 0.01)) as stream:
                        async for delta in stream.text_stream:
                            await queue.put(("delta", delta))
                        generation = owner._finish(await stream.get_final_message(), self._context)
                except anthropic.APIStatusError as exc:
                    if exc.status_code != 200:   # an HTTP error the SDK already retried
                        raise LlmUnavailable(_reason(exc)) from None
                    log.warning("event=llm_stream_error retry=create")
                except anthropic.AnthropicError as exc:
                    raise LlmUnavailable(_reason(exc)) from None
                if generation is None:
                    await queue.put(("restart", None))
                    generation = await owner._create_until(request, self._context, deadline, attempts=1)
                await queue.put(("done", generation))
        except TimeoutError:
            await queue.put(("error", "timeout"))
        except LlmUnavailable as exc:
            await queue.put(("error", exc.reason))
        except Exception:  # noqa: BLE001 - reported to the consumer, which falls back
            log.warning("event=llm_stream_failed", exc_info=True)
            await queue.put(("error", "unexpected"))

    def __aiter__(self) -> AsyncIterator[str]:
        return self._run()

    async def _run(self) -> AsyncIterator[str]:
        owner = self._owner
        deadline = asyncio.get_running_loop().time() + owner.settings.timeout_s
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        producer = asyncio.create_task(self._produce(queue, deadline))
        pending, shown, guarded, live = "", "", "", True
        try:
            while True:
                kind, value = await queue.get()
                if kind == "delta" and live:
                    pending += value
                    ends = [m.end() for m in _SENTENCE_END.finditer(pending)]
                    if not ends:
                        continue
                    chunk, pending = pending[:ends[-1]], pending[ends[-1]:]
                    checked = owner.guard(shown + chunk, self._context)
                    if not checked.ok or not checked.text.startswith(guarded):
                        live = False   # the final reply (fallback text) will replace what was shown
                        continue
                    piece, shown, guarded = checked.text[len(guarded):], shown + chunk, checked.text
                    if piece.strip():
                        yield piece
                elif kind == "restart":
                    live = False
                elif kind == "done":
                    self.generation, self.final = value, value.reply
                    return
                elif kind == "error":
                    raise LlmUnavailable(value)
        finally:
            producer.cancel()
            try:
                await producer
            except asyncio.CancelledError:
                pass


class ResilientResponder:
    """Claude first; on any failure the fallback (offline) responder answers. Records one metric per reply."""

    def __init__(self, primary: Responder, fallback: Responder, metrics: LlmMetrics | None = None,
                 ops_metrics: Metrics = NO_METRICS) -> None:
        self.primary = primary
        self.fallback = fallback
        self.metrics = metrics or LlmMetrics()
        #: Prometheus counters for /metrics (error reason and fallback counts only).
        self.ops_metrics = ops_metrics

    @property
    def name(self) -> str:
        return self.primary.name

    @property
    def uses_history(self) -> bool:
        return bool(getattr(self.primary, "uses_history", True))

    async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
        started = time.perf_counter()
        try:
            generate = getattr(self.primary, "generate", None)
            if generate is not None:
                generation = await generate(text, context)
            else:
                generation = Generation(await self.primary.reply(text, context))
        except LlmUnavailable as exc:
            return await self._fall_back(text, context, started, exc.reason)
        except Exception:  # noqa: BLE001 - failure is never silence
            log.warning("event=llm_failed", exc_info=True)
            return await self._fall_back(text, context, started, "unexpected")
        self._record(generation, started)
        return generation.reply

    def stream(self, text: str, context: ResponderContext) -> "ResilientStream":
        return ResilientStream(self, text, context)

    async def aclose(self) -> None:
        for part in (self.primary, self.fallback):
            close = getattr(part, "aclose", None)
            if close is not None:
                await close()

    async def _fall_back(self, text: str, context: ResponderContext, started: float, reason: str) -> ResponderReply:
        self.ops_metrics.llm_error(reason)
        self.ops_metrics.llm_fallback()
        reply = await self.fallback.reply(text, context)
        self.metrics.record("fallback", (time.perf_counter() - started) * 1000, reasons=(reason,))
        return reply

    def _record(self, generation: Generation, started: float) -> None:
        outcome = "guard_blocked" if generation.blocked else "ok"
        self.metrics.record(outcome, (time.perf_counter() - started) * 1000, generation.tokens_in,
                            generation.tokens_out, generation.blocked, generation.dropped)


class ResilientStream:
    """The streaming path with the same promise: iterate for guarded progress; `final` is always set."""

    def __init__(self, owner: ResilientResponder, text: str, context: ResponderContext) -> None:
        self._owner, self._text, self._context = owner, text, context
        self.final: ResponderReply | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._run()

    async def _run(self) -> AsyncIterator[str]:
        owner, started = self._owner, time.perf_counter()
        stream_of = getattr(owner.primary, "stream", None)
        if stream_of is None:
            self.final = await owner.reply(self._text, self._context)
            yield self.final.text
            return
        inner = stream_of(self._text, self._context)
        try:
            async for piece in inner:
                yield piece
            generation = inner.generation
            assert generation is not None
        except LlmUnavailable as exc:
            self.final = await owner._fall_back(self._text, self._context, started, exc.reason)
            return
        except Exception:  # noqa: BLE001
            log.warning("event=llm_stream_failed", exc_info=True)
            self.final = await owner._fall_back(self._text, self._context, started, "unexpected")
            return
        owner._record(generation, started)
        self.final = generation.reply
