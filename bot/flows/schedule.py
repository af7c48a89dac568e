"""Check-in schedules: "daily, or on chosen weekdays, at a local time", turned into UTC instants.

Everything is computed in the person's own IANA zone with zoneinfo, so a 09:00 check-in stays at 09:00 on the
wall clock across daylight-saving changes (08:00 UTC in a London summer, 09:00 UTC in winter). Wall times that do
not exist (the spring-forward gap) resolve with fold=0, i.e. to the same moment an hour later on the new clock;
times that happen twice (autumn) are the first of the two. One check-in per local date at most: the durable
job's dedupe key is the person plus the local date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from bot.flows.profile import DEFAULT_QUIET

CHECKIN_JOB = "mood_checkin"
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)
WEEKDAYS = (0, 1, 2, 3, 4)


def parse_time(text: str) -> time | None:
    """"20:00", "8:30", "0830", "8" -> a time; None if it is not one."""
    cleaned = text.strip().lower().replace(".", ":").replace("h", ":")
    if cleaned.isdigit() and len(cleaned) in (3, 4):
        cleaned = f"{cleaned[:-2]}:{cleaned[-2:]}"
    hours, _, minutes = cleaned.partition(":")
    try:
        value = time(int(hours), int(minutes or 0))
    except ValueError:
        return None
    return value


def in_quiet_hours(moment: time, quiet: tuple[time, time]) -> bool:
    """Whether a local wall time falls in quiet hours [start, end), which may run past midnight."""
    start, end = quiet
    if start == end:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


@dataclass(frozen=True, slots=True)
class Schedule:
    enabled: bool = False
    days: tuple[int, ...] = EVERY_DAY
    at: time = time(20, 0)
    quiet: tuple[time, time] = (time(22, 0), time(8, 0))

    @classmethod
    def from_profile(cls, profile: dict[str, Any]) -> "Schedule":
        raw = profile.get("checkin") or {}
        quiet = raw.get("quiet") or DEFAULT_QUIET
        days = tuple(sorted({int(d) for d in raw.get("days", EVERY_DAY) if 0 <= int(d) <= 6}))
        return cls(enabled=bool(raw.get("enabled")), days=days or EVERY_DAY,
                   at=parse_time(str(raw.get("time", "20:00"))) or time(20, 0),
                   quiet=(parse_time(quiet[0]) or time(22, 0), parse_time(quiet[1]) or time(8, 0)))

    def to_profile(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "days": list(self.days), "time": self.at.strftime("%H:%M"),
                "quiet": [self.quiet[0].strftime("%H:%M"), self.quiet[1].strftime("%H:%M")]}

    @property
    def time_is_quiet(self) -> bool:
        return in_quiet_hours(self.at, self.quiet)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time on a local date (see the module docstring for gaps and folds)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc)


def next_run(schedule: Schedule, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first scheduled instant strictly after `after` (UTC), or None when check-ins are off or quiet."""
    if not schedule.enabled or schedule.time_is_quiet:
        return None
    start = after.astimezone(zone).date()
    for offset in range(0, 9):
        day = start + timedelta(days=offset)
        if day.weekday() in schedule.days:
            instant = local_instant(day, schedule.at, zone)
            if instant > after:
                return instant
    return None


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def dedupe_key(user_key: str, day: date) -> str:
    return f"checkin:{user_key}:{day.isoformat()}"


def dedupe_prefix(user_key: str) -> str:
    return f"checkin:{user_key}:"


async def reschedule(store: Any, *, user_key: str, conv_key: str, profile: dict[str, Any], now: datetime,
                     zone: ZoneInfo) -> datetime | None:
    """Replace the person's pending check-in with one at the next slot of their current schedule.

    Used when the schedule, time zone or quiet hours change and by the check-in job itself to queue the next one.
    A date whose check-in already ran keeps its done job, so changing the time after today's check-in cannot
    bring a second one today (`schedule_job` leaves it alone); the next date is used then."""
    await store.cancel_jobs(dedupe_prefix(user_key))
    schedule = Schedule.from_profile(profile)
    after = now
    for _ in range(3):
        run_at = next_run(schedule, zone, after)
        if run_at is None:
            return None
        payload = {"user_key": user_key, "conv_key": conv_key, "date": local_date(run_at, zone).isoformat()}
        if await store.schedule_job(CHECKIN_JOB, payload, run_at, dedupe_key(user_key, local_date(run_at, zone))):
            return run_at
        after = run_at
    return None


async def queue_next(store: Any, *, user_key: str, conv_key: str, schedule: Schedule, zone: ZoneInfo,
                     after: datetime, skip_day: str | None = None) -> datetime | None:
    """From inside a running check-in job: queue the following slot (never `skip_day`, the job's own date)
    without cancelling the job that is running."""
    run_at = next_run(schedule, zone, after)
    while run_at is not None and local_date(run_at, zone).isoformat() == skip_day:
        run_at = next_run(schedule, zone, run_at)
    if run_at is None:
        return None
    day = local_date(run_at, zone)
    payload = {"user_key": user_key, "conv_key": conv_key, "date": day.isoformat()}
    await store.schedule_job(CHECKIN_JOB, payload, run_at, dedupe_key(user_key, day))
    return run_at
