"""Fuzz campaigns: the real adapters (real client libraries) against their loopback fakes, fed hostile payloads.

One campaign starts one HavenApp with one adapter exactly as tests/adapters does, feeds every payload through the
library's own parsing and Haven's handler, then checks that the bot still serves: an ordinary message gets its
ordinary answer and a crisis message still gets the crisis reply. Used by tests/reliability/test_fuzz_*.py (a few
hundred payloads) and bench/fuzz.py (ten thousand).

What counts as what (the report's figures):
- crash: an ERROR or CRITICAL log record whose traceback passes through Haven's code (adapters/, bot/), or any
  ERROR or CRITICAL record from a `haven.*` logger (our code saying something broke).
- unhandled: anything that reached the event loop's exception handler ("Task exception was never retrieved",
  exceptions in callbacks) or a thread's excepthook (discord.py's heartbeat thread).
- library error: an ERROR or CRITICAL record from a client library with no Haven frame in it. Reported, and a
  failure too: a malformed payload must be rejected calmly (a warning or a status code), not logged as an error.
  One exception is tolerated (counted and shown, not failed), see TOLERATED: slack_sdk's Socket Mode client logs
  "Failed to run ... listener(s)" at ERROR for a frame that is not a Slack envelope, and carries on. Only Slack
  can write to that socket (it is opened with the app token), the messages name the exception's type and text
  but not the frame, and the connection keeps serving; fixing it would mean replacing the SDK's receive loop.
- rejected: transport refusals (HTTP status >= 400 from the library or our endpoint) and Haven's own logged
  rejections (`event=update_rejected reason=malformed`, `event=slack_rejected`, `event=rejected` ...), by reason.
- answered: payloads that were meant to be answered ("reply") and got exactly one answer from the core that was
  delivered; replays and retries of those must not be answered a second time.
- leaks: log lines Haven would write in production containing a text or a platform id that was sent in (logscan).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import itertools
import json
import logging
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import HavenApp
from bot.config import Settings
from bot.events import IncomingEvent, Outgoing, Reply
from tests.reliability.logscan import LogScan, Needles, needles_from
from tests.reliability.payloads import DiscordFrame, SlackRequest, TelegramPost

ROOT = Path(__file__).resolve().parents[2]
OUR_CODE = (str(ROOT / "adapters") + "/", str(ROOT / "bot") + "/")
FAKES = str(ROOT / "tests" / "fakes") + "/"
#: (logger prefix, message prefix) of library errors that are reported but do not fail a campaign (see above).
TOLERATED = (("slack_bolt.haven", "Failed to run a request listener"),
             ("slack_bolt.haven", "Failed to run message listeners"))
CRISIS = "I want to kill myself tonight"
CRISIS_REPLY = "Are you safe right now?"
ORDINARY = "work has been a lot lately"
TROUBLE = "I'm having a technical problem"


@dataclass
class Report:
    adapter: str
    sent: int = 0
    expected_answers: int = 0
    answered: int = 0
    core_turns: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    unhandled: list[str] = field(default_factory=list)
    library_errors: list[str] = field(default_factory=list)
    tolerated: list[str] = field(default_factory=list)
    fake_errors: int = 0
    failures: list[str] = field(default_factory=list)      # broken promises: unanswered, answered twice, not serving
    records_scanned: int = 0
    production_records: int = 0
    leaks: list[str] = field(default_factory=list)
    debug_only_hits: int = 0
    duration: float = 0.0
    seed: int = 0

    @property
    def ok(self) -> bool:
        return not (self.crashes or self.unhandled or self.library_errors or self.failures or self.leaks)

    def summary(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in self.rejected.most_common()) or "none"
        lines = [
            f"{self.adapter}: {self.sent} payloads in {self.duration:.1f} s (seed {self.seed})",
            f"  rejected: {sum(self.rejected.values())} ({reasons})",
            f"  answered: {self.answered} of {self.expected_answers} meant to be answered; core turns {self.core_turns}",
            f"  crashes: {len(self.crashes)}  unhandled exceptions: {len(self.unhandled)}  "
            f"library errors: {len(self.library_errors)} (+{len(self.tolerated)} tolerated)  "
            f"broken promises: {len(self.failures)}",
            f"  log records scanned: {self.records_scanned} ({self.production_records} at production levels)  "
            f"leaks: {len(self.leaks)}  (debug-only hits, not written in production: {self.debug_only_hits})",
        ]
        for title, items in (("crash", self.crashes), ("unhandled", self.unhandled),
                             ("library error", self.library_errors), ("broken", self.failures), ("leak", self.leaks)):
            # Identical findings once, with how often they happened.
            lines += [f"  {title}: {item}" + (f"  (x{count})" if count > 1 else "")
                      for item, count in Counter(items).most_common(10)]
        return "\n".join(lines)


# --- watching for crashes -----------------------------------------------------------------------------------------

class Watch:
    """Loop exception handler, thread excepthook and full log capture for the length of a campaign."""

    def __init__(self) -> None:
        self.unhandled: list[str] = []
        self.scan = LogScan()
        self.needles = Needles()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._old_handler: Any = None
        self._old_thread_hook: Any = None

    def __enter__(self) -> Watch:
        self._loop = asyncio.get_running_loop()
        self._old_handler = self._loop.get_exception_handler()
        self._loop.set_exception_handler(self._on_loop_error)
        self._old_thread_hook = threading.excepthook
        threading.excepthook = self._on_thread_error
        self.scan.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.scan.__exit__(*exc)
        threading.excepthook = self._old_thread_hook
        assert self._loop is not None
        self._loop.set_exception_handler(self._old_handler)

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        where = _our_frame(error.__traceback__) if isinstance(error, BaseException) else ""
        self.unhandled.append(f"{context.get('message', '')} {type(error).__name__ if error else ''} {where}".strip())

    def _on_thread_error(self, args: threading.ExceptHookArgs) -> None:
        self.unhandled.append(f"thread {args.thread.name if args.thread else '?'}: {args.exc_type.__name__}")

    def add(self, payload: Any) -> None:
        needles_from(payload, self.needles)

    def finish(self, report: Report) -> None:
        result = self.scan.scan(self.needles)
        report.records_scanned = result.records
        report.production_records = result.production_records
        report.leaks = [str(hit) for hit in result.leaks]
        report.debug_only_hits = len(result.debug_only_hits)
        report.unhandled = list(self.unhandled)
        for key, count in self.scan.events.items():
            if any(word in key for word in ("rejected", "ignored", "refused", "duplicate", "failed", "dropped")):
                report.rejected[key] += count
        for record in self.scan.errors:
            if record.exc_info and _in_fake(record.exc_info[2]):
                # The fake platform's own aiohttp server (a client hung up mid-request, e.g. a cancelled
                # "typing…" call): not Haven, not written by a Haven process.
                report.fake_errors += 1
                continue
            ours = _our_frame(record.exc_info[2]) if record.exc_info else ""
            line = f"{record.name} {record.levelname} {record.getMessage()[:120]!r}"
            exc = f" {record.exc_info[0].__name__} at {ours}" if record.exc_info and record.exc_info[0] else ""
            if ours or record.name.startswith("haven"):
                report.crashes.append(line + exc)
            elif any(record.name.startswith(name) and record.getMessage().startswith(text)
                     for name, text in TOLERATED):
                report.tolerated.append(line + exc)
            else:
                report.library_errors.append(line + exc)


def _in_fake(tb: Any) -> bool:
    return any(frame.f_code.co_filename.startswith(FAKES) for frame, _ in traceback.walk_tb(tb))


def _our_frame(tb: Any) -> str:
    where = ""
    for frame, line in traceback.walk_tb(tb):
        if frame.f_code.co_filename.startswith(OUR_CODE):
            where = f"{frame.f_code.co_filename.removeprefix(str(ROOT) + '/')}:{line}"
    return where


class TaskTracker:
    """Tasks a library spawns per event (bolt's listener runs, discord.py's event and button dispatch), so a campaign
    can wait until every payload's handling finished, without sleeping."""

    def __init__(self, qualnames: tuple[str, ...]) -> None:
        self.qualnames = qualnames
        self.tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._old: Any = None

    def __enter__(self) -> TaskTracker:
        self._loop = asyncio.get_running_loop()
        self._old = self._loop.get_task_factory()

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
            task = asyncio.Task(coro, loop=loop, **kwargs)
            name = getattr(coro, "__qualname__", "")
            if name.startswith(self.qualnames):
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            return task

        self._loop.set_task_factory(factory)   # type: ignore[arg-type]
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.set_task_factory(self._old)

    async def drain(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(self.tasks)} handler tasks still running")
            await asyncio.wait(set(self.tasks), timeout=left)


