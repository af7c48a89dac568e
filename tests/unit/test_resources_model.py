"""Loading and validating directory files, opening hours, and the text/JSON forms of an entry."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.resources import Contact, Resource, ResourceDirectory, ResourceError
from bot.resources.hours import parse_hours

GOOD = """\
entries:
  - id: gb-test-line
    name: Test Line
    country: GB
    kind: crisis_line
    topics: [suicide, mental_health]
    languages: [en, cy]
    contacts:
      - {type: phone, value: "116 123"}
      - {type: sms, value: "85258", keyword: "SHOUT"}
    hours: "24/7"
    cost: free
    source: https://example.org/contact
    verified_at: 2026-11-25
"""


def write(tmp_path: Path, text: str, name: str = "gb.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``: tests state *where* an error must point."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def test_loads_a_valid_file(tmp_path: Path) -> None:
    directory = ResourceDirectory.load([write(tmp_path, GOOD)])
    [res] = list(directory)
    assert res.id == "gb-test-line" and res.country == "GB" and res.kind == "crisis_line"
    assert res.topics == ("suicide", "mental_health") and res.languages == ("en", "cy")
    assert res.contacts == (Contact("phone", "116 123"), Contact("sms", "85258", "SHOUT"))
    assert res.verified_at == date(2026, 11, 25)
    assert res.audience == "everyone" and res.region is None and res.pair is None and not res.operator
    assert res.origin.endswith("gb.yaml:2")


def test_directory_argument_loads_every_yaml_file(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, GOOD.replace("gb-test-line", "gb-other-line"), name="more.yaml")
    (tmp_path / "notes.txt").write_text("ignored")
    assert sorted(r.id for r in ResourceDirectory.load([tmp_path])) == ["gb-other-line", "gb-test-line"]


def test_operator_entries_are_marked(tmp_path: Path) -> None:
    shipped = write(tmp_path, GOOD)
    own = write(tmp_path, GOOD.replace("gb-test-line", "gb-our-eap").replace("crisis_line", "eap"), name="own.yaml")
    directory = ResourceDirectory.load([shipped], operator_paths=[own])
    assert directory.get("gb-our-eap").operator and not directory.get("gb-test-line").operator


def test_null_hours_mean_unknown_and_never_open(tmp_path: Path) -> None:
    [res] = list(ResourceDirectory.load([write(tmp_path, GOOD.replace('hours: "24/7"', "hours: null"))]))
    assert not res.is_open(datetime(2026, 11, 25, 12, tzinfo=timezone.utc))
    assert not res.is_crisis_247_free
    assert "hours not confirmed" in res.format_line()


# Each case: (what to replace in GOOD, replacement, key path named, text to find the expected line, message part)
MISTAKES = [
    ("    cost: free\n", "", "entries[0]", "- id:", "missing required key 'cost'"),
    ("kind: crisis_line", "kind: hotline", "entries[0].kind", "kind:", "unknown kind"),
    ("country: GB", "country: gb", "entries[0].country", "country:", "ISO 3166-1"),
    ("id: gb-test-line", "id: fr-test-line", "entries[0].id", "id:", "must start with 'gb-'"),
    ("[suicide, mental_health]", "[suicide, sadness]", "entries[0].topics[1]", "topics:", "unknown value 'sadness'"),
    ("[en, cy]", "[english]", "entries[0].languages[0]", "languages:", "ISO 639-1"),
    ('{type: phone, value: "116 123"}', "{type: phone, value: 988}", "entries[0].contacts[0].value", "type: phone", "quoted string"),
    ('{type: phone, value: "116 123"}', '{type: fax, value: "1"}', "entries[0].contacts[0].type", "type: fax", "unknown contact type"),
    ('{type: phone, value: "116 123"}', '{type: phone, value: "116 123", keyword: X}', "entries[0].contacts[0].keyword", "type: phone", "only sms"),
    ('{type: phone, value: "116 123"}', '{type: phone, value: "call us"}', "entries[0].contacts[0].value", "type: phone", "digits"),
    ('hours: "24/7"', 'hours: "always"', "entries[0].hours", "hours:", "24/7"),
    ('hours: "24/7"', "hours: {tz: Mars/Olympus, open: {mon: \"09:00-17:00\"}}", "entries[0].hours.tz", "hours:", "unknown time zone"),
    ('hours: "24/7"', "hours:\n      tz: Europe/London\n      open:\n        weekdays: \"09:00-17:00\"",
     "entries[0].hours.open.weekdays", "weekdays:", "unknown day"),
    ('hours: "24/7"', "hours:\n      tz: Europe/London\n      open:\n        mon: \"9am-5pm\"",
     "entries[0].hours.open.mon", "mon:", "bad time range"),
    ("verified_at: 2026-11-25", "verified_at: last week", "entries[0].verified_at", "verified_at:", "YYYY-MM-DD"),
    ("    cost: free\n", "    cost: free\n    hour: \"24/7\"\n", "entries[0].hour", "hour: ", "unknown key"),
    ("    cost: free\n", "    cost: free\n    cost: paid\n", "entries[0].cost", "cost: paid", "duplicate key"),
    ("    cost: free\n", "    cost: free\n   bad: [\n", "(yaml)", "bad: [", "invalid YAML"),
]


@pytest.mark.parametrize(("old", "new", "keypath", "needle", "message"), MISTAKES, ids=[m[2] + ":" + m[4] for m in MISTAKES])
def test_each_kind_of_mistake_names_file_line_and_key(
    tmp_path: Path, old: str, new: str, keypath: str, needle: str, message: str
) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    path = write(tmp_path, text)
    with pytest.raises(ResourceError) as caught:
        ResourceDirectory.load([path])
    err = caught.value
    assert err.file == str(path)
    assert err.keypath == keypath
    assert message in err.message
    if keypath != "(yaml)":
        assert err.line == line_of(text, needle)
    else:
        assert abs(err.line - line_of(text, needle)) <= 1
    assert str(err) == f"{err.file}:{err.line}: {err.keypath}: {err.message}"
    assert isinstance(err, ValueError)


def test_top_level_must_have_entries(tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match=r"gb.yaml:1: \(top\): top level must be a mapping"):
        ResourceDirectory.load([write(tmp_path, "- just a list\n")])


def test_duplicate_ids_across_files_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, GOOD, name="a.yaml")
    write(tmp_path, GOOD, name="b.yaml")
    with pytest.raises(ResourceError, match="duplicate id 'gb-test-line'") as caught:
        ResourceDirectory.load([tmp_path])
    assert "a.yaml" in str(caught.value) and "b.yaml" in str(caught.value)


def test_pair_with_one_member_is_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("    cost: free\n", "    cost: free\n    pair: alone\n")
    with pytest.raises(ResourceError, match="pair 'alone' has only one member"):
        ResourceDirectory.load([write(tmp_path, text)])


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match="no such file"):
        ResourceDirectory.load([tmp_path / "nope.yaml"])


# -- hours ---------------------------------------------------------------------------------------

UTC = timezone.utc


def test_24_7_is_always_open() -> None:
    hours = parse_hours("24/7")
    assert hours.is_open(datetime(2026, 1, 1, 3, 33, tzinfo=UTC))


def test_hours_are_evaluated_in_the_services_time_zone() -> None:
    hours = parse_hours({"tz": "Europe/London", "open": {"mon-fri": "09:00-17:00"}})
    # 2026-07-01 is a Wednesday; London is on BST (UTC+1).
    assert not hours.is_open(datetime(2026, 7, 1, 7, 59, tzinfo=UTC))  # 08:59 London
    assert hours.is_open(datetime(2026, 7, 1, 8, 0, tzinfo=UTC))  # 09:00 London
    assert not hours.is_open(datetime(2026, 7, 1, 16, 0, tzinfo=UTC))  # 17:00 London: closed at the end
    # The same instant seen from New York is the same answer.
    assert hours.is_open(datetime(2026, 7, 1, 5, 30, tzinfo=ZoneInfo("America/New_York")))  # 10:30 London
    assert not hours.is_open(datetime(2026, 7, 4, 12, 0, tzinfo=UTC))  # Saturday


def test_naive_datetimes_are_utc() -> None:
    hours = parse_hours({"tz": "Asia/Kolkata", "open": {"mon-sun": "09:00-10:00"}})
    assert hours.is_open(datetime(2026, 7, 1, 3, 45))  # 09:15 in Kolkata


def test_range_past_midnight_belongs_to_its_start_day() -> None:
    hours = parse_hours({"tz": "UTC", "open": {"fri": "22:00-02:00"}})
    # 2026-07-03 is a Friday.
    assert not hours.is_open(datetime(2026, 7, 3, 21, 59, tzinfo=UTC))
    assert hours.is_open(datetime(2026, 7, 3, 23, 0, tzinfo=UTC))
    assert hours.is_open(datetime(2026, 7, 4, 1, 30, tzinfo=UTC))  # Saturday 01:30
    assert not hours.is_open(datetime(2026, 7, 4, 2, 0, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 7, 5, 1, 0, tzinfo=UTC))  # Sunday 01:00: Saturday has no range


def test_sunday_night_range_wraps_into_monday_and_day_ranges_wrap() -> None:
    hours = parse_hours({"tz": "UTC", "open": {"sun": "23:00-01:00", "fri-mon": ["08:00-09:00"]}})
    assert hours.is_open(datetime(2026, 7, 6, 0, 30, tzinfo=UTC))  # Monday 00:30, from Sunday's range
    assert hours.is_open(datetime(2026, 7, 6, 8, 30, tzinfo=UTC))  # Monday is inside fri-mon
    assert not hours.is_open(datetime(2026, 7, 7, 8, 30, tzinfo=UTC))  # Tuesday is not


def test_24_00_end_and_whole_day() -> None:
    hours = parse_hours({"tz": "UTC", "open": {"sat": "18:00-24:00", "sun": "00:00-24:00"}})
    assert hours.is_open(datetime(2026, 7, 4, 23, 59, tzinfo=UTC))
    assert hours.is_open(datetime(2026, 7, 5, 12, 0, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 7, 6, 0, 0, tzinfo=UTC))


def test_dst_switch_day_uses_local_wall_clock() -> None:
    hours = parse_hours({"tz": "Europe/Berlin", "open": {"mon-sat": "14:00-20:00"}})
    # 2026-10-24 (Sat) Berlin is UTC+2; 2026-10-26 (Mon) after the switch it is UTC+1.
    assert hours.is_open(datetime(2026, 10, 24, 12, 0, tzinfo=UTC))  # 14:00 CEST
    assert not hours.is_open(datetime(2026, 10, 26, 12, 30, tzinfo=UTC))  # 13:30 CET
    assert hours.is_open(datetime(2026, 10, 26, 13, 0, tzinfo=UTC))  # 14:00 CET


# -- text and JSON -------------------------------------------------------------------------------


def make(**overrides: object) -> Resource:
    base: dict[str, object] = dict(
        id="gb-samaritans", name="Samaritans", country="GB", region=None, kind="crisis_line",
        topics=("suicide",), languages=("en",), contacts=(Contact("phone", "116 123"), Contact("web", "https://www.samaritans.org/")),
        hours=parse_hours("24/7"), cost="free", audience="everyone", pair=None,
        source="https://www.samaritans.org/", verified_at=date(2026, 11, 25),
    )
    base.update(overrides)
    return Resource(**base)  # type: ignore[arg-type]


def test_format_line_examples() -> None:
    assert make().format_line() == "Samaritans — call 116 123 (24/7, free)"
    text = make(name="Crisis Text Line", contacts=(Contact("sms", "741741", "HOME"),))
    assert text.format_line() == "Crisis Text Line — text HOME to 741741 (24/7, free)"
    both = make(contacts=(Contact("phone", "13 11 14"), Contact("sms", "0477 13 11 14")), cost="free_from_mobile")
    assert both.format_line() == "Samaritans — call 13 11 14 or text 0477 13 11 14 (24/7, free from mobiles)"
    web = make(kind="directory", contacts=(Contact("web", "https://findahelpline.com/"),), name="Find A Helpline")
    assert web.format_line() == "Find A Helpline — https://findahelpline.com/ (free)"
    timed = make(hours=parse_hours({"tz": "Europe/Berlin", "open": {"mon-sat": "14:00-20:00"}}), cost="unknown")
    assert timed.format_line() == "Samaritans — call 116 123 (mon-sat 14:00-20:00 (Europe/Berlin))"


def test_shipped_lines_are_plain_text(directory: ResourceDirectory) -> None:
    for res in directory:
        line = res.format_line()
        assert "\n" not in line and "**" not in line and "`" not in line and "](" not in line


def test_to_dict_is_json_ready() -> None:
    res = make(hours=parse_hours({"tz": "UTC", "open": {"mon": "09:00-17:00"}}), operator=True)
    data = json.loads(json.dumps(res.to_dict()))
    assert data["verified_at"] == "2026-11-25" and data["operator"] is True
    assert data["contacts"][0] == {"type": "phone", "value": "116 123"}
    assert data["hours"] == {"tz": "UTC", "open": {"mon": "09:00-17:00"}}
