"""The loaded directory and its lookups.

Ranking (every list this module returns is in this order):

1. The operator's own services (entries loaded from ``operator_paths``) first, wherever they match.
2. Then 24/7, free crisis lines (kind ``crisis_line``, ``text_line`` or ``chat``; cost ``free`` or
   ``free_from_mobile``) in the user's language.
3. Then other entries in the user's language.
4. Then the rest.
Within each of these, services for everyone come before services for one audience (youth, veterans,
women...), because a crisis reply does not know who is asking (so Lifeline ranks above Kids Helpline);
then voice lines before text lines before web chats (a national line such as Samaritans is what most
people look for first), then everything else.
Remaining ties are broken by ``id`` so the same query always gives the same answer (tests and audits rely on it).
Without ``lang`` every entry counts as "in the user's language".

Filters:

* ``country`` — upper-cased, ``UK`` accepted for ``GB``. When nothing in that country passes the other
  filters, the matching international entries are returned instead, so a person always gets something.
* ``topic`` — an entry matches when it lists the topic. Decision: a ``suicide`` query also matches the
  general crisis and text lines (``crisis_line``/``text_line``) that list ``mental_health``, because in a
  suicidal crisis any listening line (Shout, Lifeline, ...) is the right help; they still rank by the
  rules above.
* ``lang`` — never excludes; it only ranks (a person in crisis must always be shown something).
* ``kind`` — exact match. ``open_at`` — only entries open at that instant (24/7 ones always are).
* Pairs: entries with the same ``pair`` are shown together or not at all. When one member is in a result,
  the other members of the pair in the same country that pass ``open_at`` are added next to it (even if
  they do not list the topic); when ``limit`` would cut the group, the whole group is dropped and
  smaller items further down fill the space.

Everything is indexed at load (by country, topic, kind) so a lookup is a few set intersections and a
short sort.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from bot.paths import CONFIG_DIR
from bot.resources.load import load_entries
from bot.resources.model import INTERNATIONAL, Resource, ResourceError

COUNTRY_ALIASES = {"UK": "GB"}
_SUICIDE_ALSO = frozenset({"crisis_line", "text_line"})
_KIND_ORDER = {"crisis_line": 0, "text_line": 1, "chat": 2}


def default_directory_paths() -> list[Path]:
    """The reviewed directory shipped with Haven: every ``*.yaml`` in ``config/resources/directory/``."""
    return [CONFIG_DIR / "resources" / "directory"]


def normalize_country(country: str | None) -> str | None:
    if country is None:
        return None
    value = country.strip()
    if value.lower() == INTERNATIONAL:
        return INTERNATIONAL
    value = value.upper()
    return COUNTRY_ALIASES.get(value, value)


def normalize_lang(lang: str | None) -> str | None:
    """``en-GB``, ``EN``, ``pt_BR`` -> ``en``, ``en``, ``pt``: entries list ISO 639-1 codes only."""
    if not lang:
        return None
    return lang.strip().replace("_", "-").split("-")[0].lower() or None


class ResourceDirectory:
    """An immutable, indexed set of resources. Build it with :meth:`load` (or from resources in tests)."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self._all: tuple[Resource, ...] = tuple(sorted(resources, key=lambda r: (not r.operator, r.id)))
        seen: dict[str, Resource] = {}
        for res in self._all:
            if res.id in seen:
                first = seen[res.id]
                file, _, line = res.origin.rpartition(":")
                raise ResourceError(file or "<memory>", int(line) if line.isdigit() else 1, "id",
                                    f"duplicate id {res.id!r} (first defined at {first.origin or '<memory>'})")
            seen[res.id] = res
        self._by_id = seen
        self._pos = {r.id: i for i, r in enumerate(self._all)}  # operator first, then id: the tie-break
        by_country: dict[str, set[int]] = defaultdict(set)
        by_topic: dict[str, set[int]] = defaultdict(set)
        by_kind: dict[str, set[int]] = defaultdict(set)
        pairs: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, res in enumerate(self._all):
            by_country[res.country].add(i)
            by_kind[res.kind].add(i)
            for topic in res.topics:
                by_topic[topic].add(i)
            if res.kind in _SUICIDE_ALSO and "mental_health" in res.topics:
                by_topic["suicide"].add(i)
            if res.pair:
                pairs[(res.country, res.pair)].append(i)
        for (country, pair), members in pairs.items():
            if len(members) < 2:
                lonely = self._all[members[0]]
                file, _, line = lonely.origin.rpartition(":")
                raise ResourceError(file or "<memory>", int(line) if line.isdigit() else 1, "pair",
                                    f"pair {pair!r} has only one member in {country} (pairs are shown together)")
        self._by_country = {k: frozenset(v) for k, v in by_country.items()}
        self._by_topic = {k: frozenset(v) for k, v in by_topic.items()}
        self._by_kind = {k: frozenset(v) for k, v in by_kind.items()}
        self._pair_members = {k: tuple(v) for k, v in pairs.items()}
        self._everything = frozenset(range(len(self._all)))
        self._lang_sets = tuple(frozenset(r.languages) for r in self._all)
        self._crisis = tuple(r.is_crisis_247_free for r in self._all)
        self._paired = frozenset(i for i, r in enumerate(self._all) if r.pair)
        self._always = frozenset(i for i, r in enumerate(self._all) if r.hours.always)
        self._known_langs = frozenset(lang for r in self._all for lang in r.languages)
        # Rank arrays per query language, built at load: sorting by ``ranks.__getitem__`` keeps the per-query
        # sort in C (the ranking key is computed once per language, not once per entry per query).
        self._rank_cache: dict[str | None, list[int]] = {}
        self._order_cache: dict[str | None, list[int]] = {}
        for lang in (None, "\0", *sorted(self._known_langs)):  # a few ms at load, no first-query spikes
            self._ranks(lang)

    @classmethod
    def load(
        cls, paths: Sequence[Path] | None = None, operator_paths: Sequence[Path] = ()
    ) -> ResourceDirectory:
        """Load ``paths`` (files or directories of ``*.yaml``; default :func:`default_directory_paths`) and
        the operator's own files. Raises :class:`ResourceError` (``file:line: key: message``) on the first
        invalid entry or duplicate id."""
        if paths is None:
            paths = default_directory_paths()
        resources = load_entries(list(paths), operator=False) + load_entries(list(operator_paths), operator=True)
        return cls(resources)

    # -- lookups ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._all)

    def get(self, resource_id: str) -> Resource | None:
        return self._by_id.get(resource_id)

    def search(
        self,
        *,
        country: str | None = None,
        topic: str | None = None,
        lang: str | None = None,
        kind: str | None = None,
        open_at: datetime | None = None,
        limit: int | None = None,
    ) -> list[Resource]:
        """Entries matching every given filter, ranked as described in the module docstring."""
        country = normalize_country(country)
        lang = normalize_lang(lang)
        base = self._everything
        if topic is not None:
            base = base & self._by_topic.get(topic, frozenset())
        if kind is not None:
            base = base & self._by_kind.get(kind, frozenset())
        if country is not None:
            hits = self._filter_open(base & self._by_country.get(country, frozenset()), open_at)
            if not hits and country != INTERNATIONAL:
                country = INTERNATIONAL
                hits = self._filter_open(base & self._by_country.get(INTERNATIONAL, frozenset()), open_at)
        else:
            hits = self._filter_open(base, open_at)
        return self._finish(hits, lang, open_at, limit)

    def crisis_lines(self, country: str | None, lang: str | None = None, limit: int = 3) -> list[Resource]:
        """What a crisis reply shows: the country's 24/7 free crisis lines (user's language first; lines
        for suicide and general mental health before topic-specific ones), then its emergency number. One slot is kept for the emergency number, because it must never be cut.
        Unknown country or no crisis line there: the international directories take the lines' place."""
        country = normalize_country(country)
        lang = normalize_lang(lang)
        local = self._by_country.get(country, frozenset()) if country else frozenset()
        emergency = self._rank(local & self._by_kind.get("emergency", frozenset()), lang)[:1]
        lines = frozenset(i for i in local if self._crisis[i])
        operator_intl = frozenset(
            i for i in self._by_country.get(INTERNATIONAL, frozenset()) if self._all[i].operator and self._crisis[i]
        )
        lines |= operator_intl
        # A crisis reply is about risk to life: lines that list suicide (or general crisis lines that list
        # mental health) come before topic-specific ones (abuse, youth...), which are used only if needed.
        relevant = lines & self._by_topic.get("suicide", frozenset())
        lines = relevant or lines
        if limit <= 0:
            return []
        room = max(limit - len(emergency), 0)
        chosen = self._finish(lines, lang, None, room) if lines and room else []
        if not chosen and room:
            chosen = self._finish(self._by_country.get(INTERNATIONAL, frozenset()), lang, None, room)
        return chosen + emergency

    def international(self) -> list[Resource]:
        """The worldwide directories (country ``international``), ranked."""
        return self._rank(self._by_country.get(INTERNATIONAL, frozenset()), None)

    def countries(self) -> frozenset[str]:
        """Countries with at least one entry (``international`` excluded)."""
        return frozenset(c for c in self._by_country if c != INTERNATIONAL)

    def topics(self) -> frozenset[str]:
        return frozenset(t for r in self._all for t in r.topics)

    def stale(self, *, max_age_days: int, today: date) -> list[Resource]:
        """Entries last verified more than ``max_age_days`` before ``today``, oldest first: the re-check list."""
        cutoff = today - timedelta(days=max_age_days)
        return sorted((r for r in self._all if r.verified_at < cutoff), key=lambda r: (r.verified_at, r.id))

    # -- internals --------------------------------------------------------------------------------

    def _filter_open(self, idxs: frozenset[int], open_at: datetime | None) -> frozenset[int]:
        if open_at is None:
            return idxs
        timed = idxs - self._always  # 24/7 entries need no clock arithmetic
        if not timed:
            return idxs
        return (idxs & self._always) | frozenset(i for i in timed if self._all[i].hours.is_open(open_at))

    def _key(self, i: int, lang: str | None) -> tuple[int, int, int, int, int]:
        res = self._all[i]
        in_lang = lang is None or lang in self._lang_sets[i]
        tier = 0 if (in_lang and self._crisis[i]) else (1 if in_lang else 2)
        return (0 if res.operator else 1, tier, 0 if res.audience == "everyone" else 1, _KIND_ORDER.get(res.kind, 3), i)

    def _ranks(self, lang: str | None) -> list[int]:
        if lang is not None and lang not in self._known_langs:
            lang = "\0"  # no entry speaks it: one shared ranking for every such language
        ranks = self._rank_cache.get(lang)
        if ranks is None:
            order = sorted(range(len(self._all)), key=lambda i: self._key(i, lang))
            ranks = [0] * len(order)
            for position, i in enumerate(order):
                ranks[i] = position
            self._rank_cache[lang] = ranks
            self._order_cache[lang] = order
        return ranks

    def _ordered(self, hits: frozenset[int], lang: str | None) -> list[int]:
        """``hits`` in rank order: a sort for small sets, a walk of the precomputed order for large ones."""
        ranks = self._ranks(lang)
        if len(hits) * 4 < len(ranks):
            return sorted(hits, key=ranks.__getitem__)
        key = lang if lang is None or lang in self._known_langs else "\0"
        return [i for i in self._order_cache[key] if i in hits]

    def _rank(self, idxs: frozenset[int], lang: str | None) -> list[Resource]:
        return [self._all[i] for i in self._ordered(idxs, lang)]

    def _finish(
        self, hits: frozenset[int], lang: str | None, open_at: datetime | None, limit: int | None
    ) -> list[Resource]:
        """Rank, expand pairs into contiguous groups, then apply ``limit`` group by group."""
        ranks = self._ranks(lang)
        ordered = self._ordered(hits, lang)
        if not (hits & self._paired):  # fast path: no pairs to keep together
            return [self._all[i] for i in (ordered if limit is None else ordered[: max(limit, 0)])]
        groups: list[list[int]] = []
        placed: set[int] = set()
        for i in ordered:
            if i in placed:
                continue
            res = self._all[i]
            if res.pair:
                members = [m for m in self._pair_members[(res.country, res.pair)]
                           if m in hits or open_at is None or self._all[m].hours.is_open(open_at)]
                group = sorted(members, key=ranks.__getitem__)
            else:
                group = [i]
            placed.update(group)
            groups.append(group)
        out: list[Resource] = []
        for group in groups:
            if limit is not None and len(out) + len(group) > limit:
                continue
            out.extend(self._all[m] for m in group)
        return out