class CoreSpy:
    """Every core turn: which conversation, which message, what came back. Answers are judged from this."""

    def __init__(self, app: HavenApp) -> None:
        self.turns: list[tuple[IncomingEvent, list[Outgoing]]] = []
        original = app.core.handle

        async def handle(event: IncomingEvent, *args: Any, **options: Any) -> list[Outgoing]:
            result = await original(event, *args, **options)
            self.turns.append((event, result))
            return result

        app.core.handle = handle  # type: ignore[method-assign]

    def answers(self, chat_id: str) -> list[list[Outgoing]]:
        return [out for event, out in self.turns if event.conversation.chat_id == chat_id
                and any(isinstance(item, Reply) for item in out)]


def _judge_answers(report: Report, spy: CoreSpy, fresh: Iterable[tuple[str, int]],
                   delivered: Callable[[str], int]) -> None:
    """Each fresh conversation that was meant to be answered: exactly one answering core turn, delivered."""
    for chat_id, index in fresh:
        answers = spy.answers(chat_id)
        sent = delivered(chat_id)
        if len(answers) == 1 and sent >= 1:
            report.answered += 1
            texts = [item.text for item in answers[0] if isinstance(item, Reply)]
            if any(text.startswith(TROUBLE) for text in texts):
                report.failures.append(f"payload {index}: answered with the technical-problem fallback")
        elif not answers:
            report.failures.append(f"payload {index}: never answered")
        elif len(answers) > 1:
            report.failures.append(f"payload {index}: answered {len(answers)} times (a replay was answered again)")
        else:
            report.failures.append(f"payload {index}: answered by the core but nothing was delivered")
    report.core_turns = sum(1 for _, out in spy.turns if out)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _batches(items: list[Any], size: int) -> Iterable[list[tuple[int, Any]]]:
    numbered = list(enumerate(items))
    for start in range(0, len(numbered), size):
        yield numbered[start:start + size]


