"""Opening hours of a service: parse the YAML form once, answer "is it open at this instant?" fast.

Why a dedicated type: a crisis reply must never send someone to a line that is closed right now, and
getting that wrong is easy (time zones, day ranges, ranges that run past midnight). So the rules live in
one small, well-tested place:

* ``"24/7"`` is always open.
* A mapping ``{tz: Europe/Berlin, open: {mon-fri: "09:00-17:00", sat: ["10:00-12:00", "14:00-18:00"]}}``
  is evaluated in the service's own time zone, whatever zone the asker is in.
* A range whose end is not after its start (``"18:00-02:00"``) runs past midnight into the next day; the
  part after midnight belongs to the day the range started on (Friday 18:00-02:00 covers Saturday 01:30).
* ``"24:00"`` is allowed as an end. ``"00:00-24:00"`` is the whole day.
* ``null`` means the hours could not be confirmed: such a service is never reported open (we must not
  promise someone that a line is answering) and never counts as 24/7.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_INDEX = {d: i for i, d in enumerate(DAYS)}
_RANGE_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_MINUTES_PER_DAY = 24 * 60


class HoursError(ValueError):
    """A malformed hours value; ``subpath`` is the key path below ``hours`` (e.g. ``("open", "mon-fri")``)."""

    def __init__(self, message: str, subpath: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.subpath = subpath


@dataclass(frozen=True, slots=True)
class Hours:
    """Parsed opening hours.

    ``weekly[d]`` holds ``(start, end)`` minute offsets for ranges that *start* on weekday ``d`` (Monday=0);
    ``end`` may exceed 1440 when the range runs past midnight. ``spec`` keeps the original YAML value so
    ``to_dict`` and human-readable text show exactly what reviewers wrote.
    """

    always: bool
    tz: str | None
    weekly: tuple[tuple[tuple[int, int], ...], ...]
    spec: Any

    @property
    def known(self) -> bool:
        return self.always or self.tz is not None

    def is_open(self, at: datetime) -> bool:
        """Whether the service is open at ``at``. Naive datetimes are taken as UTC (never as local time).
        Unknown hours are never open."""
        if self.always:
            return True
        if self.tz is None:
            return False
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        local = at.astimezone(_zone(self.tz))
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        for start, end in self.weekly[day]:
            if start <= minute < end:
                return True
        # Ranges started yesterday that run past midnight.
        for start, end in self.weekly[(day - 1) % 7]:
            if end > _MINUTES_PER_DAY and minute < end - _MINUTES_PER_DAY:
                return True
        return False

    def describe(self) -> str:
        """Short plain text for a chat line: ``24/7`` or ``mon-fri 09:00-17:00, sat 10:00-14:00 (Europe/London)``."""
        if self.always:
            return "24/7"
        if self.tz is None:
            return "hours not confirmed"
        parts = []
        for key, value in self.spec["open"].items():
            ranges = value if isinstance(value, list) else [value]
            parts.append(f"{key} {' and '.join(str(r).replace(' ', '') for r in ranges)}")
        return f"{', '.join(parts)} ({self.tz})"


ALWAYS = Hours(always=True, tz=None, weekly=((),) * 7, spec="24/7")
UNKNOWN = Hours(always=False, tz=None, weekly=((),) * 7, spec=None)

_zone_cache: dict[str, ZoneInfo] = {}


def _zone(name: str | None) -> ZoneInfo:
    """ZoneInfo lookups are cached; ``is_open`` runs on every search with ``open_at``."""
    assert name is not None
    zone = _zone_cache.get(name)
    if zone is None:
        zone = _zone_cache[name] = ZoneInfo(name)
    return zone


def parse_hours(value: Any) -> Hours:
    """Validate and parse the YAML ``hours`` value; raise :class:`HoursError` naming the bad sub-key."""
    if value == "24/7":
        return ALWAYS
    if value is None:
        return UNKNOWN
    if isinstance(value, str):
        raise HoursError(f'must be "24/7" or a mapping with tz and open, not {value!r}')
    if not isinstance(value, dict):
        raise HoursError('must be "24/7" or a mapping with tz and open')
    unknown = set(value) - {"tz", "open"}
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise HoursError(f"unknown key {key!r} (allowed: tz, open)", (key,))
    tz = value.get("tz")
    if not isinstance(tz, str) or not tz:
        raise HoursError("tz is required (an IANA zone such as Europe/London)", ("tz",))
    try:
        _zone(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError(f"unknown time zone {tz!r}", ("tz",)) from None
    opening = value.get("open")
    if not isinstance(opening, dict) or not opening:
        raise HoursError("open must be a non-empty mapping of days to time ranges", ("open",))
    weekly: list[list[tuple[int, int]]] = [[] for _ in DAYS]
    for key, ranges in opening.items():
        days = _parse_days(key)
        items = ranges if isinstance(ranges, list) else [ranges]
        if not items:
            raise HoursError("needs at least one time range", ("open", str(key)))
        for i, item in enumerate(items):
            sub: tuple[str | int, ...] = ("open", str(key)) + ((i,) if isinstance(ranges, list) else ())
            span = _parse_range(item, sub)
            for day in days:
                weekly[day].append(span)
    return Hours(always=False, tz=tz, weekly=tuple(tuple(sorted(d)) for d in weekly), spec=value)


def _parse_days(key: Any) -> list[int]:
    """``mon``, ``mon-fri`` or ``fri-mon`` (wrapping) to weekday indexes."""
    text = str(key).strip().lower()
    if text in _DAY_INDEX:
        return [_DAY_INDEX[text]]
    first, sep, last = text.partition("-")
    if not sep or first not in _DAY_INDEX or last not in _DAY_INDEX:
        raise HoursError(f"unknown day or day range {key!r} (use mon..sun or ranges like mon-fri)", ("open", str(key)))
    start, end = _DAY_INDEX[first], _DAY_INDEX[last]
    return [(start + i) % 7 for i in range((end - start) % 7 + 1)]


def _parse_range(item: Any, sub: tuple[str | int, ...]) -> tuple[int, int]:
    if not isinstance(item, str):
        raise HoursError(f'time range must be a quoted string like "09:00-17:00", not {item!r}', sub)
    match = _RANGE_RE.match(item)
    if not match:
        raise HoursError(f'bad time range {item!r} (expected "HH:MM-HH:MM")', sub)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise HoursError(f"bad time in range {item!r}", sub)
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end and end != 0:
        raise HoursError(f"empty time range {item!r}", sub)
    if end <= start:  # runs past midnight (00:00-00:00 is a whole day)
        end += _MINUTES_PER_DAY
    return (start, end)
