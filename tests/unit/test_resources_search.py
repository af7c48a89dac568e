"""Ranking, filters, pairs, fallbacks and crisis_lines of the resource directory."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.resources import Contact, Resource, ResourceDirectory
from bot.resources.hours import parse_hours
from bot.resources.model import KINDS, TOPICS

UTC = timezone.utc
# 2026-07-01 is a Wednesday.
WED_NOON = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
WED_3AM = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)
OFFICE = {"tz": "UTC", "open": {"mon-fri": "09:00-17:00"}}


def res(rid: str, *, country: str | None = None, kind: str = "crisis_line", topics: tuple[str, ...] = ("suicide",),
        languages: tuple[str, ...] = ("en",), hours: object = "24/7", cost: str = "free", audience: str = "everyone",
        pair: str | None = None, operator: bool = False) -> Resource:
    return Resource(
        id=rid, name=rid.upper(), country=country or rid.split("-")[0].upper(), region=None, kind=kind,
        topics=topics, languages=languages, contacts=(Contact("phone", "116 123"),), hours=parse_hours(hours),
        cost=cost, audience=audience, pair=pair, source="https://example.org/", verified_at=date(2026, 11, 25),
        operator=operator,
    )


def ids(items: list[Resource]) -> list[str]:
    return [r.id for r in items]


def sample() -> ResourceDirectory:
    return ResourceDirectory([
        res("gb-b-line"),
        res("gb-a-paid", cost="standard_rate"),
        res("gb-welsh", languages=("cy",)),
        res("gb-office", hours=OFFICE),
        res("gb-youth", audience="youth", topics=("youth", "mental_health")),
        res("gb-warm", kind="warmline", topics=("mental_health",)),
        res("gb-text", kind="text_line", topics=("mental_health",)),
        res("gb-abuse", topics=("domestic_violence",)),
        res("gb-999", kind="emergency", topics=("general",)),
        res("international-dir", country="international", kind="directory", topics=("suicide", "general")),
    ])


def test_ranking_crisis_in_language_then_language_then_rest_then_id() -> None:
    found = ids(sample().search(country="GB", topic="suicide", lang="en"))
    # 24/7 free crisis lines in English (everyone before youth), then other English entries, then other languages.
    assert found == ["gb-b-line", "gb-text", "gb-youth", "gb-a-paid", "gb-office", "gb-welsh"]


def test_without_lang_every_entry_counts_as_in_language() -> None:
    found = ids(sample().search(country="GB", topic="suicide"))
    assert found[:3] == ["gb-b-line", "gb-welsh", "gb-text"]  # crisis lines before text lines


def test_language_ranks_but_never_excludes() -> None:
    directory = sample()
    welsh = ids(directory.search(country="GB", topic="suicide", lang="cy"))
    assert welsh[0] == "gb-welsh"
    assert set(welsh) == set(ids(directory.search(country="GB", topic="suicide", lang="en")))
    nobody = directory.search(country="GB", topic="suicide", lang="zu")
    assert len(nobody) == 6  # a person must always get something
    assert ids(directory.search(country="GB", lang="cy-GB"))[0] == "gb-welsh"  # region subtags are ignored


def test_operator_services_rank_first_where_they_match() -> None:
    directory = ResourceDirectory(list(sample()) + [res("gb-our-eap", kind="eap", cost="paid", hours=OFFICE,
                                                        languages=("fr",), operator=True)])
    assert ids(directory.search(country="GB", topic="suicide", lang="en"))[0] == "gb-our-eap"
    assert "gb-our-eap" not in ids(directory.search(country="GB", topic="domestic_violence"))


def test_suicide_query_also_matches_general_crisis_and_text_lines() -> None:
    found = ids(sample().search(country="GB", topic="suicide"))
    assert "gb-text" in found and "gb-youth" in found  # crisis/text lines listing mental_health
    assert "gb-warm" not in found  # a warmline is not a crisis line
    assert "gb-abuse" not in found
    assert ids(sample().search(country="GB", topic="mental_health")) == ["gb-text", "gb-youth", "gb-warm"]


def test_kind_and_open_at_filters() -> None:
    directory = sample()
    assert ids(directory.search(country="GB", kind="emergency")) == ["gb-999"]
    assert "gb-office" in ids(directory.search(country="GB", open_at=WED_NOON))
    assert "gb-office" not in ids(directory.search(country="GB", open_at=WED_3AM))
    assert "gb-b-line" in ids(directory.search(country="GB", open_at=WED_3AM))


def test_country_alias_and_case() -> None:
    directory = sample()
    assert ids(directory.search(country="uk", kind="emergency")) == ["gb-999"]


def test_falls_back_to_international_when_nothing_matches() -> None:
    directory = sample()
    assert ids(directory.search(country="ZZ")) == ["international-dir"]
    assert ids(directory.search(country="GB", topic="veterans")) == []  # international lists no veterans topic
    assert ids(directory.search(country="GB", topic="general", kind="directory")) == ["international-dir"]
    assert ids(directory.international()) == ["international-dir"]


def test_limit() -> None:
    assert ids(sample().search(country="GB", topic="suicide", lang="en", limit=2)) == ["gb-b-line", "gb-text"]
    assert sample().search(country="GB", limit=0) == []


def pairs() -> ResourceDirectory:
    return ResourceDirectory([
        res("lt-adult", pair="lt-lines", topics=("suicide", "mental_health")),
        res("lt-youth", pair="lt-lines", topics=("youth",), audience="youth", hours=OFFICE),
        res("lt-other"),
        res("lt-zz-last", kind="text_line", topics=("mental_health",), cost="paid"),
    ])


def test_pair_members_are_shown_together() -> None:
    found = ids(pairs().search(country="LT", topic="youth"))
    assert found == ["lt-adult", "lt-youth"]  # the adult line joins its youth partner
    assert ids(pairs().search(country="LT", topic="suicide")) == ["lt-adult", "lt-youth", "lt-other", "lt-zz-last"]


def test_limit_that_would_cut_a_pair_drops_both_and_fills_with_the_next() -> None:
    assert ids(pairs().search(country="LT", topic="suicide", limit=1)) == ["lt-other"]
    assert ids(pairs().search(country="LT", topic="suicide", limit=3)) == ["lt-adult", "lt-youth", "lt-other"]


def test_closed_pair_member_is_not_pulled_in() -> None:
    assert ids(pairs().search(country="LT", topic="suicide", open_at=WED_3AM)) == ["lt-adult", "lt-other", "lt-zz-last"]


def test_crisis_lines_language_first_then_emergency() -> None:
    directory = sample()
    assert ids(directory.crisis_lines("GB", "en")) == ["gb-b-line", "gb-text", "gb-999"]
    assert ids(directory.crisis_lines("GB", "cy")) == ["gb-welsh", "gb-b-line", "gb-999"]
    assert ids(directory.crisis_lines("GB", "en", limit=1)) == ["gb-999"]  # the emergency number is never cut
    assert ids(directory.crisis_lines("GB", "en", limit=5))[-1] == "gb-999"
    assert directory.crisis_lines("GB", "en", limit=0) == []


def test_crisis_lines_prefer_suicide_relevant_lines() -> None:
    directory = ResourceDirectory([res("au-abuse", topics=("domestic_violence",)), res("au-life", topics=("suicide",)),
                                   res("au-000", kind="emergency", topics=("general",))])
    assert ids(directory.crisis_lines("AU")) == ["au-life", "au-000"]
    only_abuse = ResourceDirectory([res("au-abuse", topics=("domestic_violence",))])
    assert ids(only_abuse.crisis_lines("AU")) == ["au-abuse"]


def test_crisis_lines_fall_back_to_international() -> None:
    directory = sample()
    assert ids(directory.crisis_lines("ZZ")) == ["international-dir"]
    assert ids(directory.crisis_lines(None)) == ["international-dir"]
    no_lines = ResourceDirectory([res("xx-112", kind="emergency", topics=("general",)),
                                  res("international-dir", country="international", kind="directory")])
    assert ids(no_lines.crisis_lines("XX")) == ["international-dir", "xx-112"]


def test_countries_topics_and_stale() -> None:
    old = res("gb-old")
    old = Resource(**{**{f: getattr(old, f) for f in old.__slots__ if f != "__weakref__"}, "verified_at": date(2024, 1, 1)})
    directory = ResourceDirectory(list(sample()) + [old])
    assert directory.countries() == frozenset({"GB"})
    assert {"suicide", "general", "domestic_violence"} <= directory.topics()
    assert ids(directory.stale(max_age_days=365, today=date(2026, 11, 25))) == ["gb-old"]
    assert directory.stale(max_age_days=365 * 5, today=date(2026, 11, 25)) == []


def test_shipped_directory_crisis_lines_for_core_countries(directory: ResourceDirectory) -> None:
    for country, first in [("US", "us-988-lifeline"), ("GB", "gb-samaritans"), ("CA", "ca-988"), ("AU", "au-lifeline"),
                           ("IE", "ie-pieta"), ("DE", "de-telefonseelsorge"), ("FR", "fr-3114"), ("ES", "es-024"),
                           ("IN", "in-tele-manas")]:
        lines = directory.crisis_lines(country, None)
        assert lines[0].id == first, country
        assert lines[-1].kind == "emergency", country


@lru_cache(maxsize=1)
def shipped() -> ResourceDirectory:
    """Loaded once for the property test (hypothesis dislikes function-scoped fixtures)."""
    return ResourceDirectory.load()


@settings(max_examples=300, deadline=None)
@given(
    country=st.one_of(st.none(), st.sampled_from(["US", "GB", "uk", "de", "IN", "ZZ", "international", "", " fr "]),
                      st.text(min_size=0, max_size=3)),
    topic=st.one_of(st.none(), st.sampled_from(sorted(TOPICS) + ["nonsense"])),
    lang=st.one_of(st.none(), st.sampled_from(["en", "es", "fr-CA", "de_DE", "zz", ""]), st.text(max_size=5)),
    kind=st.one_of(st.none(), st.sampled_from(sorted(KINDS))),
    open_at=st.one_of(st.none(), st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                                              timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11))]))),
    limit=st.one_of(st.none(), st.integers(min_value=0, max_value=12)),
)
def test_search_never_raises_and_respects_country(country: str | None, topic: str | None, lang: str | None,
                                                   kind: str | None, open_at: datetime | None, limit: int | None) -> None:
    found = shipped().search(country=country, topic=topic, lang=lang, kind=kind, open_at=open_at, limit=limit)
    wanted = None if country is None else country.strip().upper().replace("UK", "GB")
    for r in found:
        assert wanted is None or r.country == wanted or r.is_international
        assert topic is None or topic in r.topics or (topic == "suicide" and "mental_health" in r.topics) or r.pair
        assert open_at is None or r.is_open(open_at)
    if limit is not None:
        assert len(found) <= limit
    assert len({r.id for r in found}) == len(found)
