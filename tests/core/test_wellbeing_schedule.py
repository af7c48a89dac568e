"""Check-in schedules in the person's own zone: wall-clock times that hold across daylight-saving changes."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from bot.flows.schedule import (EVERY_DAY, WEEKDAYS, Schedule, dedupe_key, in_quiet_hours, local_date, next_run,
                                parse_time)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc


def daily(at: str, days: tuple[int, ...] = EVERY_DAY) -> Schedule:
    return Schedule(enabled=True, days=days, at=parse_time(at) or time(0))


def runs(schedule: Schedule, zone: ZoneInfo, start: datetime, count: int) -> list[datetime]:
    found, after = [], start
    for _ in range(count):
        after = next_run(schedule, zone, after)
        assert after is not None
        found.append(after)
    return found


def test_london_spring_forward_keeps_nine_oclock_local() -> None:
    # 2026-03-29: clocks go from 01:00 GMT to 02:00 BST.
    instants = runs(daily("09:00"), LONDON, datetime(2026, 3, 27, 12, 0, tzinfo=UTC), 3)
    assert instants == [datetime(2026, 3, 28, 9, 0, tzinfo=UTC), datetime(2026, 3, 29, 8, 0, tzinfo=UTC),
                        datetime(2026, 3, 30, 8, 0, tzinfo=UTC)]
    assert {i.astimezone(LONDON).time() for i in instants} == {time(9, 0)}


def test_london_fall_back_keeps_local_time_and_one_run_per_date() -> None:
    # 2026-10-25: clocks go from 02:00 BST back to 01:00 GMT.
    instants = runs(daily("20:00"), LONDON, datetime(2026, 10, 23, 12, 0, tzinfo=UTC), 4)
    assert instants == [datetime(2026, 10, 23, 19, 0, tzinfo=UTC), datetime(2026, 10, 24, 19, 0, tzinfo=UTC),
                        datetime(2026, 10, 25, 20, 0, tzinfo=UTC), datetime(2026, 10, 26, 20, 0, tzinfo=UTC)]
    dates = [local_date(i, LONDON) for i in instants]
    assert dates == sorted(set(dates))   # never two runs on one local date


def test_new_york_both_changes() -> None:
    march = runs(daily("08:30"), NEW_YORK, datetime(2026, 3, 7, 0, 0, tzinfo=UTC), 2)   # DST starts 2026-03-08
    assert march == [datetime(2026, 3, 7, 13, 30, tzinfo=UTC), datetime(2026, 3, 8, 12, 30, tzinfo=UTC)]
    november = runs(daily("08:30"), NEW_YORK, datetime(2026, 10, 31, 0, 0, tzinfo=UTC), 2)   # ends 2026-11-01
    assert november == [datetime(2026, 10, 31, 12, 30, tzinfo=UTC), datetime(2026, 11, 1, 13, 30, tzinfo=UTC)]


def test_nonexistent_local_time_runs_once_an_hour_later() -> None:
    quietless = Schedule(enabled=True, at=time(1, 30), quiet=(time(0, 0), time(0, 0)))
    [run] = runs(quietless, LONDON, datetime(2026, 3, 29, 0, 0, tzinfo=UTC), 1)
    assert run == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)   # 02:30 BST: 01:30 does not exist that night
    assert local_date(run, LONDON) == date(2026, 3, 29)


def test_weekdays_and_chosen_days() -> None:
    friday_evening = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)   # a Friday, after 20:00
    assert next_run(daily("20:00", WEEKDAYS), LONDON, friday_evening) == datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    assert next_run(daily("20:00", (2,)), LONDON, friday_evening) == datetime(2026, 12, 2, 20, 0, tzinfo=UTC)


def test_quiet_hours_and_disabled_schedules_never_run() -> None:
    assert in_quiet_hours(time(23, 0), (time(22, 0), time(8, 0)))
    assert in_quiet_hours(time(7, 59), (time(22, 0), time(8, 0)))
    assert not in_quiet_hours(time(8, 0), (time(22, 0), time(8, 0)))
    assert not in_quiet_hours(time(3, 0), (time(0, 0), time(0, 0)))
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert next_run(daily("23:00"), LONDON, now) is None   # inside the default quiet hours
    assert next_run(Schedule(enabled=False), LONDON, now) is None


def test_profile_round_trip_and_dedupe_key_per_local_date() -> None:
    schedule = Schedule.from_profile({"checkin": {"enabled": True, "days": [4, 0, 9], "time": "7:45",
                                                  "quiet": ["23:00", "06:00"]}})
    assert schedule.days == (0, 4) and schedule.at == time(7, 45)
    assert Schedule.from_profile({"checkin": schedule.to_profile()}) == schedule
    late = datetime(2026, 11, 26, 4, 30, tzinfo=UTC)   # 23:30 on the 25th in New York
    assert dedupe_key("u_1", local_date(late, NEW_YORK)) == "checkin:u_1:2026-11-25"
    assert parse_time("19.30") == time(19, 30) and parse_time("0830") == time(8, 30) and parse_time("25:00") is None
