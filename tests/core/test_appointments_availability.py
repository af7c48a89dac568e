"""Free times across daylight-saving changes (Europe/London, America/New_York), days off, busy calendars, bookings."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.flows.appointment_notices import when_text
from bot.flows.availability import is_offered, next_slots, provider_slots
from bot.flows.providers import Provider, load_providers
from bot.i18n import Catalog

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def provider(tmp_path: Path, body: str, name: str = "p.yaml") -> Provider:
    path = tmp_path / name
    path.write_text("providers:\n" + body, encoding="utf-8")
    [loaded] = load_providers(str(path))
    return loaded


def starts(p: Provider, after: datetime, days: float, **kw: object) -> list[datetime]:
    until = after + timedelta(days=days)
    return [s.start for s in provider_slots(p, after=after, until=until, **kw)]  # type: ignore[arg-type]


WEEKDAY_MORNINGS = """\
  - id: sam
    name: Sam
    languages: [en]
    modality: [video]
    topics: [anxiety]
    timezone: {zone}
    slot_minutes: 50
    buffer_minutes: 10
    availability:
      mon: ["09:00-10:00"]
      tue: ["09:00-10:00"]
      wed: ["09:00-10:00"]
      thu: ["09:00-10:00"]
      fri: ["09:00-10:00"]
"""


def test_london_wall_clock_hours_hold_across_the_spring_change(tmp_path: Path) -> None:
    """Clocks go forward on Sunday 29 March 2026: 09:00 is 09:00Z the week before and 08:00Z the week after."""
    p = provider(tmp_path, WEEKDAY_MORNINGS.format(zone="Europe/London"))
    got = starts(p, datetime(2026, 3, 26, 0, 0, tzinfo=UTC), 6)
    assert got == [datetime(2026, 3, 26, 9, 0, tzinfo=UTC), datetime(2026, 3, 27, 9, 0, tzinfo=UTC),
                   datetime(2026, 3, 30, 8, 0, tzinfo=UTC), datetime(2026, 3, 31, 8, 0, tzinfo=UTC)]
    assert {s.astimezone(LONDON).strftime("%H:%M") for s in got} == {"09:00"}


def test_new_york_wall_clock_hours_hold_across_the_spring_change(tmp_path: Path) -> None:
    """New York springs forward on Sunday 8 March 2026: 09:00 EST = 14:00Z, then 09:00 EDT = 13:00Z."""
    p = provider(tmp_path, WEEKDAY_MORNINGS.format(zone="America/New_York"))
    got = starts(p, datetime(2026, 3, 6, 0, 0, tzinfo=UTC), 4)
    assert got == [datetime(2026, 3, 6, 14, 0, tzinfo=UTC), datetime(2026, 3, 9, 13, 0, tzinfo=UTC)]
    # A person in London (still on GMT) sees 14:00 then 13:00: the gap between the zones shrank for three weeks.
    catalog = Catalog()
    assert [when_text(catalog, "en", s, LONDON) for s in got] == ["Fri 6 Mar 14:00", "Mon 9 Mar 13:00"]
    assert [when_text(catalog, "en", s, NEW_YORK, with_zone=True) for s in got] == ["Fri 6 Mar 09:00 EST",
                                                                                     "Mon 9 Mar 09:00 EDT"]


NIGHT_SERVICE = """\
  - id: night-line
    name: Night line
    kind: service
    languages: [en]
    modality: [phone]
    topics: [stress]
    timezone: {zone}
    slot_minutes: 60
    buffer_minutes: 0
    availability:
      sun: ["00:00-04:00"]
"""


def test_a_window_over_the_spring_gap_has_the_hours_it_really_has(tmp_path: Path) -> None:
    """London 29 March 2026: 01:00-02:00 does not exist. 00:00-04:00 is three hours; no slot starts in the gap."""
    p = provider(tmp_path, NIGHT_SERVICE.format(zone="Europe/London"))
    got = starts(p, datetime(2026, 3, 28, 12, 0, tzinfo=UTC), 1)
    assert got == [datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
                   datetime(2026, 3, 29, 2, 0, tzinfo=UTC)]
    assert [when_text(Catalog(), "en", s, LONDON) for s in got] == ["Sun 29 Mar 00:00", "Sun 29 Mar 02:00",
                                                                     "Sun 29 Mar 03:00"]


def test_a_window_over_the_autumn_repeat_has_five_hours_and_says_which_0100(tmp_path: Path) -> None:
    """London 25 October 2026: 01:00-02:00 happens twice, so 00:00-04:00 is five hours; the two 01:00 are labelled."""
    p = provider(tmp_path, NIGHT_SERVICE.format(zone="Europe/London"))
    got = starts(p, datetime(2026, 10, 24, 12, 0, tzinfo=UTC), 1)
    assert got == [datetime(2026, 10, 24, 23, 0, tzinfo=UTC)] + [datetime(2026, 10, 25, h, 0, tzinfo=UTC)
                                                                 for h in range(4)]
    assert [when_text(Catalog(), "en", s, LONDON) for s in got] == [
        "Sun 25 Oct 00:00", "Sun 25 Oct 01:00 BST", "Sun 25 Oct 01:00 GMT", "Sun 25 Oct 02:00", "Sun 25 Oct 03:00"]


def test_new_york_autumn_and_a_person_elsewhere(tmp_path: Path) -> None:
    p = provider(tmp_path, NIGHT_SERVICE.format(zone="America/New_York"))
    got = starts(p, datetime(2026, 10, 31, 12, 0, tzinfo=UTC), 2)   # Sunday 1 November 2026: 01:00 happens twice
    assert len(got) == 5
    assert [s.astimezone(NEW_YORK).strftime("%H:%M%Z") for s in got] == [
        "00:00EDT", "01:00EDT", "01:00EST", "02:00EST", "03:00EST"]
    # In London (GMT since 25 October) the same slots run 04:00..08:00 without any repeat.
    assert [when_text(Catalog(), "en", s, LONDON) for s in got][:2] == ["Sun 1 Nov 04:00", "Sun 1 Nov 05:00"]


def test_days_off_buffer_bookings_and_notice(tmp_path: Path) -> None:
    p = provider(tmp_path, """\
  - id: sam
    name: Sam
    languages: [en]
    modality: [video]
    topics: [anxiety]
    timezone: Europe/London
    slot_minutes: 45
    buffer_minutes: 15
    availability:
      mon: ["09:00-12:00"]
    exceptions:
      - {date: 2026-03-09}
      - {from: 2026-03-16, to: 2026-03-20}
