"""Data lint for the directory: the checks a reviewer would do by hand, run in CI on every change.

Loading (``load.py``) rejects entries that are malformed. Linting rejects entries that are well-formed but
wrong or risky: a number that is not a real number in its country, a number that is known to be dead or
superseded (``config/resources/superseded.yaml``), a source that is not an https page, a verification date
in the future, a country without its emergency number.

Numbers are compared after normalisation, so ``1-800-273-TALK``, ``800-273-8255``, ``18002738255`` and
``+1 800 273 8255`` are all the same number, and so are ``08457 90 90 90`` and ``+44 8457 909090``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import phonenumbers
from phonenumbers import shortnumberinfo

from bot.paths import CONFIG_DIR
from bot.resources.load import YamlDoc
from bot.resources.model import INTERNATIONAL, Resource, ResourceError
from bot.resources.search import ResourceDirectory

#: Short numbers verified in service but missing from libphonenumber's metadata (checked with
#: phonenumbers 9.0.x). Each still has to be a *possible* short number for its region. Review this list
#: when the phonenumbers package is upgraded: drop an item once the library knows it.
SHORT_NUMBERS_NEWER_THAN_METADATA: dict[tuple[str, str], str] = {
    ("DE", "116016"): "Hilfetelefon Gewalt gegen Frauen; EU-harmonised 116 016 in service since 2023-06 (hilfetelefon.de)",
    ("IN", "14416"): "Tele-MANAS national tele-mental-health line since 2022-10 (Ministry of Health and Family Welfare)",
    ("KR", "109"): "Korea's unified suicide-prevention line since 2024-01-01, replacing 1393 (MoHW via hankookilbo.com, newspim.com)",
    # Confirmed by the data review of 2026-11-25 from the sources recorded on each entry (see the country files).
    ("AR", "135"): "Centro de Asistencia al Suicida, Buenos Aires city and suburbs only",
    ("BR", "188"): "CVV, free nationwide since 2018-07",
    ("CL", "4141"): "Chile's national mental-health line *4141 (MINSAL), 24/7",
    ("EE", "116123"): "EU-harmonised emotional support line, national since 2023-01 (Social Insurance Board)",
    ("LV", "116123"): "EU-harmonised emotional support line (vmnvd.gov.lv)",
    ("GR", "1018"): "Klimaka suicide-prevention line",
    ("GR", "10306"): "Ministry of Health mental-health line",
    ("MT", "1579"): "Malta's national mental-health helpline",
    ("NG", "112"): "Nigeria's national emergency number (NCC)",
    ("NL", "113"): "113 Zelfmoordpreventie, free since 2025-10",
    ("PH", "1553"): "National Center for Mental Health crisis line",
    ("PT", "1411"): "Portugal's national suicide-prevention line since 2025-09-10",
    ("RU", "124"): "Children's helpline short code",
    ("UA", "7333"): "Lifeline Ukraine",
}

NumberKey = tuple[str, str, str]  # ("full", country calling code, national number) or ("short", region, digits)


@dataclass(frozen=True, slots=True)
class LintProblem:
    """One finding. ``str()`` is ``file:line: id: message`` so CI output is clickable."""

    resource_id: str | None
    origin: str
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.resource_id or '-'}: {self.message}"


@dataclass(frozen=True, slots=True)
class Superseded:
    """A reviewed dead or replaced number: never to be shown again."""

    number: str
    country: str
    replaced_by: str | None
    source: str
    note: str | None
    origin: str = ""

    @property
    def key(self) -> NumberKey | None:
        return number_key(self.number, self.country)


def default_superseded_path() -> Path:
    return CONFIG_DIR / "resources" / "superseded.yaml"


def load_superseded(path: Path | None = None) -> list[Superseded]:
    """Read the reviewed list of superseded numbers; malformed items raise :class:`ResourceError`."""
    doc = YamlDoc(path or default_superseded_path())
    data = doc.data or {}
    items = data.get("superseded") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise doc.error((), "top level must be a mapping with a 'superseded:' list")
    out: list[Superseded] = []
    for i, item in enumerate(items):
        at = ("superseded", i)
        if not isinstance(item, dict):
            raise doc.error(at, "each item must be a mapping")
        for key in ("number", "country", "source"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise doc.error(at + (key,), "required, a quoted string")
        extra = sorted(set(item) - {"number", "country", "replaced_by", "source", "note"})
        if extra:
            raise doc.error(at + (extra[0],), "unknown key (allowed: number, country, replaced_by, source, note)")
        entry = Superseded(
            number=item["number"], country=item["country"].upper(), replaced_by=item.get("replaced_by"),
            source=item["source"], note=item.get("note"), origin=f"{doc.file}:{doc.line_of(at)}",
        )
        if entry.key is None:
            raise doc.error(at + ("number",), f"not a phone number for {entry.country}")
        out.append(entry)
    return out


def number_key(value: str, region: str) -> NumberKey | None:
    """Canonical form of a dialled number, ignoring spaces, dashes, a ``+CC`` prefix, the national trunk
    prefix (leading 0 or 1) and vanity letters. Short codes keep their digits as dialled (Spain's ``024``
    must not become ``24``) and are compared per region, since short codes are local."""
    text = phonenumbers.convert_alpha_characters_in_number(value)
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    nsn = phonenumbers.national_significant_number(parsed)
    if phonenumbers.is_valid_number(parsed) or (phonenumbers.is_possible_number(parsed) and len(nsn) >= 7):
        return ("full", str(parsed.country_code), nsn)
    digits = re.sub(r"\D", "", text)
    return ("short", region, digits) if digits else None


def number_problem(value: str, region: str) -> str | None:
    """Why ``value`` is not a usable number in ``region`` (None when it is)."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        return f"{value!r} is not a phone number: {exc}"
    if phonenumbers.is_valid_number_for_region(parsed, region):
        return None
    if shortnumberinfo.is_valid_short_number_for_region(parsed, region):
        return None
    digits = re.sub(r"\D", "", value)
    if (region, digits) in SHORT_NUMBERS_NEWER_THAN_METADATA:
        return None   # reviewed by hand: libphonenumber's short-number metadata lags behind these services
    return f"{value!r} is not a valid number or short code in {region} (phonenumbers)"