# --- Telegram -------------------------------------------------------------------------------------------------------

TELEGRAM_SECRET = "fuzz-SECRET_token"


async def run_telegram(payloads: list[TelegramPost], data_dir: Path, *, batch: int = 16, seed: int = 0) -> Report:
    """Webhook mode: every payload is a raw POST to Haven's own webhook endpoint (telegram_webhook.py), which
    checks the secret, parses JSON, then hands the update to python-telegram-bot's Update.de_json and
    Application.process_update, and answers only after the handler finished (so no further wait is needed)."""
    from adapters.telegram import TelegramAdapter
    from tests.fakes.telegram_fake import FakeTelegram

    report = Report("telegram", seed=seed)
    fake = FakeTelegram()
    await fake.start()
    port = free_port()
    settings = Settings.model_validate({"telegram": {
        "enabled": True, "token": fake.token, "base_url": fake.root, "concurrency": 8, "mode": "webhook",
        "webhook": {"listen": "127.0.0.1", "port": port, "path": "tg-hook", "url": f"http://127.0.0.1:{port}/tg-hook",
                    "secret_token": TELEGRAM_SECRET}}})
    app = await HavenApp.create(settings, data_dir)
    adapter = TelegramAdapter(app)
    app.outbox.register(adapter)
    spy = CoreSpy(app)
    url = f"http://127.0.0.1:{port}/tg-hook"
    ids = itertools.count(5_000_000_001)
    fresh: list[tuple[str, int]] = []
    started = time.monotonic()
    try:
        with Watch() as watch:
            await adapter.start()
            watch.scan.relower()
            async with app.running_jobs(), aiohttp.ClientSession() as session:
                async def post(index: int, item: TelegramPost) -> None:
                    if item.fresh:
                        person = next(ids)
                        item.body["update_id"] = next(ids)
                        message = item.body["message"]
                        message["chat"]["id"] = message["from"]["id"] = person
                        fake.started_users.add(person)
                        fresh.append((str(person), index))
                    watch.add(item.body)
                    if isinstance(item.body, bytes):
                        watch.needles.add_text(item.body.decode("utf-8", "replace"))
                    headers = {"Content-Type": item.content_type}
                    if item.secret == "ok":
                        headers["X-Telegram-Bot-Api-Secret-Token"] = TELEGRAM_SECRET
                    elif item.secret == "wrong":
                        headers["X-Telegram-Bot-Api-Secret-Token"] = item.wrong_secret
                    body = item.encoded()
                    for _ in range(2 if item.replay else 1):
                        # A stream, not bytes: aiohttp warns (an error in tests) when a body over 1 MB is bytes.
                        async with session.post(url, data=io.BytesIO(body), headers=headers) as response:
                            await response.read()
                            if response.status >= 400:
                                report.rejected[f"http_{response.status}"] += 1
                            elif item.expect == "reject":
                                report.failures.append(f"payload {index} ({item.label}) accepted: {response.status} "
                                                       f"{body[:120]!r}")
                    report.sent += 1

                for chunk in _batches(payloads, batch):
                    await asyncio.gather(*(post(i, p) for i, p in chunk))
                    watch.scan.scan(watch.needles)
                report.expected_answers = len(fresh)
                await _telegram_still_serving(report, fake, url, session, ids)
            await adapter.stop()
            watch.finish(report)
    finally:
        await adapter.stop()
        await app.close()
        await fake.close()
    _judge_answers(report, spy, fresh, lambda chat: len(fake.calls_of(
        "sendMessage", lambda c: str(c.params.get("chat_id")) == chat and c.status == 200)))
    report.duration = time.monotonic() - started
    return report


