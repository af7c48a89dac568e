"""Reading a message for the offline responder: which concerns it mentions, whether it is small talk.

The rules are reviewed data (config/skills/concerns.yaml), not code, so a reviewer can add a phrase without a
release. This is deliberately simple word matching: it chooses what to reflect and which skill to offer, never
anything about risk (the crisis detector runs before the responder on every message).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.paths import CONFIG_DIR

SMALLTALK_KINDS = ("bye", "thanks", "howareyou", "greeting", "ack")   # priority when a message mixes them
_WORD = re.compile(r"\w+")
_NAME = re.compile(r"^[^\W\d_][\w'-]{0,29}$")
_NEGATION_WINDOW = 2
_CONTEXT_WEIGHT = 0.5
#: Words that look like a name after "call me" but are not one.
_NOT_NAMES = {"crazy", "back", "later", "tomorrow", "when", "if", "anything", "whatever", "maybe", "please", "what",
              "a", "an", "the", "so", "just", "not", "stupid", "names", "that"}


def _drop_apostrophes(text: str) -> str:
    return text.replace("'", "").replace("\u2019", "").replace("\u02bc", "")


def normalize(text: str) -> list[str]:
    """Lower-case words with accents and apostrophes removed: "Can't SLEEP, überfordert" -> cant sleep uberfordert."""
    folded = unicodedata.normalize("NFKD", _drop_apostrophes(text).casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(folded)


def _original_words(text: str) -> list[str]:
    """The same words as `normalize`, as written (accents kept), so a name keeps its spelling."""
    return _WORD.findall(unicodedata.normalize("NFC", _drop_apostrophes(text)))


@dataclass(frozen=True, slots=True)
class Pattern:
    words: tuple[str, ...]
    negated_ok: bool   # the entry itself contains a negation ("no motivation"): never treated as negated

    def match_at(self, tokens: list[str], start: int) -> bool:
        if start + len(self.words) > len(tokens):
            return False
        for offset, word in enumerate(self.words):
            token = tokens[start + offset]
            if word.endswith("*"):
                if not token.startswith(word[:-1]):
                    return False
            elif token != word:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Language:
    negations: frozenset[str]
    help_requests: tuple[Pattern, ...]
    urgent: tuple[Pattern, ...]
    smalltalk: dict[str, tuple[Pattern, ...]]
    filler: frozenset[str]
    name_intros: tuple[Pattern, ...]
    #: concern id -> [(pattern, weight)]
    concerns: dict[str, tuple[tuple[Pattern, float], ...]]


@dataclass(frozen=True, slots=True)
class Reading:
    """What the responder needs to know about one message."""

    concerns: tuple[tuple[str, float], ...] = ()   # best first
    smalltalk: str | None = None                   # one of SMALLTALK_KINDS, only when nothing else was said
    help_request: bool = False
    urgent: bool = False
    name: str | None = None                        # "my name is Sam" -> "Sam"
    words: int = 0

    @property
    def concern(self) -> str | None:
        return self.concerns[0][0] if self.concerns else None


@dataclass
class Lexicon:
    languages: dict[str, Language] = field(default_factory=dict)

    @property
    def concern_ids(self) -> tuple[str, ...]:
        first = next(iter(self.languages.values()), None)
        return tuple(first.concerns) if first else ()

    def read(self, text: str, lang: str) -> Reading:
        """Read `text` with the person's language first, then the others (people mix languages)."""
        tokens = normalize(text)
        original = _original_words(text)
        if len(original) != len(tokens):
            original = tokens
        order = [lang] + [code for code in self.languages if code != lang] if lang in self.languages \
            else list(self.languages)
        best = Reading(words=len(tokens))
        for code in order:
            reading = self._read_one(tokens, original, self.languages[code])
            if reading.concerns or reading.smalltalk or reading.name or reading.help_request:
                return reading
        return best

    def _read_one(self, tokens: list[str], original: list[str], language: Language) -> Reading:
        scores: dict[str, float] = {}
        covered: set[int] = set()
        found: list[tuple[int, int, str, float, bool]] = []   # start, length, concern, weight, negated_ok
        exact, wild = _concern_index(language)
        for start, token in enumerate(tokens):
            for pattern, concern, weight in exact.get(token, ()):
                if pattern.match_at(tokens, start):
                    found.append((start, len(pattern.words), concern, weight, pattern.negated_ok))
            for prefix, pattern, concern, weight in wild:
                if token.startswith(prefix) and pattern.match_at(tokens, start):
                    found.append((start, len(pattern.words), concern, weight, pattern.negated_ok))
        # Longer matches first, each word counted once: "not sleeping" claims its words before "sleep*" could be
        # read as negated, and "panic attack" counts once, not once per word.
        for start, length, concern, weight, negated_ok in sorted(found, key=lambda f: (-f[1], f[0])):
            span = set(range(start, start + length))
            if span & covered:
                continue
            if not negated_ok and _negated(tokens, start, language.negations):
                continue
            covered |= span
            scores[concern] = scores.get(concern, 0.0) + weight
        order = list(language.concerns)
        concerns = tuple(sorted(scores.items(), key=lambda item: (-item[1], order.index(item[0]))))
        return Reading(concerns=concerns, smalltalk=None if concerns else _smalltalk(tokens, language),
                       help_request=_any(language.help_requests, tokens), urgent=_any(language.urgent, tokens),
                       name=_name(tokens, original, language), words=len(tokens))


_Indexed = tuple[dict[str, list[tuple[Pattern, str, float]]], list[tuple[str, Pattern, str, float]]]
_INDEXES: dict[int, tuple[Language, _Indexed]] = {}


