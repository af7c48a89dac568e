"""Counsellors and services people can book, read from the operator's YAML and validated line by line.

A mistake in this file would quietly offer times nobody works (a typo in a time zone shifts every slot by hours),
so every problem stops the load with ``FILE:LINE: key.path: what is wrong``, like ``haven check-config`` and the
resource directory. The file is reviewed configuration, not code: the schema lives in
config/providers.example.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from bot.config import EscalationDestination
from bot.events import ConversationKind, ConversationRef
from bot.flows.availability import BusyCalendar
from bot.resources.load import KeyPath, YamlDoc
from bot.resources.model import ResourceError

MODALITIES = ("video", "phone", "in_person")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Short lowercase ids: a slot button carries the id and must fit Telegram's 64-byte callback data.
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
_WORD = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_LANG = re.compile(r"^[a-z]{2}$")
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_REQUIRED = ("id", "name", "languages", "modality", "topics", "timezone", "availability")
_OPTIONAL = ("kind", "address", "exceptions", "slot_minutes", "buffer_minutes", "busy_ics", "notify")


class ProviderError(ResourceError):
    """A providers file is wrong; ``str()`` is ``FILE:LINE: key.path: message``."""


@dataclass(frozen=True, slots=True)
class DaysOff:
    """Whole local days without appointments (a holiday, leave), first and last day included."""

    first: date
    last: date

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    name: str
    kind: str
    languages: tuple[str, ...]
    modalities: tuple[str, ...]
    address: str | None
    topics: tuple[str, ...]
    zone: ZoneInfo
    #: weekday (0 = Monday) -> windows as (start, end) minutes after local midnight; end may be 1440.
    weekly: dict[int, tuple[tuple[int, int], ...]]
    days_off: tuple[DaysOff, ...]
    slot: timedelta
    buffer: timedelta
    busy: BusyCalendar | None
    notify: EscalationDestination | None
    origin: str

    def off_on(self, day: date) -> bool:
        return any(period.covers(day) for period in self.days_off)

    def serves(self, topic: str | None, lang: str | None) -> bool:
        return (not topic or topic in self.topics) and (not lang or lang in self.languages)

    @property
    def staff_ref(self) -> ConversationRef | None:
        """Where staff notices about this provider's bookings go (None: nobody is told, the operator chose so)."""
        if self.notify is None or self.notify.target is None:
            return None
        return ConversationRef(self.notify.platform, str(self.notify.target), ConversationKind.GROUP)


def resolve_path(value: str, base: Path | None = None) -> Path:
    """A local path or a file:// URL; relative paths are taken from `base` (the including file's folder) or the
    working directory. Anything else is refused: Haven makes no network calls to load its configuration."""
    if "://" in value:
        parsed = urlparse(value)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise ValueError("only local files or file:// URLs are supported (no network at load)")
        return Path(unquote(parsed.path))
    path = Path(value).expanduser()
    return path if path.is_absolute() or base is None else base / path


def load_providers(source: str) -> tuple[Provider, ...]:
    """Load and validate the providers file named by `appointments.providers`."""
    try:
        path = resolve_path(source)
    except ValueError as exc:
        raise ProviderError(source, 1, "(file)", str(exc)) from None
    if not path.is_file():
        raise ProviderError(str(path), 1, "(file)", "no such file")
    try:
        doc = YamlDoc(path)
    except ResourceError as exc:
        raise ProviderError(exc.file, exc.line, exc.keypath, exc.message) from None
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("providers"), list):
        raise _error(doc, (), "top level must be a mapping with a 'providers:' list")
    extra = sorted(set(map(str, doc.data)) - {"providers"})
    if extra:
        raise _error(doc, (extra[0],), "unknown top-level key (only 'providers' is allowed)")
    providers: list[Provider] = []
    for index, raw in enumerate(doc.data["providers"]):
        provider = _provider(doc, ("providers", index), raw, path.parent)
        if any(p.id == provider.id for p in providers):
            raise _error(doc, ("providers", index, "id"), f"id {provider.id!r} is used twice")
        providers.append(provider)
    return tuple(providers)


def _error(doc: YamlDoc, at: KeyPath, message: str) -> ProviderError:
    plain = doc.error(at, message)
    return ProviderError(plain.file, plain.line, plain.keypath, plain.message)


