"""A controllable clock for tests of durable jobs, reminders and schedules (no sleeping, no real time)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

DEFAULT_START = datetime(2026, 11, 25, 20, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime = DEFAULT_START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