def _concern_index(language: Language) -> _Indexed:
    """Concern patterns by their first word (wildcard first words apart), so a message is read in one pass over
    its words instead of trying every pattern at every position. Built once per loaded language."""
    cached = _INDEXES.get(id(language))
    if cached is not None and cached[0] is language:
        return cached[1]
    exact: dict[str, list[tuple[Pattern, str, float]]] = {}
    wild: list[tuple[str, Pattern, str, float]] = []
    for concern, patterns in language.concerns.items():
        for pattern, weight in patterns:
            first = pattern.words[0]
            if first.endswith("*"):
                wild.append((first[:-1], pattern, concern, weight))
            else:
                exact.setdefault(first, []).append((pattern, concern, weight))
    _INDEXES[id(language)] = (language, (exact, wild))
    return exact, wild


def _negated(tokens: list[str], start: int, negations: frozenset[str]) -> bool:
    return any(token in negations for token in tokens[max(0, start - _NEGATION_WINDOW):start])


def _any(patterns: tuple[Pattern, ...], tokens: list[str]) -> bool:
    present = set(tokens)
    for pattern in patterns:
        first = pattern.words[0]
        if first.endswith("*"):
            starts = [i for i, token in enumerate(tokens) if token.startswith(first[:-1])]
        elif first in present:
            starts = [i for i, token in enumerate(tokens) if token == first]
        else:
            continue
        if any(pattern.match_at(tokens, i) for i in starts):
            return True
    return False


def _smalltalk(tokens: list[str], language: Language) -> str | None:
    """The kind of small talk when the whole message is small talk (plus filler words), else None."""
    if not tokens or len(tokens) > 8:
        return None
    kinds: set[str] = set()
    index = 0
    while index < len(tokens):
        best: tuple[int, str] | None = None
        for kind, patterns in language.smalltalk.items():
            for pattern in patterns:
                if pattern.match_at(tokens, index) and (best is None or len(pattern.words) > best[0]):
                    best = (len(pattern.words), kind)
        if best is not None:
            kinds.add(best[1])
            index += best[0]
        elif tokens[index] in language.filler:
            index += 1
        else:
            return None
    return next((kind for kind in SMALLTALK_KINDS if kind in kinds), None)


def _name(tokens: list[str], original: list[str], language: Language) -> str | None:
    """A first name introduced in a short message ("my name is Sam"), title-cased; None when unsure."""
    if len(tokens) > 8:
        return None
    for pattern in language.name_intros:
        for start in range(len(tokens)):
            end = start + len(pattern.words)
            if pattern.match_at(tokens, start) and end < len(tokens):
                candidate = original[end]
                if _NAME.match(candidate) and tokens[end] not in _NOT_NAMES:
                    return candidate[:1].upper() + candidate[1:]
    return None


def _patterns(entries: Any, where: str, negations: frozenset[str]) -> tuple[Pattern, ...]:
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ValueError(f"{where}: expected a list")
    out = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ValueError(f"{where}: {entry!r} is not text (quote yes/no/on/off in YAML)")
        words = tuple(w + "*" if entry.strip().endswith("*") and i == len(normalize(entry)) - 1 else w
                      for i, w in enumerate(normalize(entry)))
        if not words:
            raise ValueError(f"{where}: empty entry")
        out.append(Pattern(words, negated_ok=any(w in negations for w in words)))
    return tuple(out)


def parse(data: dict[str, Any], source: str = "concerns.yaml") -> Lexicon:
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{source}: expected one mapping per language")
    languages: dict[str, Language] = {}
    concern_ids: tuple[str, ...] | None = None
    for code, block in data.items():
        where = f"{source}: {code}"
        if not isinstance(block, dict):
            raise ValueError(f"{where}: expected a mapping")
        negations = frozenset(w for e in block.get("negations") or [] for w in normalize(str(e)))
        concerns_raw = block.get("concerns")
        if not isinstance(concerns_raw, dict) or not concerns_raw:
            raise ValueError(f"{where}.concerns: expected a mapping of concern ids")
        if concern_ids is None:
            concern_ids = tuple(concerns_raw)
        elif set(concerns_raw) != set(concern_ids):
            raise ValueError(f"{where}.concerns: must list the same concern ids as the first language")
        concerns = {}
        for concern in concern_ids:
            spec = concerns_raw[concern] or {}
            strong = _patterns(spec.get("phrases"), f"{where}.concerns.{concern}.phrases", negations)
            weak = _patterns(spec.get("context"), f"{where}.concerns.{concern}.context", negations)
            concerns[concern] = tuple((p, 1.0) for p in strong) + tuple((p, _CONTEXT_WEIGHT) for p in weak)
        smalltalk_raw = block.get("smalltalk") or {}
        unknown = set(smalltalk_raw) - set(SMALLTALK_KINDS)
        if unknown:
            raise ValueError(f"{where}.smalltalk: unknown kinds {sorted(unknown)}")
        languages[str(code)] = Language(
            negations=negations,
            help_requests=_patterns(block.get("help_requests"), f"{where}.help_requests", negations),
            urgent=_patterns(block.get("urgent"), f"{where}.urgent", negations),
            smalltalk={kind: _patterns(smalltalk_raw.get(kind), f"{where}.smalltalk.{kind}", negations)
                       for kind in SMALLTALK_KINDS},
            filler=frozenset(w for e in block.get("filler") or [] for w in normalize(str(e))),
            name_intros=_patterns(block.get("name_intros"), f"{where}.name_intros", negations),
            concerns=concerns)
    return Lexicon(languages)


@lru_cache(maxsize=4)
def load_lexicon(path: Path | None = None) -> Lexicon:
    path = path or CONFIG_DIR / "skills" / "concerns.yaml"
    return parse(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, str(path))