async def _telegram_still_serving(report: Report, fake: Any, url: str, session: aiohttp.ClientSession,
                                  ids: Iterable[int]) -> None:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    for text, expected in ((ORDINARY, None), (CRISIS, CRISIS_REPLY)):
        person = next(iter(ids))
        fake.started_users.add(person)
        update = {"update_id": next(iter(ids)), "message": fake.message(person, text)}
        async with session.post(url, data=json.dumps(update), headers=headers) as response:
            status = response.status
        texts = fake.texts_to(person)
        if status != 200 or not texts or (expected and not any(expected in t for t in texts)):
            report.failures.append(f"not serving after the campaign: {text!r} got {status} and {len(texts)} replies")


# --- Slack ----------------------------------------------------------------------------------------------------------

async def run_slack(payloads: list[SlackRequest], data_dir: Path, *, batch: int = 32, seed: int = 0) -> Report:
    """HTTP mode (bolt's own aiohttp server with signing-secret verification) for requests, and a Socket Mode
    adapter for socket frames, each against the fake Slack."""
    from adapters.slack import SlackAdapter
    from tests.fakes.slack_fake import FakeSlack, dm_event, message_text

    report = Report("slack", seed=seed)
    fake = await FakeSlack().start()
    fake.add_channel("C0GENERAL", set())
    fake.add_channel("C0STAFF", set())
    spy_apps: list[CoreSpy] = []
    fresh: list[tuple[str, int]] = []
    ids = itertools.count(1)
    started = time.monotonic()
    http_items = [p for p in payloads if not p.socket]
    socket_items = [p for p in payloads if p.socket]

    def settings(mode: str) -> Settings:
        return Settings.model_validate({
            "slack": {"enabled": True, "mode": mode, "bot_token": fake.bot_token, "app_token": fake.app_token,
                      "signing_secret": fake.signing_secret, "api_url": fake.base_url, "port": 0},
            "crisis": {"escalation": {"destinations": [{"platform": "slack", "channel": "C0STAFF"}]}}})

    try:
        with Watch() as watch, TaskTracker(("AsyncioListenerRunner.run.<locals>.run_ack_function_asynchronously",
                                            "AsyncBaseSocketModeClient.run_message_listeners")) as tracker:
            app = await HavenApp.create(settings("http"), data_dir / "http")
            adapter = SlackAdapter(app)
            app.outbox.register(adapter)
            spy = CoreSpy(app)
            spy_apps.append(spy)
            try:
                await adapter.start()
                watch.scan.relower()
                url = f"http://127.0.0.1:{adapter.port}/slack/events"
                async with app.running_jobs(), aiohttp.ClientSession() as session:
                    async def post(index: int, item: SlackRequest) -> None:
                        if item.fresh:
                            user = f"UF{next(ids):08d}"
                            item.body["event"].update(user=user, channel="D" + user[1:])
                            item.body["event_id"] = f"EvF{index:08d}"
                            fake.add_user(user)
                            fresh.append(("D" + user[1:], index))
                        watch.add(item.body)
                        if isinstance(item.body, (bytes, str)):
                            raw = item.body if isinstance(item.body, str) else item.body.decode("utf-8", "replace")
                            watch.needles.add_text(raw)
                        body = item.encoded()
                        for attempt in range(2 if item.replay else 1):
                            status = await _post_slack(session, url, fake, item, body,
                                                       retry=item.retry_num if attempt else None)
                            if status >= 400:
                                report.rejected[f"http_{status}"] += 1
                            elif item.expect == "reject":
                                report.failures.append(f"payload {index} ({item.label}) accepted: {status}")
                        report.sent += 1

                    for chunk in _batches(http_items, batch):
                        await asyncio.gather(*(post(i, p) for i, p in chunk))
                        await tracker.drain()
                        watch.scan.scan(watch.needles)
                    report.expected_answers = len(fresh)
                    await _slack_still_serving(report, fake, url, session, tracker, dm_event, message_text)
            finally:
                await adapter.stop()
                await app.close()
            if socket_items:
                await _slack_socket(report, socket_items, fake, settings("socket"), data_dir / "socket", watch,
                                    tracker, spy_apps, batch)
            watch.finish(report)
    finally:
        await fake.close()
    merged = spy_apps[0]
    for other in spy_apps[1:]:
        merged.turns.extend(other.turns)
    _judge_answers(report, merged, fresh, lambda channel: len(fake.calls_of(
        "chat.postMessage", lambda c: c.params.get("channel") == channel)))
    report.duration = time.monotonic() - started
    return report


