"""Capture every log record of a run and look for what people sent: message texts and platform ids.

Why it is built this way:
- Capture is total: the root logger and every library logger (python-telegram-bot, tornado, discord.py, slack-bolt,
  slack_sdk, aiohttp, httpx...) are lowered to DEBUG for the run, so nothing is missed.
- A leak is judged at the levels Haven really configures in production. `bot.logs.configure()` keeps the root at
  INFO and sets the client libraries to WARNING; the scanner applies that configuration once, notes the level
  each logger would have, and counts a record as *written in production* only if it would pass that level. Those
  records are formatted with Haven's own `KeyValueFormatter` (which keeps an exception's type and place but not
  its message), exactly as `haven run` writes them, and searched. A hit there is a leak and fails the run.
- Libraries do log raw payloads at DEBUG (PTB's "Webhook received data", discord.py's gateway frames, bolt's
  request bodies). Those records are searched too and reported as `debug_only_hits`: not a leak as Haven ships,
  but what an operator who turned library logging up to DEBUG would expose. They never fail a run.
- Needles: every message text a payload carried (long enough not to hit log vocabulary by chance: 8 characters
  after stripping, and not a bare identifier-like word, which could be our own vocabulary), every canary token (`zq` + 8 hex digits, which the payload strategies put into free text and
  into odd places such as unknown field names and chat types), and every platform id: decimal ids of 5 or more
  digits (user, chat, channel, guild, team ids) and Slack-style ids (`U0ALICE`, `T0FAKE`). Ids are compared as
  whole tokens (`\\d{5,}` runs, `[A-Z][A-Z0-9]{5,}` words), so a small number inside a timestamp is no hit.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot import logs as haven_logs

CANARY = re.compile(r"zq[0-9a-f]{8}")
_DECIMAL_ID = re.compile(r"(?<![0-9])-?[0-9]{5,}(?![0-9])")
_SLACK_ID = re.compile(r"(?<![A-Za-z0-9])[A-Z][A-Z0-9]{5,}(?![A-Za-z0-9])")
MIN_TEXT = 8
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:=/-]{1,64}")


@dataclass
class Needles:
    """What must never appear in a log: texts (substring match), ids and canaries (token match)."""

    texts: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    canaries: set[str] = field(default_factory=set)

    def add_text(self, text: Any) -> None:
        if not isinstance(text, str):
            return
        self.canaries.update(CANARY.findall(text))
        stripped = text.strip()
        # Hypothesis also draws string literals it finds in the code under test, such as "haven.escalation": a
        # word-like text could be our own log vocabulary. Those are left to the canaries (which the strategies put
        # into most texts); a text needle must look like something a person wrote, not like an identifier.
        if len(stripped) >= MIN_TEXT and not _IDENTIFIER.fullmatch(stripped):
            # A huge text is represented by a long slice of it: enough to recognise it, cheap to search for.
            self.texts.add(stripped[:64])

    def add_id(self, value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int) and len(str(abs(value))) >= 5:
            self.ids.add(str(value))
            self.ids.add(str(abs(value)))
        elif isinstance(value, str):
            if value.lstrip("-").isdigit() and 5 <= len(value.lstrip("-")) <= 24:
                self.ids.add(value)
            elif _SLACK_ID.fullmatch(value):
                self.ids.add(value)

    def update(self, other: Needles) -> None:
        self.texts |= other.texts
        self.ids |= other.ids
        self.canaries |= other.canaries


@dataclass
class Hit:
    needle: str
    kind: str          # "text" | "id" | "canary"
    logger: str
    level: str
    line: str          # the offending line, cut short

    def __str__(self) -> str:
        return f"{self.kind} {self.needle[:40]!r} in {self.logger} at {self.level}: {self.line[:160]!r}"


@dataclass
class ScanResult:
    records: int = 0
    production_records: int = 0
    leaks: list[Hit] = field(default_factory=list)
    debug_only_hits: list[Hit] = field(default_factory=list)


class _Collector(logging.Handler):
    """Keeps every record; formatting and searching happen once, after the run."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.records.append(record)


