"""Countries and time zones for /settings: names people type, codes Haven stores, zones that exist.

Names come from phonenumbers' geocoder (already a dependency, localised), zones from the IANA tables that ship
with the time-zone database (zone.tab, via the system or the tzdata package). Every typed zone is checked with
zoneinfo before it is saved, so a schedule can never be computed in a zone that does not exist.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import geocoder

#: Where one country spans many zones, the ones most people live in (zone.tab lists every zone, 29 for the US).
COMMON_ZONES: dict[str, tuple[str, ...]] = {
    "US": ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
           "America/Anchorage", "Pacific/Honolulu"),
    "CA": ("America/Toronto", "America/Vancouver", "America/Edmonton", "America/Winnipeg", "America/Halifax",
           "America/St_Johns", "America/Regina"),
    "AU": ("Australia/Sydney", "Australia/Melbourne", "Australia/Brisbane", "Australia/Adelaide", "Australia/Perth",
           "Australia/Hobart", "Australia/Darwin"),
    "BR": ("America/Sao_Paulo", "America/Manaus", "America/Fortaleza", "America/Recife", "America/Belem"),
    "MX": ("America/Mexico_City", "America/Monterrey", "America/Tijuana", "America/Cancun", "America/Hermosillo"),
    "RU": ("Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Asia/Vladivostok"),
    "ES": ("Europe/Madrid", "Atlantic/Canary"),
    "PT": ("Europe/Lisbon", "Atlantic/Azores", "Atlantic/Madeira"),
    "ID": ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"),
    "NZ": ("Pacific/Auckland",),
    "DE": ("Europe/Berlin",),
    "AR": ("America/Argentina/Buenos_Aires",),
    "CL": ("America/Santiago",),
}
MAX_ZONE_BUTTONS = 7


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def _zone_table() -> dict[str, tuple[str, ...]]:
    """country code -> zones, from zone.tab (system copy first, then the tzdata package)."""
    text = ""
    for base in TZPATH:
        path = Path(base) / "zone.tab"
        if path.exists():
            text = path.read_text(encoding="utf-8")
            break
    if not text:
        try:
            text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
        except (ModuleNotFoundError, FileNotFoundError):
            return {}
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) >= 3:
            table.setdefault(parts[0], []).append(parts[2])
    return {code: tuple(zones) for code, zones in table.items()}


def zones_for(country: str | None) -> tuple[str, ...]:
    """Time zones worth offering as buttons for a country (most-lived-in first); () when unknown."""
    if not country:
        return ()
    code = country.upper()
    return (COMMON_ZONES.get(code) or _zone_table().get(code, ()))[:MAX_ZONE_BUTTONS]


def valid_zone(text: str) -> str | None:
    """The canonical IANA name for a typed zone ("europe/london" -> "Europe/London"), or None."""
    candidate = text.strip().replace(" ", "_")
    if not candidate or len(candidate) > 64:
        return None
    folded = {name.casefold(): name for name in available_timezones()}
    name = folded.get(candidate.casefold())
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def country_name(code: str, lang: str = "en") -> str:
    """"Germany" / "Alemania" for DE; the code itself when no name is known."""
    example = phonenumbers.example_number(code.upper())
    if example is None:
        return code.upper()
    return geocoder.country_name_for_number(example, lang) or geocoder.country_name_for_number(example, "en") \
        or code.upper()


@lru_cache(maxsize=16)
def _names(lang: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for code in sorted(phonenumbers.SUPPORTED_REGIONS):
        for language in {"en", lang}:
            name = country_name(code, language)
            if name != code:
                names.setdefault(_fold(name), code)
    return names


def find_country(text: str, lang: str = "en") -> str | None:
    """A typed country ("de", "UK", "Germany", "Alemania") as an ISO 3166-1 alpha-2 code, or None."""
    folded = _fold(text)
    if folded in {"uk", "united kingdom", "great britain", "england", "scotland", "wales"}:
        return "GB"
    if folded in {"usa", "us", "united states of america", "america"}:
        return "US"
    if len(folded) == 2 and folded.upper() in phonenumbers.SUPPORTED_REGIONS:
        return folded.upper()
    return _names(lang).get(folded)