async def _post_slack(session: aiohttp.ClientSession, url: str, fake: Any, item: SlackRequest, body: bytes,
                      retry: int | None) -> int:
    now = int(time.time()) + item.timestamp_offset
    stamp = item.timestamp_text if item.timestamp_text is not None else str(now)
    headers = {"Content-Type": item.content_type} if item.content_type else {}
    signature = fake.sign(body, stamp)
    if item.signature == "forged":
        signature = "v0=" + hashlib.sha256(body + b"forged").hexdigest()
    elif item.signature == "wrong_secret":
        signature = "v0=" + hmac.new(b"not-the-secret", b"v0:" + stamp.encode() + b":" + body,
                                     hashlib.sha256).hexdigest()
    elif item.signature == "malformed":
        signature = "v1=" + signature[3:40]
    if item.signature != "missing":
        headers["X-Slack-Signature"] = signature
        headers["X-Slack-Request-Timestamp"] = stamp
    if retry is not None:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
    async with session.post(url, data=io.BytesIO(body), headers=headers) as response:
        await response.read()
        return response.status


async def _slack_still_serving(report: Report, fake: Any, url: str, session: aiohttp.ClientSession,
                               tracker: TaskTracker, dm_event: Callable[..., dict[str, Any]],
                               message_text: Callable[[dict[str, Any]], str]) -> None:
    for n, (text, expected) in enumerate(((ORDINARY, None), (CRISIS, CRISIS_REPLY))):
        user = f"UHEALTH{n}"
        fake.add_user(user)
        status, _ = await fake.send_event(url, dm_event(user, text))
        await tracker.drain()
        texts = [message_text(c.params) for c in fake.calls_of("chat.postMessage",
                                                                lambda c: c.params.get("channel") == "D" + user[1:])]
        if status != 200 or not texts or (expected and not any(expected in t for t in texts)):
            report.failures.append(f"not serving after the campaign: {text!r} got {status} and {len(texts)} replies")