def _provider(doc: YamlDoc, at: KeyPath, raw: Any, folder: Path) -> Provider:
    if not isinstance(raw, dict):
        raise _error(doc, at, "each provider must be a mapping")
    for key in raw:
        if key not in _REQUIRED and key not in _OPTIONAL:
            raise _error(doc, at + (key,), f"unknown key (allowed: {', '.join(_REQUIRED + _OPTIONAL)})")
    for key in _REQUIRED:
        if raw.get(key) is None:
            raise _error(doc, at, f"missing required key '{key}'")
    pid = str(raw["id"])
    if not _ID.match(pid):
        raise _error(doc, at + ("id",), f"must be lowercase letters, digits and '-', at most 24, not {pid!r}")
    name = raw["name"]
    if not isinstance(name, str) or not name.strip():
        raise _error(doc, at + ("name",), "must be a non-empty string")
    kind = str(raw.get("kind") or "counsellor")
    if kind not in ("counsellor", "service"):
        raise _error(doc, at + ("kind",), "must be counsellor or service")
    languages = _list(doc, at + ("languages",), raw["languages"], _LANG, "an ISO 639-1 code such as en")
    topics = _list(doc, at + ("topics",), raw["topics"], _WORD, "a lowercase word such as anxiety or low_mood")
    modalities = _list(doc, at + ("modality",), raw["modality"], None, "")
    for i, modality in enumerate(modalities):
        if modality not in MODALITIES:
            raise _error(doc, at + ("modality", i), f"unknown modality {modality!r} (one of: {', '.join(MODALITIES)})")
    address = raw.get("address")
    if "in_person" in modalities and (not isinstance(address, str) or not address.strip()):
        raise _error(doc, at + ("address",) if "address" in raw else at, "in_person needs an address")
    try:
        zone = ZoneInfo(str(raw["timezone"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise _error(doc, at + ("timezone",), f"unknown time zone {raw['timezone']!r} (an IANA name such as "
                                              "Europe/London)") from None
    slot = _minutes(doc, at + ("slot_minutes",), raw.get("slot_minutes", 50), low=10)
    buffer = _minutes(doc, at + ("buffer_minutes",), raw.get("buffer_minutes", 10), low=0)
    busy = None
    if raw.get("busy_ics") is not None:
        try:
            busy = BusyCalendar.load(resolve_path(str(raw["busy_ics"]), folder), zone)
        except (OSError, ValueError) as exc:
            raise _error(doc, at + ("busy_ics",), f"cannot use calendar: {exc}") from None
    notify = None
    if raw.get("notify") is not None:
        try:
            notify = EscalationDestination.model_validate(raw["notify"])
        except ValidationError as exc:
            first = exc.errors()[0]
            where = at + ("notify",) + tuple(str(part) for part in first["loc"])
            raise _error(doc, where, str(first["msg"]).removeprefix("Value error, ")) from None
        if notify.target is None:
            raise _error(doc, at + ("notify",), "needs chat_id (telegram), channel_id (discord) or channel (slack)")
    return Provider(id=pid, name=name.strip(), kind=kind, languages=languages, modalities=modalities,
                    address=address.strip() if isinstance(address, str) else None, topics=topics, zone=zone,
                    weekly=_weekly(doc, at + ("availability",), raw["availability"]),
                    days_off=_days_off(doc, at + ("exceptions",), raw.get("exceptions") or []),
                    slot=slot, buffer=buffer, busy=busy, notify=notify, origin=f"{doc.file}:{doc.line_of(at)}")


def _list(doc: YamlDoc, at: KeyPath, value: Any, pattern: re.Pattern[str] | None, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _error(doc, at, "must be a non-empty list")
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or (pattern is not None and not pattern.match(item)):
            raise _error(doc, at + (i,), f"must be {what or 'a string'}, not {item!r}")
        if item in out:
            raise _error(doc, at + (i,), f"{item!r} is listed twice")
        out.append(item)
    return tuple(out)


def _minutes(doc: YamlDoc, at: KeyPath, value: Any, *, low: int) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 480:
        raise _error(doc, at, f"must be a whole number of minutes between {low} and 480")
    return timedelta(minutes=value)


def _weekly(doc: YamlDoc, at: KeyPath, value: Any) -> dict[int, tuple[tuple[int, int], ...]]:
    if not isinstance(value, dict) or not value:
        raise _error(doc, at, "must map weekdays (mon..sun) to lists of times such as \"09:00-12:00\"")
    weekly: dict[int, tuple[tuple[int, int], ...]] = {}
    for day, windows in value.items():
        if str(day) not in WEEKDAYS:
            raise _error(doc, at + (day,), f"unknown weekday {day!r} (one of: {', '.join(WEEKDAYS)})")
        here = at + (day,)
        items = [windows] if isinstance(windows, str) else windows
        if not isinstance(items, list):
            raise _error(doc, here, "must be a list of times such as \"09:00-12:00\"")
        parsed: list[tuple[int, int]] = []
        for i, text in enumerate(items):
            match = _WINDOW.match(str(text))
            if not match:
                raise _error(doc, here + (i,), f"must look like \"09:00-12:00\", not {text!r}")
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start, end = h1 * 60 + m1, h2 * 60 + m2
            if h1 > 23 or m1 > 59 or m2 > 59 or end > 1440 or end <= start:
                raise _error(doc, here + (i,), f"{text!r} is not a time range within one day (end after start)")
            if any(start < e and s < end for s, e in parsed):
                raise _error(doc, here + (i,), f"{text!r} overlaps another range on the same day")
            parsed.append((start, end))
        weekly[WEEKDAYS.index(str(day))] = tuple(sorted(parsed))
    return weekly


def _days_off(doc: YamlDoc, at: KeyPath, value: Any) -> tuple[DaysOff, ...]:
    if not isinstance(value, list):
        raise _error(doc, at, "must be a list of {date: YYYY-MM-DD} or {from: YYYY-MM-DD, to: YYYY-MM-DD}")
    out: list[DaysOff] = []
    for i, item in enumerate(value):
        here = at + (i,)
        if not isinstance(item, dict):
            raise _error(doc, here, "must be a mapping such as {date: 2026-12-25, reason: holiday}")
        unknown = set(map(str, item)) - {"date", "from", "to", "reason"}
        if unknown:
            raise _error(doc, here + (sorted(unknown)[0],), "unknown key (allowed: date, from, to, reason)")
        if "date" in item:
            day = _date(doc, here + ("date",), item["date"])
            out.append(DaysOff(day, day))
        elif "from" in item and "to" in item:
            first, last = _date(doc, here + ("from",), item["from"]), _date(doc, here + ("to",), item["to"])
            if last < first:
                raise _error(doc, here + ("to",), "must not be before 'from'")
            out.append(DaysOff(first, last))
        else:
            raise _error(doc, here, "needs 'date', or both 'from' and 'to'")
    return tuple(out)


def _date(doc: YamlDoc, at: KeyPath, value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _error(doc, at, f"must be a date YYYY-MM-DD, not {value!r}") from None