def _https(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.netloc) and " " not in url


def _web_page(url: str) -> bool:
    """A source is the page that was read; some authoritative pages are still served over plain http."""
    parts = urlsplit(url)
    return parts.scheme in ("https", "http") and bool(parts.netloc) and " " not in url


def lint(
    directory: ResourceDirectory, *, today: date | None = None, superseded: Sequence[Superseded] | None = None
) -> list[LintProblem]:
    """Every problem in ``directory``, in directory order. An empty list means it may ship."""
    today = today or date.today()
    if superseded is None:
        superseded = load_superseded()
    dead = {s.key: s for s in superseded if s.key is not None}
    problems: list[LintProblem] = []
    countries_with_emergency: set[str] = set()
    countries: dict[str, Resource] = {}

    def add(res: Resource, message: str) -> None:
        problems.append(LintProblem(res.id, res.origin, message))

    for res in directory:
        if not _web_page(res.source):
            add(res, f"source must be a web page URL, not {res.source!r}")
        if res.verified_at > today:
            add(res, f"verified_at {res.verified_at.isoformat()} is in the future")
        if res.kind == "emergency":
            countries_with_emergency.add(res.country)
            if "general" not in res.topics:
                add(res, "emergency entries must list the topic 'general'")
        if not res.operator and not res.is_international:
            countries.setdefault(res.country, res)
        seen: set[tuple[str, str]] = set()
        for contact in res.contacts:
            if (contact.type, contact.value) in seen:
                add(res, f"contact {contact.type} {contact.value!r} is listed twice")
            seen.add((contact.type, contact.value))
            if contact.type in ("web", "chat") and not _https(contact.value):
                add(res, f"{contact.type} contact must be an https URL, not {contact.value!r}")
            if contact.type not in ("phone", "sms"):
                continue
            if res.is_international:
                continue  # worldwide entries have no home country to check against
            problem = number_problem(contact.value, res.country)
            if problem:
                add(res, problem)
            key = number_key(contact.value, res.country)
            if key in dead:
                old = dead[key]
                instead = f"; use {old.replaced_by}" if old.replaced_by else ""
                add(res, f"{contact.value!r} is a superseded/dead number ({old.note or 'see superseded.yaml'}){instead}")
    for country, first in sorted(countries.items()):
        if country != INTERNATIONAL and country not in countries_with_emergency:
            add(first, f"country {country} has no emergency entry (kind: emergency)")
    return problems


def lint_paths(paths: Sequence[Path] | None = None, *, today: date | None = None) -> list[str]:
    """Load and lint, returning printable lines; a load error is returned as the single line it names.
    Convenient for a ``haven resources --lint`` command and for CI."""
    try:
        directory = ResourceDirectory.load(paths)
    except ResourceError as exc:
        return [str(exc)]
    return [str(p) for p in lint(directory, today=today)]