async def _slack_socket(report: Report, items: list[SlackRequest], fake: Any, settings: Settings, data_dir: Path,
                        watch: Watch, tracker: TaskTracker, spies: list[CoreSpy], batch: int) -> None:
    """Socket Mode: frames go over the fake's websocket to slack_sdk's client and bolt; a marker envelope after
    each batch, acknowledged by the SDK, shows that every earlier frame was read."""
    from adapters.slack import SlackAdapter
    from tests.fakes.slack_fake import dm_event, event_callback

    app = await HavenApp.create(settings, data_dir)
    adapter = SlackAdapter(app)
    app.outbox.register(adapter)
    spies.append(CoreSpy(app))
    try:
        await adapter.start()
        watch.scan.relower()
        await fake.wait_for("socket.connected")
        for chunk in _batches(items, batch):
            for _, item in chunk:
                watch.add(item.body)
                watch.needles.add_text(item.body)
                await fake.push_raw(item.body)
                report.sent += 1
            marker = await fake.push_envelope("events_api", event_callback(
                {"type": "app_home_opened", "user": "U0MARKER", "tab": "messages", "event_ts": "1.1"},
                f"EvM{chunk[0][0]}"))
            await fake.wait_ack(marker)
            await tracker.drain()
            watch.scan.scan(watch.needles)
        user = "UHEALTHS"
        fake.add_user(user)
        envelope = await fake.push_envelope("events_api", event_callback(dm_event(user, CRISIS), "EvHEALTHS"))
        await fake.wait_ack(envelope)
        await tracker.drain()
        await adapter.idle()
        if not fake.calls_of("chat.postMessage", lambda c: c.params.get("channel") == "D" + user[1:]):
            report.failures.append("Socket Mode not serving after the campaign: no crisis reply")
    finally:
        await adapter.stop()
        await app.close()


# --- Discord --------------------------------------------------------------------------------------------------------

async def run_discord(payloads: list[DiscordFrame], data_dir: Path, *, batch: int = 64, seed: int = 0) -> Report:
    """Gateway frames from the fake to discord.py's websocket client; after each batch an ordinary DM from a
    marker person, answered, shows every earlier frame was parsed, then the handler tasks are drained."""
    from adapters.discord_bot import DiscordAdapter
    from tests.fakes.discord_fake import FakeDiscord

    report = Report("discord", seed=seed)
    fake = FakeDiscord()
    await fake.start()
    people = [fake.user(fake.next_id(), name) for name in ("alice", "bob")]
    guild = fake.add_guild("Calm Corner", ["general", "support", "mods"], people, roles=["Moderators"])
    settings = Settings.model_validate({
        "discord": {"enabled": True, "token": fake.token, "api_base": fake.api_base, "gateway_url": fake.gateway_url,
                    "guild_ready_timeout": 0.02, "guilds": [{
                        "id": int(guild["id"]), "moderator_channel_id": fake.channel_id(guild, "mods"),
                        "moderator_role_id": fake.role_id(guild, "Moderators"), "country": "GB",
                        "monitored_channels": [fake.channel_id(guild, "support")]}]},
        "crisis": {"escalation": {"destinations": [{"platform": "discord",
                                                    "channel_id": fake.channel_id(guild, "mods")}]}}})
    app = await HavenApp.create(settings, data_dir)
    adapter = DiscordAdapter(app)
    app.outbox.register(adapter)
    spy = CoreSpy(app)
    fresh: list[tuple[str, int]] = []
    started = time.monotonic()
    tracked = ("Client._run_event", "View._scheduled_task", "ViewStore.schedule_dynamic_item_call",
               "CommandTree._from_interaction")
    try:
        with Watch() as watch, TaskTracker(tracked) as tracker:
            await adapter.start()
            watch.scan.relower()
            async with app.running_jobs():
                for n, chunk in enumerate(_batches(payloads, batch)):
                    for index, item in chunk:
                        await _send_discord(fake, item, index, fresh, watch)
                        report.sent += 1
                    await _discord_marker(fake, f"marker{n}", ORDINARY, report, None)
                    await tracker.drain()
                    watch.scan.scan(watch.needles)
                report.expected_answers = len(fresh)
                await _discord_marker(fake, "health-ordinary", ORDINARY, report, None)
                await _discord_marker(fake, "health-crisis", CRISIS, report, CRISIS_REPLY)
                await tracker.drain()
                task = adapter._task
                if task is None or task.done():
                    report.failures.append("the gateway task ended during the campaign")
            await adapter.stop()
            watch.finish(report)
    finally:
        await adapter.stop()
        await app.close()
        await fake.close()
    _judge_answers(report, spy, fresh, lambda channel: len(fake.sent_messages(int(channel))))
    report.duration = time.monotonic() - started
    return report


