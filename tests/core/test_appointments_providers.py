"""The providers file: the shipped example loads, and every mistake names FILE:LINE: key.path."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.flows.providers import ProviderError, load_providers
from bot.paths import CONFIG_DIR

GOOD = """\
providers:
  - id: sam
    name: "Sam"
    languages: [en]
    modality: [video, in_person]
    address: "1 High Street"
    topics: [anxiety]
    timezone: Europe/London
    availability:
      mon: ["09:00-12:00", "13:00-24:00"]
    notify: {platform: telegram, chat_id: -100123}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "providers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_file_loads() -> None:
    providers = load_providers(str(CONFIG_DIR / "providers.example.yaml"))
    assert [p.id for p in providers] == ["sam-okafor", "riverside-centre", "maria-lopez"]
    riverside = providers[1]
    assert riverside.modalities == ("in_person",) and riverside.address
    assert riverside.off_on(__import__("datetime").date(2026, 12, 31))


def test_a_good_file_and_its_staff_destination(tmp_path: Path) -> None:
    [sam] = load_providers(str(write(tmp_path, GOOD)))
    assert sam.weekly[0] == ((540, 720), (780, 1440))
    assert sam.staff_ref is not None and sam.staff_ref.platform == "telegram" and sam.staff_ref.chat_id == "-100123"
    assert load_providers(write(tmp_path, GOOD).as_uri())[0].id == "sam"   # file:// URLs work too


@pytest.mark.parametrize(("old", "new", "where"), [
    ("timezone: Europe/London", "timezone: Europe/Londn", ":8: providers[0].timezone: unknown time zone"),
    ('mon: ["09:00-12:00", "13:00-24:00"]', 'mon: ["09:00-12:00", "11:00-13:00"]',
     ":10: providers[0].availability.mon[1]: '11:00-13:00' overlaps"),
    ('mon: ["09:00-12:00", "13:00-24:00"]', 'mon: ["9am-noon"]', ":10: providers[0].availability.mon[0]: must look"),
    ('mon: ["09:00-12:00", "13:00-24:00"]', 'funday: ["09:00-12:00"]',
     ":10: providers[0].availability.funday: unknown weekday"),
    ('    address: "1 High Street"\n', "", ":2: providers[0]: in_person needs an address"),
    ("modality: [video, in_person]", "modality: [video, carrier_pigeon]",
     ":5: providers[0].modality[1]: unknown modality"),
    ("languages: [en]", "languages: [english]", ":4: providers[0].languages[0]: must be an ISO 639-1 code"),
    ("    notify: {platform: telegram, chat_id: -100123}", "    notify: {platform: telegram}",
     ":11: providers[0].notify: needs chat_id"),
    ("    notify: {platform: telegram, chat_id: -100123}", "    notify: {platform: fax, chat_id: 1}",
     ":11: providers[0].notify.platform: Input should be"),
    ("    name: \"Sam\"", "    name: \"Sam\"\n    colour: blue", ":4: providers[0].colour: unknown key"),
    ("  - id: sam", "  - id: Sam Smith", ":2: providers[0].id: must be lowercase"),
    ("    timezone: Europe/London", "    timezone: Europe/London\n    busy_ics: https://example.org/sam.ics",
     ":9: providers[0].busy_ics: cannot use calendar: only local files"),
    ("    timezone: Europe/London", "    timezone: Europe/London\n    busy_ics: missing.ics",
     ":9: providers[0].busy_ics: cannot use calendar"),
    ("    timezone: Europe/London", "    timezone: Europe/London\n    exceptions:\n      - {from: 2026-12-24}",
     ":10: providers[0].exceptions[0]: needs 'date', or both 'from' and 'to'"),
    ("    timezone: Europe/London", "    timezone: Europe/London\n    slot_minutes: 5",
     ":9: providers[0].slot_minutes: must be a whole number"),
])
def test_mistakes_name_the_line(tmp_path: Path, old: str, new: str, where: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ProviderError) as caught:
        load_providers(str(path))
    assert str(caught.value).startswith(str(path) + where), str(caught.value)


def test_duplicate_ids_and_broken_calendars(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + GOOD.split("\n", 1)[1])
    with pytest.raises(ProviderError, match=r":12: providers\[1\]\.id: id 'sam' is used twice"):
        load_providers(str(path))
    (tmp_path / "bad.ics").write_text("this is not a calendar", encoding="utf-8")
    path = write(tmp_path, GOOD.replace("    timezone: Europe/London", "    timezone: Europe/London\n"
                                        "    busy_ics: bad.ics"))
    with pytest.raises(ProviderError, match=r":9: providers\[0\]\.busy_ics: cannot use calendar"):
        load_providers(str(path))


def test_check_config_reports_the_providers_file(tmp_path: Path) -> None:
    bad = write(tmp_path, GOOD.replace("timezone: Europe/London", "timezone: Mars/Olympus"))
    config = tmp_path / "haven.yaml"
    config.write_text(f"bot:\n  name: Haven\nappointments:\n  providers: {bad}\n  reminders: [24h, 1h]\n",
                      encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(caught.value).startswith(f"{config}:4: appointments.providers: {bad}:8: providers[0].timezone")
    result = CliRunner().invoke(main, ["check-config", str(config)])
    assert result.exit_code == 2 and "unknown time zone 'Mars/Olympus'" in result.output
    write(tmp_path, GOOD)
    settings = load_settings(config)
    assert settings.appointments.reminders == [86400.0, 3600.0]