""")
    monday = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    got = starts(p, monday, 28)
    assert got == [datetime(2026, 3, 2, h, 0, tzinfo=UTC) for h in (9, 10, 11)] + \
        [datetime(2026, 3, 23, h, 0, tzinfo=UTC) for h in (9, 10, 11)]
    taken = [(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), datetime(2026, 3, 2, 10, 45, tzinfo=UTC))]
    assert starts(p, monday, 1, taken=taken) == [datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
                                                datetime(2026, 3, 2, 11, 0, tzinfo=UTC)]
    assert is_offered(p, datetime(2026, 3, 2, 10, 0, tzinfo=UTC), after=monday, taken=taken) is None
    assert is_offered(p, datetime(2026, 3, 2, 10, 30, tzinfo=UTC), after=monday, taken=()) is None   # off the grid
    assert is_offered(p, datetime(2026, 3, 2, 9, 0, tzinfo=UTC), after=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
                      taken=()) is None   # too late to book
    assert is_offered(p, datetime(2026, 3, 2, 11, 0, tzinfo=UTC), after=monday, taken=taken) is not None


def test_busy_calendar_with_recurrence_exceptions_and_all_day_events(tmp_path: Path) -> None:
    (tmp_path / "busy.ics").write_bytes(b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:supervision\r
DTSTART;TZID=Europe/London:20260302T090000\r
DTEND;TZID=Europe/London:20260302T100000\r
RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260420\r
EXDATE;TZID=Europe/London:20260309T090000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:training\r
DTSTART;VALUE=DATE:20260303\r
DTEND;VALUE=DATE:20260304\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:free\r
DTSTART:20260304T090000Z\r
DTEND:20260304T120000Z\r
TRANSP:TRANSPARENT\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:cancelled\r
DTSTART:20260305T090000Z\r
DTEND:20260305T120000Z\r
STATUS:CANCELLED\r
END:VEVENT\r
END:VCALENDAR\r
""")
    p = provider(tmp_path, """\
  - id: sam
    name: Sam
    languages: [en]
    modality: [video]
    topics: [anxiety]
    timezone: Europe/London
    slot_minutes: 60
    buffer_minutes: 0
    busy_ics: busy.ics
    availability:
      mon: ["09:00-11:00"]
      tue: ["09:00-11:00"]
      wed: ["09:00-10:00"]
      thu: ["09:00-10:00"]
""")
    got = starts(p, datetime(2026, 3, 2, 0, 0, tzinfo=UTC), 8)
    assert got == [
        datetime(2026, 3, 2, 10, 0, tzinfo=UTC),                 # Monday 09:00 is weekly supervision
        datetime(2026, 3, 4, 9, 0, tzinfo=UTC),                  # Tuesday is an all-day event; Wednesday "free"
        datetime(2026, 3, 5, 9, 0, tzinfo=UTC),                  # Thursday's event was cancelled
        datetime(2026, 3, 9, 9, 0, tzinfo=UTC), datetime(2026, 3, 9, 10, 0, tzinfo=UTC),   # EXDATE: off this week
    ]
    # After the clocks change the recurring 09:00 London meeting is 08:00Z: still the 09:00 local slot.
    assert starts(p, datetime(2026, 3, 30, 0, 0, tzinfo=UTC), 1) == [datetime(2026, 3, 30, 9, 0, tzinfo=UTC)]
    # The calendar is re-read when the file changes.
    (tmp_path / "busy.ics").write_bytes(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nEND:VCALENDAR\r\n")
    os.utime(tmp_path / "busy.ics", (1, 1))
    assert starts(p, datetime(2026, 3, 2, 0, 0, tzinfo=UTC), 1) == [datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
                                                                   datetime(2026, 3, 2, 10, 0, tzinfo=UTC)]


def test_next_slots_merges_providers_in_time_order(tmp_path: Path) -> None:
    london = provider(tmp_path, WEEKDAY_MORNINGS.format(zone="Europe/London"), "a.yaml")
    new_york = provider(tmp_path, WEEKDAY_MORNINGS.format(zone="America/New_York").replace("id: sam", "id: ana"),
                        "b.yaml")
    got = next_slots([new_york, london], after=datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
                     until=datetime(2026, 3, 4, 0, 0, tzinfo=UTC), taken={}, limit=3)
    assert [(s.provider.id, s.start.hour, s.start.day) for s in got] == [("sam", 9, 2), ("ana", 14, 2), ("sam", 9, 3)]