def production_levels() -> tuple[int, dict[str, int]]:
    """The root level and the explicit logger levels `haven run` sets, learnt by applying bot.logs.configure()
    and putting everything back (so the list of quiet libraries lives in one place: bot/logs.py)."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    before = {name: lg.level for name, lg in logging.Logger.manager.loggerDict.items()
              if isinstance(lg, logging.Logger)}
    try:
        haven_logs.configure("INFO", stream=io.StringIO())
        root_level = root.level
        explicit = {name: lg.level for name, lg in logging.Logger.manager.loggerDict.items()
                    if isinstance(lg, logging.Logger) and lg.level != logging.NOTSET}
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, lg in logging.Logger.manager.loggerDict.items():
            if isinstance(lg, logging.Logger):
                lg.setLevel(before.get(name, logging.NOTSET))
    return root_level, explicit


class LogScan:
    """Context manager: capture everything at DEBUG while inside, then `scan(needles)`.

    Only loggers Haven's production config mentions are given levels in production; a library logger created
    later inherits from its parent, which `_production_level` follows the same way logging does.
    """

    def __init__(self) -> None:
        self._collector = _Collector()
        self._root_level, self._explicit = production_levels()
        self._saved: dict[str, int] = {}
        self._saved_root = logging.NOTSET
        self.result = ScanResult()
        #: ERROR and CRITICAL records (always written in production): the campaign classifies them.
        self.errors: list[logging.LogRecord] = []
        #: Haven's own event names with their reason (`update_rejected:malformed`), counted: the rejection report.
        self.events: Counter[str] = Counter()

    def __enter__(self) -> LogScan:
        root = logging.getLogger()
        self._saved_root = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self._collector)
        # Lower every logger that has its own level (libraries, `slack_bolt.haven`) so nothing is filtered early.
        for name, lg in list(logging.Logger.manager.loggerDict.items()):
            if isinstance(lg, logging.Logger) and lg.level not in (logging.NOTSET, logging.DEBUG):
                self._saved[name] = lg.level
                lg.setLevel(logging.DEBUG)
        for name in self._explicit:
            lg = logging.getLogger(name)
            self._saved.setdefault(name, lg.level)
            lg.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self._collector)
        root.setLevel(self._saved_root)
        for name, level in self._saved.items():
            logging.getLogger(name).setLevel(level)

    @property
    def records(self) -> list[logging.LogRecord]:
        return self._collector.records

    def relower(self) -> None:
        """Call after starting an adapter: some set their library logger's level at start (bolt's)."""
        for name, lg in list(logging.Logger.manager.loggerDict.items()):
            if isinstance(lg, logging.Logger) and lg.level not in (logging.NOTSET, logging.DEBUG):
                self._saved.setdefault(name, lg.level)
                lg.setLevel(logging.DEBUG)

    def production_level(self, name: str) -> int:
        probe = name
        while probe:
            if probe in self._explicit:
                return self._explicit[probe]
            if probe == "slack_bolt.haven":     # set by the Slack adapter itself in production
                return logging.WARNING
            probe = probe.rpartition(".")[0]
        return self._root_level

    def scan(self, needles: Needles) -> ScanResult:
        """Search the records captured since the last scan, then let them go (a campaign of thousands of huge
        payloads would otherwise keep every payload alive through its debug records). Results accumulate."""
        with self._collector._guard:
            records, self._collector.records = self._collector.records, []
        result = self.result
        result.records += len(records)
        formatter = haven_logs.KeyValueFormatter()
        production: list[tuple[logging.LogRecord, str]] = []
        for record in records:
            try:
                if record.levelno >= self.production_level(record.name):
                    production.append((record, formatter.format(record)))
                    if record.levelno >= logging.ERROR:
                        self.errors.append(record)
                    if record.name.startswith("haven"):
                        self.events[_event_key(record.getMessage())] += 1
                else:
                    result.debug_only_hits.extend(_token_hits(record, record.getMessage(), needles))
            except Exception as exc:   # a record that cannot even be formatted is reported, not ignored
                production.append((record, f"unformattable record: {type(exc).__name__}"))
        result.production_records += len(production)
        for record, line in production:
            result.leaks.extend(_token_hits(record, line, needles))
        # Text needles: one joined document, each needle searched once (fast even for thousands of needles).
        document = "\n".join(line for _, line in production)
        if document:
            for text in needles.texts:
                at = document.find(text)
                if at >= 0:
                    start, end = document.rfind("\n", 0, at) + 1, document.find("\n", at)
                    result.leaks.append(Hit(text, "text", "?", "production", document[start:end if end >= 0 else None]))
        return result


def _event_key(message: str) -> str:
    fields = dict(part.partition("=")[::2] for part in message.split() if "=" in part)
    detail = fields.get("reason") or fields.get("kind") or fields.get("exc") or fields.get("error") or ""
    return f"{fields.get('event', '?')}:{detail}" if detail else fields.get("event", "?")


def _token_hits(record: logging.LogRecord, line: str, needles: Needles) -> Iterable[Hit]:
    level = record.levelname
    for token in CANARY.findall(line):
        if token in needles.canaries:
            yield Hit(token, "canary", record.name, level, line)
    for token in _DECIMAL_ID.findall(line):
        if token in needles.ids:
            yield Hit(token, "id", record.name, level, line)
    for token in _SLACK_ID.findall(line):
        if token in needles.ids:
            yield Hit(token, "id", record.name, level, line)


def needles_from(payload: Any, needles: Needles | None = None, *, key: str = "") -> Needles:
    """Walk a JSON-like payload: strings under text-like keys are texts, numbers and ids under id-like keys are
    ids; any string anywhere is checked for canaries (keys too: an unknown field name can carry one)."""
    needles = needles or Needles()
    if isinstance(payload, dict):
        for k, v in payload.items():
            if isinstance(k, str):
                needles.canaries.update(CANARY.findall(k))
            needles_from(v, needles, key=str(k))
    elif isinstance(payload, (list, tuple)):
        for v in payload:
            needles_from(v, needles, key=key)
    elif isinstance(payload, str):
        needles.canaries.update(CANARY.findall(payload))
        if key in TEXT_KEYS:
            needles.add_text(payload)
        if key in ID_KEYS:
            needles.add_id(payload)
    elif isinstance(payload, int):
        if key in ID_KEYS:
            needles.add_id(payload)
    return needles


#: Fields that carry what a person wrote (or anything they control that is free text).
TEXT_KEYS = frozenset({"text", "caption", "content", "data", "custom_id", "value", "challenge", "first_name",
                       "last_name", "username", "title", "global_name", "real_name", "query", "payload"})
#: Fields that carry a platform id: people, chats, channels, teams, guilds.
ID_KEYS = frozenset({"id", "user_id", "chat_id", "channel_id", "guild_id", "team_id", "user", "channel", "team",
                     "recipient_id", "author_id", "owner_id", "sender_chat_id", "enterprise_id"})