async def _send_discord(fake: Any, item: DiscordFrame, index: int, fresh: list[tuple[str, int]], watch: Watch) -> None:
    if item.fresh and isinstance(item.data, dict):
        person = fake.next_id()
        item.data["author"]["id"] = str(person)
        item.data["id"] = str(fake.next_id())
        item.data["channel_id"] = str(fake.dm_channel_for(person))
        fake.guilds[next(iter(fake.guilds))]["members"].append(fake._member(item.data["author"]))
        fresh.append((item.data["channel_id"], index))
    watch.add(item.data)
    watch.add(item.raw)
    if item.interaction:
        # A press on a message the bot really sent in this person's DM, carrying the forged custom_id: discord.py
        # only dispatches a button press whose custom_id appears in the pressed message's components.
        data = item.data
        person = data["user"]
        fake.guilds[next(iter(fake.guilds))]["members"].append(fake._member(person))
        custom_id = data["data"]["custom_id"]
        message = fake._store_message(fake.dm_channel_for(int(person["id"])), {"content": "a question?", "components": [
            {"type": 1, "components": [{"type": 2, "style": 2, "label": "x", "custom_id": custom_id}]}]}, fake.bot)
        if item.live:
            await fake.push_interaction(3, data["data"], person, message=message)
        else:   # Discord's 3 seconds are over (or the token was never real): every response is refused
            await fake.dispatch("INTERACTION_CREATE", {**data, "message": message,
                                                       "channel_id": message["channel_id"]})
    elif item.event is None:
        await fake.send_raw(json.dumps(item.raw))
    else:
        for _ in range(2 if item.replay else 1):
            await fake.dispatch(item.event, item.data)


async def _discord_marker(fake: Any, name: str, text: str, report: Report, expected: str | None) -> None:
    person = fake.user(fake.next_id(), name)
    fake.guilds[next(iter(fake.guilds))]["members"].append(fake._member(person))
    channel = fake.dm_channel_for(int(person["id"]))
    await fake.push_dm(person, text)
    try:
        await fake.wait_for("POST", rf"^/channels/{channel}/messages$", timeout=30)
    except TimeoutError:
        report.failures.append(f"not serving: {name} got no answer")
        return
    if expected is not None:
        try:
            await fake.wait_for("POST", rf"^/channels/{channel}/messages$",
                                lambda c: expected in ((c.json or {}).get("content") or ""), timeout=30)
        except TimeoutError:
            report.failures.append(f"not serving: {name} got no crisis reply")


# --- shared ---------------------------------------------------------------------------------------------------------

def run_sync(coro: Any) -> Any:
    """For the bench: one fresh event loop per campaign."""
    return asyncio.run(coro)
