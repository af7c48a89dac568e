"""The data lint: the shipped directory must be clean, and each kind of risky data must be caught."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.resources import ResourceDirectory, ResourceError, default_directory_paths
from bot.resources.lint import lint, load_superseded, number_key, number_problem

TODAY = date(2026, 11, 25)
SHIPPED_FILES = sorted(p for p in default_directory_paths()[0].glob("*.yaml"))


def entry(country: str, number: str, *, rid: str = "line", kind: str = "crisis_line", source: str = "https://example.org/",
          verified: str = "2026-11-25", ctype: str = "phone") -> str:
    cc = country.lower()
    return f"""\
  - id: {cc}-{rid}
    name: Test {rid}
    country: {country}
    kind: {kind}
    topics: [{'general' if kind == 'emergency' else 'suicide'}]
    languages: [en]
    contacts:
      - {{type: {ctype}, value: "{number}"}}
    hours: "24/7"
    cost: free
    source: {source}
    verified_at: {verified}
"""


def directory_of(tmp_path: Path, *entries: str) -> ResourceDirectory:
    path = tmp_path / "test.yaml"
    path.write_text("entries:\n" + "".join(entries), encoding="utf-8")
    return ResourceDirectory.load([path])


def messages(directory: ResourceDirectory) -> list[str]:
    return [p.message for p in lint(directory, today=TODAY)]


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=[p.name for p in SHIPPED_FILES])
def test_shipped_file_has_no_lint_problems(path: Path) -> None:
    problems = lint(ResourceDirectory.load([path]), today=TODAY)
    assert [str(p) for p in problems] == []


def test_whole_shipped_directory_loads_without_duplicate_ids(directory: ResourceDirectory) -> None:
    assert {"US", "GB", "CA", "AU", "IE", "DE", "FR", "ES", "IN"} <= directory.countries()
    assert directory.international()


def test_superseded_list_loads_and_covers_known_dead_numbers() -> None:
    keys = {s.key for s in load_superseded()}
    assert number_key("988", "US") not in keys
    for number, country in [("1-800-273-8255", "US"), ("08457 90 90 90", "GB"), ("1393", "KR")]:
        assert number_key(number, country) in keys


@pytest.mark.parametrize(("country", "number"), [
    ("US", "1-800-273-8255"), ("US", "(800) 273-8255"), ("US", "+1 800 273 8255"), ("US", "18002738255"),
    ("GB", "08457 909090"), ("GB", "+44 8457 90 90 90"), ("KR", "1393"),
])
def test_superseded_number_in_a_file_is_rejected(tmp_path: Path, country: str, number: str) -> None:
    directory = directory_of(tmp_path, entry(country, number), entry(country, "112", rid="emergency", kind="emergency"))
    assert any("superseded" in m for m in messages(directory))


def test_superseded_sms_number_is_rejected_too(tmp_path: Path) -> None:
    directory = directory_of(tmp_path, entry("CA", "45645", ctype="sms"), entry("CA", "911", rid="e", kind="emergency"))
    assert any("superseded" in m and "988" in m for m in messages(directory))


def test_number_normalisation() -> None:
    assert number_key("1-800-273-TALK", "US") == number_key("800.273.8255", "US") == ("full", "1", "8002738255")
    assert number_key("024", "ES") == ("short", "ES", "024")  # the leading 0 of a short code is kept
    assert number_key("116 123", "GB") != number_key("116 123", "IE")  # short codes are per country


@pytest.mark.parametrize(("country", "number"), [("GB", "0800 12"), ("US", "123"), ("DE", "116 999"), ("FR", "12345678901234")])
def test_number_invalid_for_its_country_is_rejected(tmp_path: Path, country: str, number: str) -> None:
    directory = directory_of(tmp_path, entry(country, number), entry(country, "112", rid="e", kind="emergency"))
    assert any("not a valid number" in m or "not a phone number" in m for m in messages(directory))


def test_valid_numbers_and_known_new_short_codes_pass() -> None:
    for number, country in [("116 123", "GB"), ("988", "US"), ("0800 1111", "GB"), ("116 016", "DE"), ("14416", "IN"),
                            ("024", "ES"), ("13 11 14", "AU")]:
        assert number_problem(number, country) is None, (number, country)


def test_international_entries_skip_number_checks(tmp_path: Path) -> None:
    directory = directory_of(tmp_path, entry("international", "12", kind="directory"))
    assert messages(directory) == []


def test_bad_source_future_date_and_missing_emergency(tmp_path: Path) -> None:
    directory = directory_of(tmp_path, entry("GB", "116 123", source="samaritans website", verified="2027-01-01"))
    found = messages(directory)
    assert any("source must be a web page URL" in m for m in found)
    assert any("in the future" in m for m in found)
    assert any("no emergency entry" in m for m in found)


def test_lint_problem_points_at_the_entry(tmp_path: Path) -> None:
    directory = directory_of(tmp_path, entry("GB", "0800 12"), entry("GB", "999", rid="e", kind="emergency"))
    [problem] = lint(directory, today=TODAY)
    assert problem.resource_id == "gb-line"
    assert str(problem).startswith(f"{tmp_path / 'test.yaml'}:2: gb-line: ")


def test_stale_reporting(tmp_path: Path) -> None:
    directory = directory_of(tmp_path, entry("GB", "116 123", verified="2025-01-10"),
                             entry("GB", "999", rid="e", kind="emergency", verified="2026-11-01"))
    assert [r.id for r in directory.stale(max_age_days=180, today=TODAY)] == ["gb-line"]
    assert [r.id for r in directory.stale(max_age_days=10, today=TODAY)] == ["gb-line", "gb-e"]


def test_bad_superseded_file_names_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "superseded.yaml"
    path.write_text('superseded:\n  - number: "1393"\n    country: KR\n', encoding="utf-8")
    with pytest.raises(ResourceError, match=r"superseded.yaml:2: superseded\[0\]\.source: required"):
        load_superseded(path)
