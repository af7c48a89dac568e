"""Free appointment times: weekly hours in the provider's own zone, minus days off, busy times and bookings.

All arithmetic is on UTC instants. A window such as 09:00-17:00 is turned into two instants on each local date
(zoneinfo, fold=0), and slots are laid out in elapsed time from the window's start. So 09:00 stays 09:00 on the
provider's wall clock across daylight-saving changes, a window that spans a change has the hours it really has
(one fewer in spring, one more in autumn), and no slot ever starts at a wall time that does not exist.

Busy times come from an iCalendar file per provider (icalendar parses it; recurring events are expanded with
dateutil's rrule, which icalendar itself depends on). The file is read at load and again whenever it changes on
disk; a file that stops parsing keeps the last good copy, with a warning.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rruleset, rrulestr
from icalendar import Calendar

if TYPE_CHECKING:
    from bot.flows.providers import Provider

log = logging.getLogger("haven.booking")

Interval = tuple[datetime, datetime]


def wall(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time (minutes after midnight, 1440 = next midnight) on a local date."""
    if minutes >= 1440:
        day, minutes = day + timedelta(days=1), minutes - 1440
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    return local.astimezone(timezone.utc)


def _aware(value: date | datetime, zone: ZoneInfo) -> datetime:
    """iCalendar values as aware datetimes: all-day dates and floating times are read in the provider's zone."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=zone)
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


@dataclass(frozen=True, slots=True)
class _Busy:
    start: datetime
    length: timedelta
    rule: rruleset | None

    def within(self, start: datetime, end: datetime) -> Iterator[Interval]:
        if self.rule is None:
            if self.start < end and start < self.start + self.length:
                yield self.start, self.start + self.length
            return
        for occurrence in self.rule.between(start - self.length, end, inc=True):
            yield occurrence, occurrence + self.length


def _rule(component: Any, start: datetime, zone: ZoneInfo) -> rruleset | None:
    recur = component.get("rrule")
    if recur is None:
        return None
    recur = recur[0] if isinstance(recur, list) else recur
    fields = dict(recur)
    if fields.get("UNTIL"):
        # RFC 5545 allows a date or a local UNTIL; dateutil wants UTC when DTSTART is aware.
        fields["UNTIL"] = [_aware(fields["UNTIL"][0], zone).astimezone(timezone.utc)]
    text = type(recur)(fields).to_ical().decode("ascii")
    rules = rruleset()
    rules.rrule(rrulestr(text, dtstart=start))  # type: ignore[arg-type]
    exdates = component.get("exdate") or []
    for entry in exdates if isinstance(exdates, list) else [exdates]:
        for value in entry.dts:
            rules.exdate(_aware(value.dt, zone))
    return rules


def parse_busy(data: bytes, zone: ZoneInfo) -> tuple[_Busy, ...]:
    """Busy events of an .ics file: cancelled and "transparent" (free) events are not busy."""
    calendar = Calendar.from_ical(data)
    events: list[_Busy] = []
    for component in calendar.walk("VEVENT"):
        if str(component.get("status", "")).upper() == "CANCELLED":
            continue
        if str(component.get("transp", "")).upper() == "TRANSPARENT" or "dtstart" not in component:
            continue
        raw_start = component.decoded("dtstart")
        start = _aware(raw_start, zone)
        if "dtend" in component:
            end = _aware(component.decoded("dtend"), zone)
        elif "duration" in component:
            end = start + component.decoded("duration")
        else:
            end = start + (timedelta(days=1) if not isinstance(raw_start, datetime) else timedelta(0))
        if end <= start:
            continue
        events.append(_Busy(start, end - start, _rule(component, start, zone)))
    return tuple(events)


class BusyCalendar:
    """One provider's busy times from an .ics file, re-read when the file changes."""

    def __init__(self, path: Path, zone: ZoneInfo, events: tuple[_Busy, ...], mtime: float) -> None:
        self.path = path
        self.zone = zone
        self._events = events
        self._mtime = mtime

    @classmethod
    def load(cls, path: Path, zone: ZoneInfo) -> BusyCalendar:
        mtime = path.stat().st_mtime
        return cls(path, zone, parse_busy(path.read_bytes(), zone), mtime)

    def _refresh(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
            if mtime != self._mtime:
                self._events, self._mtime = parse_busy(self.path.read_bytes(), self.zone), mtime
        except (OSError, ValueError):
            log.warning("event=busy_calendar_unreadable keeping=last_good")

    def intervals(self, start: datetime, end: datetime) -> list[Interval]:
        self._refresh()
        return sorted(interval for event in self._events for interval in event.within(start, end))


@dataclass(frozen=True, slots=True)
class Slot:
    provider: Provider
    start: datetime   # UTC
    end: datetime     # UTC

    @property
    def value(self) -> str:
        """Compact button value: provider id and start in minutes since the epoch."""
        return f"{self.provider.id}@{int(self.start.timestamp()) // 60}"


def parse_slot_value(value: str) -> tuple[str, datetime] | None:
    pid, sep, minutes = value.partition("@")
    if not sep or not minutes.isdigit():
        return None
    return pid, datetime.fromtimestamp(int(minutes) * 60, timezone.utc)


def _overlaps(start: datetime, end: datetime, blocked: list[Interval]) -> bool:
    return any(b_start < end and start < b_end for b_start, b_end in blocked)


def provider_slots(provider: Provider, *, after: datetime, until: datetime,
                   taken: Iterable[Interval] = ()) -> Iterator[Slot]:
    """Free slots of one provider starting at or after `after` and ending by `until`, earliest first."""
    blocked = sorted(list(taken) + (provider.busy.intervals(after, until) if provider.busy else []))
    zone = provider.zone
    day = after.astimezone(zone).date() - timedelta(days=1)
    last = until.astimezone(zone).date()
    while day <= last:
        if not provider.off_on(day):
            for first, stop in provider.weekly.get(day.weekday(), ()):
                start, window_end = wall(day, first, zone), wall(day, stop, zone)
                while start + provider.slot <= window_end:
                    end = start + provider.slot
                    if start >= after and end <= until and not _overlaps(start, end, blocked):
                        yield Slot(provider, start, end)
                    start = end + provider.buffer
        day += timedelta(days=1)


def next_slots(providers: Iterable[Provider], *, after: datetime, until: datetime,
               taken: dict[str, list[Interval]], limit: int) -> list[Slot]:
    """The earliest `limit` free slots across providers (ties broken by provider id, so the order is stable)."""
    streams = [provider_slots(p, after=after, until=until, taken=taken.get(p.id, ())) for p in providers]
    merged = heapq.merge(*streams, key=lambda slot: (slot.start, slot.provider.id))
    out: list[Slot] = []
    for slot in merged:
        out.append(slot)
        if len(out) >= limit:
            break
    return out


def is_offered(provider: Provider, start: datetime, *, after: datetime, taken: Iterable[Interval]) -> Slot | None:
    """The slot at `start` if it is still free and bookable (a button pressed long after it was shown)."""
    for slot in provider_slots(provider, after=max(after, start), until=start + provider.slot, taken=taken):
        if slot.start == start:
            return slot
    return None
