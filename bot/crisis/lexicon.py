"""Load, validate and compile the crisis lexicons in config/crisis/<lang>.yaml.

Why data, not code: the phrases are clinical and linguistic judgement that reviewers (clinicians, native
speakers) must be able to read and change without touching Python. Why compile everything together: every
message is matched against every language (people mix languages, locales lie), so each category becomes
ONE alternation over all languages, with one named group per language to say which one matched. That keeps
the number of regex passes per message fixed (one per category) however many phrases the files hold.

A broken file must fail loudly at start-up, naming the file and key, never silently weaken detection.
"""

from __future__ import annotations

import _sre as _sre_engine  # the regex engine's constructor, for compile_factored
import re
import re._compiler as _compiler  # stdlib compiler, used to compile a factored parse tree (compile_factored)
import re._parser as _sre  # stdlib parser, used to find the literals a pattern cannot match without
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from itertools import chain, compress
from operator import not_, or_
from pathlib import Path
from typing import Any

import yaml

from bot.crisis.levels import RiskLevel
from bot.paths import CONFIG_DIR

LEXICON_DIR = CONFIG_DIR / "crisis"
LANGUAGES: tuple[str, ...] = ("en", "es", "de", "fr", "pt", "it", "nl")

#: Categories the detector knows. `level` None marks a modifier: it only changes the level of other hits.
#: Flags: negatable (a preceding "not/never" cancels it), subject (a preceding third/second-person subject
#: makes it someone else's), past (an explicit past cue lowers it to `past_level`, default low: Columbia's
#: screener triages a lifetime attempt as moderate, past ideation or self-injury as low).
CATEGORIES: dict[str, dict[str, Any]] = {
    "wish_dead":           {"signal": "wish_dead", "level": RiskLevel.LOW, "negatable": True, "subject": True, "past": True},
    "distress":            {"signal": "distress", "level": RiskLevel.LOW, "negatable": True, "subject": True, "past": True},
    "ideation":            {"signal": "ideation", "level": RiskLevel.MODERATE, "negatable": True, "subject": True, "past": True},
    "farewell":            {"signal": "plan", "level": RiskLevel.HIGH, "negatable": True, "subject": True, "past": False},
    "method_seeking":      {"signal": "method", "level": RiskLevel.HIGH, "negatable": True, "subject": True, "past": False},
    "plan":                {"signal": "plan", "level": RiskLevel.HIGH, "negatable": True, "subject": True, "past": True},
    "intent":              {"signal": "intent", "level": RiskLevel.HIGH, "negatable": True, "subject": True, "past": True},
    "self_harm":           {"signal": "self_harm", "level": RiskLevel.HIGH, "negatable": True, "subject": True, "past": True},
    "attempt":             {"signal": "attempt", "level": RiskLevel.HIGH, "negatable": True, "subject": True, "past": True,
                            "past_level": RiskLevel.MODERATE},
    "pro_harm":            {"signal": "self_harm", "level": RiskLevel.MODERATE, "negatable": True, "subject": True, "past": False},
    "eating_disorder":     {"signal": "eating_disorder", "level": RiskLevel.MODERATE, "negatable": True, "subject": True, "past": True},
    "means":               {"signal": "means_access", "level": RiskLevel.HIGH, "negatable": True, "subject": True, "past": False},
    "means_at_hand":       {"signal": "means_access", "level": RiskLevel.IMMINENT, "negatable": True, "subject": True, "past": False},
    "attempt_in_progress": {"signal": "attempt_in_progress", "level": RiskLevel.IMMINENT, "negatable": True, "subject": True, "past": False},
    "abuse":               {"signal": "abuse", "level": RiskLevel.HIGH, "negatable": True, "subject": False, "past": True},
    "violence_to_others":  {"signal": "violence_to_others", "level": RiskLevel.HIGH, "negatable": True, "subject": True, "past": False},
    "third_party":         {"signal": "third_party_concern", "level": RiskLevel.LOW, "negatable": False, "subject": False, "past": False},
    "method_term":         {"signal": "method", "level": None, "negatable": True, "subject": False, "past": False},
    "timeframe":           {"signal": "timeframe", "level": None, "negatable": False, "subject": False, "past": False},
}
#: Spans that cancel any crisis hit they overlap; the key is also the signal reported.
EXCEPTIONS: tuple[str, ...] = ("negated", "figurative", "technical", "fiction")
#: Word lists and patterns used to read the context around a hit.
CUE_WORDS: tuple[str, ...] = ("negation", "fillers", "first_person", "second_person", "third_person", "reporting")
#: Per-pattern flags a signal entry may carry (written `{re: "...", any_subject: true}` instead of a string).
#: any_subject: the hit is risk content whoever the grammatical subject is (encouraging or normalising
#: self-harm, "they ... it hurts nobody else"); only reported speech of someone else ("my friend thinks ...",
#: "she says ...": a `reporting` cue word with another person before it) keeps it a third-party concern.
PATTERN_FLAGS: tuple[str, ...] = ("any_subject",)
CUE_PATTERNS: tuple[str, ...] = ("past", "recent", "ongoing", "fiction_context", "clause_break")


class LexiconError(ValueError):
    """A lexicon file is malformed; the message names the file and the key path."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """Everything the detector needs, compiled once. Immutable, so safe to share between threads."""

    categories: dict[str, re.Pattern[str]]
    exceptions: dict[str, re.Pattern[str]]
    negation_before: re.Pattern[str]
    first_person: frozenset[str]
    other_person: frozenset[str]
    #: Per language (first person, everyone else): the subject of a hit is read in the hit's own language,
    #: so the Italian article "il" is not taken for the French "il" (he).
    persons: dict[str, tuple[frozenset[str], frozenset[str]]]
    past: re.Pattern[str]
    recent: re.Pattern[str]
    #: behaviour that carried on after a past event ("it became my go-to"): read after the hit, across sentences
    ongoing: re.Pattern[str]
    fiction_context: re.Pattern[str]
    clause_break: re.Pattern[str]
    mask_words: frozenset[str]
    #: per language: words that report someone's speech or opinion ("says", "thinks")
    reporting: dict[str, frozenset[str]]
    pattern_count: int
    gate: "Gate"


_MACRO = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def _expand(pattern: str, macros: dict[str, str], where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in macros:
            raise LexiconError(f"{where}: unknown macro {{{name}}}")
        return "(?:" + macros[name] + ")"
    # Macros may use other macros; three rounds is plenty and stops cycles.
    for _ in range(3):
        new = _MACRO.sub(sub, pattern)
        if new == pattern:
            break
        pattern = new
    if _MACRO.search(pattern):
        raise LexiconError(f"{where}: macro nesting too deep")
    return pattern.replace(" ", r"\s")


def _check(pattern: str, where: str) -> None:
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise LexiconError(f"{where}: invalid pattern: {exc}") from None
    if rx.fullmatch(""):
        raise LexiconError(f"{where}: pattern matches the empty string")


def _strings(node: Any, where: str) -> list[str]:
    if node is None:
        return []
    if not isinstance(node, list) or not all(isinstance(x, str) and x.strip() for x in node):
        raise LexiconError(f"{where}: expected a list of non-empty strings")
    return [x.strip() for x in node]


def _entries(node: Any, where: str) -> tuple[list[str], set[int]]:
    """Signal entries: strings, or mappings {re: pattern, any_subject: true}. Returns the patterns and the
    indexes of the flagged ones."""
    if not isinstance(node, list):
        return _strings(node, where), set()
    plain: list[str] = []
    flagged: set[int] = set()
    for i, item in enumerate(node):
        if isinstance(item, dict):
            extra = set(item) - {"re", *PATTERN_FLAGS}
            if extra or not isinstance(item.get("re"), str) or not item["re"].strip():
                raise LexiconError(f"{where}[{i}]: expected {{re: pattern}} plus flags {PATTERN_FLAGS}")
            for flag in PATTERN_FLAGS:
                if flag in item and not isinstance(item[flag], bool):
                    raise LexiconError(f"{where}[{i}].{flag}: expected true or false")
            if item.get("any_subject"):
                flagged.add(i)
            plain.append(item["re"])
        else:
            plain.extend(_strings([item], f"{where}[{i}]"))
    return plain, flagged


def load_file(path: Path) -> dict[str, Any]:
    """Parse and validate one language file; returns {category: [expanded patterns]} and cue lists."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise LexiconError(f"{path}: YAML error: {exc}") from None
    if not isinstance(data, dict):
        raise LexiconError(f"{path}: top level must be a mapping")
    lang = data.get("lang")
    if lang != path.stem:
        raise LexiconError(f"{path}: lang: must be {path.stem!r}")
    macros = data.get("macros") or {}
    if not isinstance(macros, dict) or not all(isinstance(v, str) for v in macros.values()):
        raise LexiconError(f"{path}: macros: expected a mapping of name -> regex")
    out: dict[str, Any] = {"lang": lang, "categories": {}, "exceptions": {}, "cue_words": {}, "cue_patterns": {}}
    for key in ("signals", "exceptions", "cues"):
        if not isinstance(data.get(key), dict):
            raise LexiconError(f"{path}: {key}: missing or not a mapping")
    out["flagged"] = set()
    for cat, pats in data["signals"].items():
        if cat not in CATEGORIES:
            raise LexiconError(f"{path}: signals.{cat}: unknown category (known: {', '.join(CATEGORIES)})")
        where = f"{path}: signals.{cat}"
        plain, flags = _entries(pats, where)
        expanded = [_expand(p, macros, f"{where}[{i}]") for i, p in enumerate(plain)]
        out["flagged"] |= {(cat, expanded[i]) for i in flags}
        for i, p in enumerate(expanded):
            _check(p, f"{where}[{i}]")
        out["categories"][cat] = expanded
    missing = set(CATEGORIES) - set(out["categories"])
    if missing:
        raise LexiconError(f"{path}: signals: missing categories {sorted(missing)}")
    for exc_name, pats in data["exceptions"].items():
        if exc_name not in EXCEPTIONS:
            raise LexiconError(f"{path}: exceptions.{exc_name}: unknown (known: {', '.join(EXCEPTIONS)})")
        where = f"{path}: exceptions.{exc_name}"
        expanded = [_expand(p, macros, f"{where}[{i}]") for i, p in enumerate(_strings(pats, where))]
        for i, p in enumerate(expanded):
            _check(p, f"{where}[{i}]")
        out["exceptions"][exc_name] = expanded
    cues = data["cues"]
    for name in CUE_WORDS:
        out["cue_words"][name] = [w.casefold() for w in _strings(cues.get(name), f"{path}: cues.{name}")]
    for name in CUE_PATTERNS:
        where = f"{path}: cues.{name}"
        expanded = [_expand(p, macros, f"{where}[{i}]") for i, p in enumerate(_strings(cues.get(name), where))]
        for i, p in enumerate(expanded):
            _check(p, f"{where}[{i}]")
        out["cue_patterns"][name] = expanded
    out["mask_words"] = _strings(data.get("mask_words"), f"{path}: mask_words")
    return out


def _alternation(per_lang: dict[str, list[str]]) -> re.Pattern[str] | None:
    parts = [f"(?P<{lang}>" + "|".join(f"(?:{p})" for p in pats) + ")"
             for lang, pats in per_lang.items() if pats]
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)")


_NEVER = re.compile(r"(?!x)x")
#: Texts up to this length are searched from the first literal hit to the end (one window per pattern).
SHORT_TEXT = 600
_WORD_END = re.compile(r"\W")


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"
#: For window sizes only (long texts): an unbounded run of one character class ("\w+") is taken to be at most
#: _MAX_WORD long, any other unbounded repeat ("(?:really |so )*") at most _MAX_REPEAT times.
_MAX_WORD = 40
_MAX_REPEAT = 8


def compile_dir(directory: Path = LEXICON_DIR, languages: tuple[str, ...] = LANGUAGES) -> Compiled:
    """Load every language file and compile the combined matchers."""
    files = {lang: load_file(directory / f"{lang}.yaml") for lang in languages}
    count = 0
    cats: dict[str, re.Pattern[str]] = {}
    for cat in CATEGORIES:
        per_lang = {lang: f["categories"].get(cat, []) for lang, f in files.items()}
        count += sum(len(v) for v in per_lang.values())
        cats[cat] = _alternation(per_lang) or _NEVER
    excs: dict[str, re.Pattern[str]] = {}
    for name in EXCEPTIONS:
        per_lang = {lang: f["exceptions"].get(name, []) for lang, f in files.items()}
        count += sum(len(v) for v in per_lang.values())
        excs[name] = _alternation(per_lang) or _NEVER

    def words(name: str) -> set[str]:
        return {w for f in files.values() for w in f["cue_words"][name]}

    def pats(name: str) -> re.Pattern[str]:
        alts = [p for f in files.values() for p in f["cue_patterns"][name]]
        if not alts:
            return _NEVER
        return compile_factored(r"(?<!\w)(?:" + "|".join(f"(?:{p})" for p in alts) + r")(?!\w)")

    neg = "|".join(sorted((re.escape(w) for w in words("negation")), key=len, reverse=True))
    fill = "|".join(sorted((re.escape(w) for w in words("fillers")), key=len, reverse=True))
    negation_before = compile_factored(rf"(?:^|\s)(?:{neg})\s(?:(?:{fill})\s){{0,4}}$")
    first = frozenset(words("first_person"))
    other = frozenset(words("second_person") | words("third_person")) - first
    return Compiled(
        categories=cats, exceptions=excs, negation_before=negation_before,
        first_person=first, other_person=other,
        persons={lang: (frozenset(f["cue_words"]["first_person"]),
                        frozenset(f["cue_words"]["second_person"] + f["cue_words"]["third_person"])
                        - frozenset(f["cue_words"]["first_person"])) for lang, f in files.items()},
        past=pats("past"), recent=pats("recent"), ongoing=pats("ongoing"), fiction_context=pats("fiction_context"),
        clause_break=compile_factored(r"[.!?;:,\"()]|" + pats("clause_break").pattern),
        mask_words=frozenset(w for f in files.values() for w in f["mask_words"]),
        reporting={lang: frozenset(f["cue_words"]["reporting"]) for lang, f in files.items()},
        pattern_count=count,
        gate=build_gate({name: {lang: f["categories"].get(name, []) if name in CATEGORIES
                                else f["exceptions"].get(name, []) for lang, f in files.items()}
                         for name in (*CATEGORIES, *EXCEPTIONS)},
                        frozenset((cat, lang, p) for lang, f in files.items() for cat, p in f["flagged"])),
    )


# -- the literal gate -----------------------------------------------------------------------------------------
# Python's regex engine tries every alternative at every position, so one alternation of ~800 phrases costs
# milliseconds per message. Instead each pattern is analysed once (re._parser) for literals it cannot match
# without ("kill myself" needs "kill" or "myself"); one prefix-factored trie of all those literals, run over
# the text's distinct words, finds which patterns can possibly match; of those, a pattern runs only if every set
# of whole words it needs (_word_sets) has a word in the text. Patterns with no usable literal always run.
# The analysis is conservative: a pattern is skipped only if it cannot match. tests/unit/test_crisis_fast_paths.py
# holds the gate to a reference that runs every woken pattern.


_LIT, _BRANCH, _SUB = _sre.LITERAL, _sre.BRANCH, _sre.SUBPATTERN
_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT}
_MIN_LIT = 2


#: Frequent words make poor gate literals (they would wake their patterns on almost every message).
_COMMON = frozenset("""
the and was were with had have has for you that this what when how can would will not but all are just
about again today long home time feel like they them then than from there here into out ate did does
one get got more some very your our his her she him its all any now back only also even still well
que los las por con una del para como pero mas ya esta este eso muy todo
der die das und ist nicht mit auf den dem ein eine sich auch noch nur wie was bei
les des une est pas pour avec sur dans mais tout plus elle il
que com uma nao para mas mais muito tudo isso
che non per con una sono della anche come piu
het een van niet met voor maar ook nog wat als dat zijn
""".split())


def _score(cand: tuple[frozenset[str], bool]) -> tuple[int, int, int, int]:
    lits, initial = cand
    shortest = min(len(x) for x in lits)
    return (0 if lits & _COMMON or shortest < 3 else 1, int(initial), shortest, -len(lits))


def _lead(seq: Any) -> str:
    out = []
    for op, av in seq:
        if op is not _LIT:
            break
        out.append(chr(av))
    return "".join(out)


def _is_space_item(op: Any, av: Any) -> bool:
    if op is _LIT:
        return chr(av).isspace()
    if op is _sre.CATEGORY:
        return av is _sre.CATEGORY_SPACE
    if op is _sre.IN:
        return bool(av) and all(_is_space_item(o, a) for o, a in av)
    return False


def _ends_space(seq: Any, before: bool) -> bool:
    """Is the position after `seq` preceded by whitespace (or, if `seq` can be empty, as before it)?"""
    at = before
    for op, av in seq:
        if op in (_sre.ASSERT, _sre.ASSERT_NOT, _sre.AT):
            continue
        if op is _SUB:
            at = _ends_space(av[-1], at)
        elif op is _BRANCH:
            at = all(_ends_space(alt, at) for alt in av[1])
        elif op in _REPEATS:
            ends = _ends_space(av[2], at)
            at = ends if av[0] >= 1 else (ends and at)
        else:
            at = _is_space_item(op, av)
    return at


def _required(seq: Any, initial: bool = True,
              every: list[frozenset[str]] | None = None) -> tuple[frozenset[str], bool] | None:
    """A set of literals at least one of which every match contains, or None if none can be derived; and
    whether that literal always starts a word in the text (it opens the match, or follows whitespace), so
    the gate may look for it at word starts only. `initial`: whether `seq` itself starts at a word start.
    `every`, if given, collects every such set found on the way (each one is needed by every match)."""
    best: tuple[frozenset[str], bool] | None = None
    run: list[str] = []
    run_initial = False
    at = initial

    def offer(cand: tuple[frozenset[str], bool] | None) -> None:
        nonlocal best
        if cand and cand[0] and min(len(x) for x in cand[0]) >= _MIN_LIT:
            if every is not None:
                every.append(cand[0])
            if best is None or _score(cand) > _score(best):
                best = cand

    def flush() -> None:
        if run:
            offer((frozenset({"".join(run)}), run_initial))
            run.clear()

    for op, av in seq:
        if op is _LIT:
            if not run:
                run_initial = at
            run.append(chr(av))
            at = chr(av).isspace()
            continue
        if op is _BRANCH and run:
            # The parser factors common prefixes ("use|used" -> "us" + (e|ed)): glue them back together.
            offer((frozenset("".join(run) + _lead(a) for a in av[1]), run_initial))
        flush()
        if op in (_sre.ASSERT, _sre.ASSERT_NOT, _sre.AT):
            continue
        if op is _SUB:
            offer(_required(av[-1], at, every))
            at = _ends_space(av[-1], at)
        elif op is _BRANCH:
            alts = [_required(a, at) for a in av[1]]
            if all(alts):
                offer((frozenset().union(*(x[0] for x in alts)), all(x[1] for x in alts)))  # type: ignore[union-attr]
            at = all(_ends_space(a, at) for a in av[1])
        elif op in _REPEATS:
            if av[0] >= 1:
                offer(_required(av[2], at, every))
            ends = _ends_space(av[2], at)
            at = ends if av[0] >= 1 else (ends and at)
        else:
            at = _is_space_item(op, av)
    flush()
    return best


def _leading(seq: Any, min_len: int = _MIN_LIT) -> frozenset[str] | None:
    """Literals one of which every match BEGINS with (each at least `min_len` long), or None."""
    for op, av in seq:
        if op is _LIT:
            found = frozenset({_lead(list(seq)[list(seq).index((op, av)):])})
            break
        if op is _SUB:
            found = _leading(av[-1], min_len)
            break
        if op is _BRANCH:
            alts = [_leading(a, min_len) for a in av[1]]
            found = frozenset().union(*alts) if all(alts) else None  # type: ignore[arg-type]
            break
        return None
    else:
        return None
    if not found or min(len(x) for x in found) < min_len:
        return None
    return found


def leading_literals(pattern: str) -> frozenset[str] | None:
    """The literals (one character or more) every match of `pattern` begins with, or None if not simple."""
    return _leading(_sre.parse(pattern), 1)


_NARROW_START = 6
#: Extra literal checks per gated pattern: at most this many sets, each of at most this many literals.
_MAX_CHECKS = 2
_MAX_CHECK_SET = 8
_WORD_ONLY = re.compile(r"\w+")
#: Texts up to this long are scanned word start by word start (scan), longer ones word by distinct word.
_SHORT_SCAN = 300
_NON_WORD_TO_SPACE = str.maketrans({chr(c): " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")})


def _first_chars(seq: Any) -> set[str] | None:
    """The characters a match can start with, or None if that is not simple to tell."""
    for op, av in seq:
        if op is _LIT:
            return {chr(av)}
        if op is _SUB:
            return _first_chars(av[-1])
        if op is _BRANCH:
            out: set[str] = set()
            for alt in av[1]:
                got = _first_chars(alt)
                if got is None:
                    return None
                out |= got
            return out
        if op in _REPEATS and av[0] >= 1:
            return _first_chars(av[2])
        return None
    return None


def _window_width(seq: Any) -> int:
    """The widest match of a parsed pattern, with unbounded repeats capped (a repeated single character at
    `_MAX_WORD`, anything else at `_MAX_REPEAT` times): the half-width of a search window around a literal."""
    total = 0
    for op, av in seq:
        if op is _BRANCH:
            total += max(_window_width(a) for a in av[1])
        elif op is _SUB:
            total += _window_width(av[-1])
        elif op in _REPEATS:
            lo, hi, sub = av
            one = _window_width(sub)
            if hi == _sre.MAXREPEAT:
                hi = max(lo, _MAX_WORD if one <= 1 else _MAX_REPEAT)
            total += hi * one
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT, _sre.AT):
            continue
        elif op in (_LIT, _sre.NOT_LITERAL, _sre.IN, _sre.ANY, _sre.CATEGORY):
            total += 1
        else:
            return 1 << 30  # group references and the like: no bound, search the whole text
    return total


def _is_bounded(seq: Any) -> bool:
    """Does `_window_width` give a true upper bound: no unbounded repeat, no construct it cannot size, and
    lookarounds no longer than the 64 characters of slack the windows keep after a literal?"""
    for op, av in seq:
        if op is _BRANCH:
            if not all(_is_bounded(a) for a in av[1]):
                return False
        elif op is _SUB:
            if not _is_bounded(av[-1]):
                return False
        elif op in _REPEATS:
            if av[1] == _sre.MAXREPEAT or not _is_bounded(av[2]):
                return False
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            if not _is_bounded(av[1]) or _window_width(av[1]) > 32:
                return False
        elif op is _sre.AT:
            continue
        elif op not in (_LIT, _sre.NOT_LITERAL, _sre.IN, _sre.ANY, _sre.CATEGORY):
            return False
    return True


# -- whole-word checks ---------------------------------------------------------------------------------------
# Most woken patterns do not match: the word that woke them is there, but not the rest of the phrase. Each
# pattern is analysed once for the WHOLE words every match must contain (a literal with a non-word character,
# or the edge of the match, on both sides: "want" in "want\\sto", "character" in "my\\scharacter\\sdies"); a
# woken pattern is skipped when one such set has no word in the text. Testing a set against the text's words
# is one C-level set operation, far cheaper than running the pattern. Only ever a necessary condition: a word
# set is derived only where the parse tree proves the boundaries, and anything unclear derives none.


def _is_word_code(code: int) -> bool:
    ch = chr(code)
    return ch.isalnum() or ch == "_"


def _nonword_item(op: Any, av: Any) -> bool:
    """Does this element always match at least one character, and only non-word characters?"""
    if op is _LIT:
        return not _is_word_code(av)
    if op is _sre.IN:
        if not av:
            return False
        for o, a in av:
            if o is _LIT:
                if _is_word_code(a):
                    return False
            elif o is _sre.RANGE:
                if any(_is_word_code(c) for c in range(a[0], a[1] + 1)):
                    return False
            elif o is _sre.CATEGORY:
                if a not in (_sre.CATEGORY_SPACE, _sre.CATEGORY_NOT_WORD):
                    return False
            else:
                return False
        return True
    if op in _REPEATS:
        body = list(av[2])
        return av[0] >= 1 and len(body) == 1 and _nonword_item(*body[0])
    return False


_ZERO_WIDTH = (_sre.ASSERT, _sre.ASSERT_NOT, _sre.AT)


def _edge(seq: Any, last: bool) -> bool | None:
    """Is the last (last=True) or first character `seq` matches always a non-word character? True: always;
    False: not always; None: only if the match of `seq` is empty can it be otherwise (then the neighbour
    decides). A (?<!\\w) at the end or a (?!\\w) at the start counts as a non-word neighbour."""
    items = list(seq)
    for op, av in (reversed(items) if last else items):
        if _is_not_word_assert(op, av, -1 if last else 1):
            return True
        if op is _sre.AT and av in ((_sre.AT_BEGINNING, _sre.AT_BEGINNING_STRING) if last
                                    else (_sre.AT_END, _sre.AT_END_STRING)):
            return True   # the edge of the searched string (or line): nothing, or a line break, beyond it
        if op in _ZERO_WIDTH:
            continue
        got = _item_edge(op, av, last)
        if got is None:
            continue
        return got
    return None


def _item_edge(op: Any, av: Any, last: bool) -> bool | None:
    if _nonword_item(op, av):
        return True
    if op in _REPEATS:
        inner = _edge(av[2], last)
        if inner is True:
            return True if av[0] >= 1 else None
        return inner if inner is None else False
    if op is _SUB:
        return _edge(av[-1], last)
    if op is _BRANCH:
        got = [_edge(alt, last) for alt in av[1]]
        if all(g is True for g in got):
            return True
        if all(g is not False for g in got):
            return None
        return False
    return False


def _is_not_word_assert(op: Any, av: Any, direction: int) -> bool:
    """(?!\\w) (direction 1) or (?<!\\w) (direction -1)."""
    if op is not _sre.ASSERT_NOT or av[0] != direction:
        return False
    body = list(av[1])
    return (len(body) == 1 and body[0][0] is _sre.IN
            and list(body[0][1]) == [(_sre.CATEGORY, _sre.CATEGORY_WORD)])


def _word_literal(seq: Any) -> str | None:
    """The word a sequence of word-character literals spells ("" for an empty sequence), else None."""
    out = []
    for op, av in seq:
        if op is not _LIT or not _is_word_code(av):
            return None
        out.append(chr(av))
    return "".join(out)


def _word_sets(seq: Any, before: bool, after: bool) -> list[frozenset[str]]:
    """Sets of whole words, one word of each set being in every match of `seq` as a complete \\w+ token.
    `before`/`after`: a non-word character (or the text's edge) is guaranteed right before/after `seq`."""
    items = list(seq)
    n = len(items)
    out: list[frozenset[str]] = []

    def edge_before(i: int) -> bool:
        got = _edge(items[:i], last=True)
        return before if got is None else got

    def edge_after(k: int) -> bool:
        got = _edge(items[k:], last=False)
        return after if got is None else got

    i = 0
    while i < n:
        op, av = items[i]
        if op is _LIT and _is_word_code(av):
            j = i
            while j < n and items[j][0] is _LIT and _is_word_code(items[j][1]):
                j += 1
            word = "".join(chr(a) for _o, a in items[i:j])
            if edge_before(i):
                if edge_after(j):
                    out.append(frozenset({word}))
                elif j < n and items[j][0] is _BRANCH:
                    # The parser factors alternatives ("overdosed|odd|oded" -> "o" + (verdosed|dd|ded)): read
                    # each alternative with the shared start glued back on.
                    head = items[i:j]
                    per_alt = [_word_sets(head + list(alt), True, edge_after(j + 1)) for alt in items[j][1][1]]
                    if per_alt and all(per_alt):
                        out.append(frozenset().union(*(min(sets, key=_word_set_rank) for sets in per_alt)))
                elif j < n and items[j][0] in _REPEATS and items[j][1][0] == 0 and items[j][1][1] == 1:
                    body = list(items[j][1][2])
                    tail = _word_literal(body)
                    if tail and edge_after(j + 1):
                        out.append(frozenset({word, word + tail}))       # "kill(?:s)?"
                    elif len(body) == 1 and _nonword_item(*body[0]):
                        # "self[\s-]?harm": the separator there ends the word "self"; absent, "selfharm" is one
                        k = j + 1
                        while k < n and items[k][0] is _LIT and _is_word_code(items[k][1]):
                            k += 1
                        if k > j + 1 and edge_after(k):
                            second = "".join(chr(a) for _o, a in items[j + 1:k])
                            out.append(frozenset({word, word + second}))
            i = j
            continue
        if op is _BRANCH:
            per_alt = [_word_sets(alt, edge_before(i), edge_after(i + 1)) for alt in av[1]]
            if per_alt and all(per_alt):
                # one set per alternative (any is required of it; the most selective one), joined
                out.append(frozenset().union(*(min(sets, key=_word_set_rank) for sets in per_alt)))
        elif op is _SUB:
            out.extend(_word_sets(av[-1], edge_before(i), edge_after(i + 1)))
        elif op in _REPEATS and av[0] >= 1:
            out.extend(_word_sets(av[2], False, False))
        i += 1
    return out


def word_sets(pattern: str) -> list[frozenset[str]]:
    """_word_sets for a whole compiled pattern (its own lookarounds mark its edges)."""
    return _word_sets(_sre.parse(pattern), False, False)


def _word_set_rank(words: frozenset[str]) -> tuple[int, int, int]:
    """Lower is more selective: no frequent word, long words, few of them."""
    return (1 if words & _COMMON else 0, -min(len(w) for w in words), len(words))


def _trie_regex(words: set[str]) -> str:
    """A prefix-factored alternation, longest continuation first, so a match is the longest literal there."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        end = "" in node
        kids = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items()) if ch]
        if not kids:
            return ""
        body = kids[0] if len(kids) == 1 else "(?:" + "|".join(kids) + ")"
        return f"(?:{body})?" if end else body
    return emit(trie)


@dataclass(frozen=True, slots=True)
class Gate:
    """Which patterns can match a text: trie pass over the text, then literal -> pattern ids."""

    trigger: re.Pattern[str]                                  # a literal right after a non-word character
    by_literal: dict[str, tuple[int, ...]]
    prefixes: dict[str, tuple[str, ...]]
    inside: tuple[str, ...]                                   # literals that may sit inside a word: str.find
    anchored: tuple[bool, ...]                                # per pattern: every match starts with a literal
    patterns: tuple[tuple[str, str, re.Pattern[str]], ...]   # (category or exception, lang, regex)
    reach: tuple[int, ...]                                    # per pattern: max match width (search window)
    always: tuple[tuple[str, re.Pattern[str]], ...]          # (name, combined regex with a group per lang)
    #: per pattern: further literal sets every match needs (one literal of each set must be in the text);
    #: a woken pattern is skipped when one set is wholly absent, so "to" alone does not run "to die for".
    checks: tuple[tuple[frozenset[str], ...], ...]
    #: found literal -> the pattern ids it wakes (its own and its prefixes' patterns, in prefix order)
    wake: dict[str, tuple[int, ...]]
    #: pattern ids flagged any_subject
    any_subject: frozenset[int] = frozenset()
    #: per pattern: `reach` is exact (no unbounded repeat), so windows around the literals find every match in
    #: short texts too (a match holds a literal occurrence and is at most `reach` wide)
    bounded: tuple[bool, ...] = ()
    #: per pattern: a bit per word set (see _word_sets) each of which has a word in every match (0: none)
    needs_mask: tuple[int, ...] = ()
    #: word -> a bit per word set that holds it
    word_mask: dict[str, int] = field(default_factory=dict)
    vocabulary: frozenset[str] = frozenset()
    #: pattern id -> the found literals that wake it (the keys of `wake` whose list holds it)
    wakers: tuple[frozenset[str], ...] = ()

    def _occurrences(self, lit: str, text: str, heads: Sequence[str], spaced: str | None) -> list[int]:
        """Where the trie pass over the whole text would report `lit`: at the start of every whole occurrence
        of the words it starts (`heads`); a literal that may sit inside a word (`inside`), everywhere.
        `spaced`: for ASCII text, the text with every non-word character a space and a space at both ends,
        where a whole word W is exactly an occurrence of " W " (positions shift by one)."""
        at: list[int] = []
        if lit in self.inside:
            find = text.find
            pos = find(lit)
            while pos >= 0:
                at.append(pos)
                pos = find(lit, pos + 1)
            return at
        if spaced is not None:
            find = spaced.find
            for word in heads:
                key = " " + word + " "
                pos = find(key)
                while pos >= 0:
                    at.append(pos)
                    pos = find(key, pos + 1)
        else:
            find, n = text.find, len(text)
            for word in heads:
                size = len(word)
                pos = find(word)
                while pos >= 0:
                    end = pos + size
                    if ((pos == 0 or not ((c := text[pos - 1]).isalnum() or c == "_"))
                            and (end == n or not ((c := text[end]).isalnum() or c == "_"))):
                        at.append(pos)
                    pos = find(word, pos + 1)
        return at   # several words' positions interleave: _run sorts them

    def _run(self, pid: int, positions: list[int], text: str, out: list[tuple[int, int, int]]) -> None:
        """Append pattern `pid`'s matches in `text` to `out`, given where the literals that woke it occur:
        match() at each occurrence if every match begins with a literal, else searches in windows (see scan)."""
        rx = self.patterns[pid][2]
        if len(positions) > 1:
            positions = sorted(set(positions))
        if self.anchored[pid]:
            match = rx.match
            end = 0
            for p in positions:
                # _is_word inlined (this loop runs for every occurrence of every woken pattern)
                if p < end or (p and ((c := text[p - 1]).isalnum() or c == "_")):
                    continue
                m = match(text, p)
                if m is not None:
                    end = m.end()
                    out.append((pid, p, end))
            return
        n = len(text)
        r = self.reach[pid]
        if n <= SHORT_TEXT and not self.bounded[pid]:
            windows = [(max(0, positions[0] - r), n)]
        else:
            windows = []
            for p in positions:
                lo, hi = p - r, p + r + 64   # 64: no literal is longer
                if windows and lo <= windows[-1][1]:
                    windows[-1] = (windows[-1][0], hi)
                else:
                    windows.append((lo if lo > 0 else 0, hi))
        search = rx.search
        for lo, hi in windows:
            if hi >= n:
                hi = n
            else:
                m = _WORD_END.search(text, hi)
                hi = m.start() if m else n
            pos = lo
            while True:
                m = search(text, pos, hi)
                if m is None:
                    break
                st = m.start()
                # gated patterns carry no leading (?<!\w); _is_word inlined
                if st and ((c := text[st - 1]).isalnum() or c == "_"):
                    pos = st + 1
                    continue
                out.append((pid, st, m.end()))
                pos = m.end()

    def matches(self, text: str) -> list[tuple[int, int, int]]:
        """scan() without the words."""
        return self.scan(text)[0]

    def scan(self, text: str) -> tuple[list[tuple[int, int, int]], dict[str, None]]:
        """Every (pattern id, start, end) that `(?<!\\w)(?:pattern)(?!\\w)` finditer would report on `text`, and
        the text's distinct \\w+ words (the detector's context readers use them to skip cue patterns).

        A match contains one of its pattern's literals. Most literals always start a word in a match; they
        are found at word starts only, by the trie over the text's distinct words; the few that can sit inside
        a word are found with str.find. A woken pattern whose whole-word sets miss the text's words is skipped
        (see _word_sets). Then, per remaining pattern: if every match BEGINS with one of its literals ("anchored"),
        it is tried with match() at each occurrence, left to right, skipping occurrences inside the previous
        match (finditer's rule); otherwise it is searched from `reach` (its widest match) before the first
        occurrence, and on long texts only in windows of `reach` around each occurrence, so one word at the
        top of a long paste does not make a pattern rescan the whole paste."""
        # The text's distinct words, in order of first appearance. A word-start literal is \\w+, so at a word
        # start it is a prefix of the word there: one trie pass over the distinct words (each after a space)
        # finds, in order, the literal the pass over the whole text would find first at each word; a long
        # paste that repeats its words is scanned once per distinct word, not once per occurrence.
        if text.isascii():
            spaced: str | None = text.translate(_NON_WORD_TO_SPACE)   # same length, words kept, the rest spaces
            tokens = spaced.split()
        else:
            spaced, tokens = None, _WORD_ONLY.findall(text)
        distinct = dict.fromkeys(tokens)
        occ: dict[str, list[int]] | None = None
        if len(text) <= _SHORT_SCAN:
            # A short text repeats few words: one pass over the text itself (a space in front, so that a word
            # at 0 follows a non-word character too) gives every literal and where it is, at once.
            occ = {}
            parts = self.trigger.split(" " + text)   # [before, literal, before, literal, ..., rest]
            pos = 0
            for i in range(1, len(parts), 2):
                pos += len(parts[i - 1]) + 1
                got = occ.get(parts[i])
                if got is None:
                    occ[parts[i]] = [pos - 1]
                else:
                    got.append(pos - 1)
                pos += len(parts[i])
            found = list(occ)
        else:
            parts = self.trigger.split(" " + " ".join(distinct))   # [before, literal, rest, literal, rest, ...]
            found = list(dict.fromkeys(parts[1::2]))
        found.extend(filter(text.__contains__, self.inside))   # literals that may sit inside a word
        out: list[tuple[int, int, int]] = []
        if not found:
            return out, distinct
        checks = self.checks
        # Check sets are shared by many patterns (the same "want to|wanna|..." group), so each set is tested
        # once per text, with any(map(...)) running the substring scans in C; a set's answer is the same
        # whichever pattern asks (it is a pure function of the text).
        have: dict[frozenset[str], bool] = {}
        contains = text.__contains__
        wakers = self.wakers
        found_set = frozenset(found)
        where: dict[str, list[int]] = {}
        heads: dict[str, list[str]] | None = None
        # Woken patterns in the order their first literal appears (it decides ties downstream), each once; then
        # those whose word sets all have a word in the text (bit masks: one OR per present word, one AND per
        # pattern, all in C). Patterns without word sets pass here and meet their substring checks below.
        woken = list(dict.fromkeys(chain.from_iterable(map(self.wake.__getitem__, found))))
        present = reduce(or_, map(self.word_mask.__getitem__, self.vocabulary.intersection(distinct)), 0)
        absent = ~present
        for pid in compress(woken, map(not_, map(absent.__and__, map(self.needs_mask.__getitem__, woken)))):
            if not self.needs_mask[pid]:
                needs = checks[pid]
                if needs:
                    missing = False
                    for req in needs:
                        got = have.get(req)
                        if got is None:
                            got = have[req] = any(map(contains, req))
                        if not got:
                            missing = True
                            break
                    if missing:
                        continue
            positions: list[int] = []
            for lit in wakers[pid] & found_set:
                at = where.get(lit) if occ is None else occ.get(lit)
                if at is None:
                    if occ is not None:   # a literal that may sit inside a word (the pass found the others)
                        at = occ[lit] = self._occurrences(lit, text, (), None)
                    else:
                        if heads is None:
                            # literal -> the distinct words it starts (the rest of its word follows it in `parts`)
                            heads = {}
                            if spaced is not None:
                                spaced = " " + spaced + " "
                            for i in range(1, len(parts), 2):
                                heads.setdefault(parts[i], []).append(parts[i] + parts[i + 1].partition(" ")[0])
                        at = where[lit] = self._occurrences(lit, text, heads.get(lit, ()), spaced)
                positions += at
            self._run(pid, positions, text, out)
        return out, distinct


# -- alternation factoring ------------------------------------------------------------------------------------
# Python's engine tries the alternatives of a group one after another, and only skips an alternative cheaply when
# it starts with a plain character that differs from the text. Lexicon phrases are mostly written as long
# alternations of words ("want to|wanna|wanted to|..."), often nested inside macros, so at every word start the
# engine walked dozens of alternatives. Factoring them into a character trie ("wan(?:t to|na|ted to)") lets it
# reject most of them with one comparison.
#
# The rewrite keeps the matching exactly the same. Alternatives are tried in the order they are written; two
# alternatives that start with DIFFERENT literal characters can never both match at one position, so their
# relative order does not matter and alternatives with the same first character can be moved together (keeping
# their own order). An alternative that does not start with a plain character (a class, a group, an optional
# part) is a barrier nothing is moved across. Then "a x|a y" becomes "a(?:x|y)": the same attempts, in the same
# order, with the same continuations. Only patterns without case-insensitive or other inline flags are
# rewritten (with those, "A" and "a" could both match), and the compiled object keeps the source text as its
# `pattern`.

_INLINE_FLAGS = re.compile(r"\(\?[aiLmsux-]")
_ONE_CHILD_REPEATS = (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT)


def _factor_seq(sub: Any) -> Any:
    """A copy of a parsed sequence with every alternation inside it factored (see above)."""
    out = []
    for op, av in sub.data:
        if op is _BRANCH:
            out.append((op, (av[0], _factor_alts([_factor_seq(a) for a in av[1]], sub.state))))
        elif op is _SUB:
            out.append((op, (*av[:-1], _factor_seq(av[-1]))))
        elif op in _ONE_CHILD_REPEATS:
            out.append((op, (av[0], av[1], _factor_seq(av[2]))))
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            out.append((op, (av[0], _factor_seq(av[1]))))
        elif op is _sre.ATOMIC_GROUP:
            out.append((op, _factor_seq(av)))
        else:
            out.append((op, av))
    return _sre.SubPattern(sub.state, out)


def _factor_alts(alts: list[Any], state: Any) -> list[Any]:
    """Alternatives in an order and grouping that the engine tries exactly as it tried `alts`."""
    out: list[Any] = []
    run: dict[int, list[Any]] = {}   # first character -> alternatives starting with it, in written order

    def flush() -> None:
        for ch, group in run.items():
            if len(group) == 1:
                out.append(group[0])
                continue
            rest = _factor_alts([_sre.SubPattern(state, list(g.data[1:])) for g in group], state)
            tail = list(rest[0].data) if len(rest) == 1 else [(_BRANCH, (None, rest))]
            out.append(_sre.SubPattern(state, [(_LIT, ch), *tail]))
        run.clear()

    for alt in alts:
        if alt.data and alt.data[0][0] is _LIT:
            run.setdefault(alt.data[0][1], []).append(alt)
        else:
            flush()          # a barrier: nothing moves across it
            out.append(alt)
    flush()
    return out


def compile_factored(source: str) -> re.Pattern[str]:
    """`re.compile(source)`, with the alternations factored for speed; same matches, same `pattern` text."""
    if _INLINE_FLAGS.search(source):
        return re.compile(source)
    parsed = _sre.parse(source)   # raises re.error for a bad pattern, as re.compile would
    if parsed.state.groups != 1:   # capture groups: keep the stock compilation (group tables stay exact)
        return re.compile(source)
    try:
        code = _compiler._code(_factor_seq(parsed), 0)
        return _sre_engine.compile(source, parsed.state.flags, code, 0, {}, ())
    except Exception:  # noqa: BLE001 - these are interpreter internals; a future Python just gets the stock regex
        return re.compile(source)


def _split_top(pattern: str) -> list[str]:
    """Split "a|b|c" at top-level bars so each alternative gets its own (sharper) literal requirement."""
    parts, depth, in_class, esc, start = [], 0, False, False, 0
    for i, ch in enumerate(pattern):
        if esc:
            esc = False
        elif ch == "\\":
            esc = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return [x for x in parts if x] if all(parts) else [pattern]


def build_gate(groups: dict[str, dict[str, list[str]]],
               any_subject: frozenset[tuple[str, str, str]] = frozenset()) -> Gate:
    """groups: name -> lang -> expanded patterns (categories and exceptions alike); any_subject: the
    (name, lang, expanded pattern) entries flagged so (see PATTERN_FLAGS)."""
    free: list[int] = []
    patterns: list[tuple[str, str, re.Pattern[str]]] = []
    reach: list[int] = []
    by_lit: dict[str, list[int]] = {}
    always: dict[str, dict[str, list[str]]] = {}
    word_start: set[str] = set()
    inside: set[str] = set()
    anchored: list[bool] = []
    checks: list[tuple[frozenset[str], ...]] = []
    bounded: list[bool] = []
    word_checks: list[tuple[frozenset[str], ...]] = []
    for name, per_lang in groups.items():
        for lang, pats in per_lang.items():
            for whole, pat in ((whole, alt) for whole in pats for alt in _split_top(whole)):
                flagged = (name, lang, whole) in any_subject
                tree = _sre.parse(pat)
                every: list[frozenset[str]] = []
                req = _required(tree, True, every)
                lead = _leading(tree)
                anchor = lead is not None and (req is None or _score((lead, True))[0] >= _score(req)[0])
                if anchor:
                    req = (lead, True)
                if req is None:
                    if flagged:
                        raise LexiconError(f"{lang}: signals.{name}: a pattern flagged any_subject needs a literal "
                                           f"word the gate can find: {pat!r}")
                    always.setdefault(name, {}).setdefault(lang, []).append(pat)
                    continue
                pid = len(patterns)
                if flagged:
                    free.append(pid)
                # No leading (?<!\w): the matcher checks the word start itself, which lets the regex engine
                # skip ahead to the pattern's possible first characters instead of trying every position.
                # Anchored patterns are tried with match() at word starts only. For the others, a pattern with
                # few possible first characters lets the engine skip ahead, so the word start is checked
                # afterwards; one that can start with many (a long list of phrases) fails faster with the
                # lookbehind in front.
                first = _first_chars(tree)
                wide = not anchor and (first is None or len(first) > _NARROW_START)
                patterns.append((name, lang, compile_factored((r"(?<!\w)" if wide else "") + r"(?:" + pat + r")(?!\w)")))
                reach.append(_window_width(tree))
                bounded.append(_is_bounded(tree))
                anchored.append(anchor)
                lits_, initial = req
                # Extra checks: the rarest other literal sets (small ones; the gate set itself is found).
                extra = sorted({e for e in every if len(e) <= _MAX_CHECK_SET and not (e & lits_)},
                               key=lambda e: (_score((e, False)), sorted(e)), reverse=True)
                checks.append(tuple(e for e in extra if min(len(x) for x in e) >= 3)[:_MAX_CHECKS])
                word_checks.append(tuple(set(_word_sets(tree, True, True))))
                for lit in lits_:
                    by_lit.setdefault(lit, []).append(pid)
                    (word_start if initial else inside).add(lit)
    inside |= {w for w in word_start if not _WORD_ONLY.fullmatch(w)}   # "d&d": found with str.find
    word_start -= inside   # a literal needed anywhere is searched anywhere (str.find), for every pattern
    prefixes = {w: tuple(w[:k] for k in range(_MIN_LIT, len(w) + 1) if w[:k] in word_start) for w in word_start}
    for w in inside:
        prefixes[w] = (w,)
    trie = _trie_regex(word_start)
    trigger = re.compile(r"\W(" + trie + ")") if word_start else _NEVER
    comb = tuple((n, rx) for n, per in always.items() if (rx := _alternation(per)) is not None)
    wake = {w: tuple(pid for pre in pres for pid in by_lit.get(pre, ())) for w, pres in prefixes.items()}
    wakers: list[set[str]] = [set() for _ in patterns]
    for w, pids in wake.items():
        for pid in pids:
            wakers[pid].add(w)
    set_ids: dict[frozenset[str], int] = {}
    needs_mask = tuple(sum({1 << set_ids.setdefault(ws, len(set_ids)) for ws in sets}) for sets in word_checks)
    word_mask: dict[str, int] = {}
    for ws, sid in set_ids.items():
        for w in ws:
            word_mask[w] = word_mask.get(w, 0) | (1 << sid)
    return Gate(trigger, {k: tuple(v) for k, v in by_lit.items()}, prefixes, tuple(sorted(inside)),
                tuple(anchored), tuple(patterns), tuple(reach), comb, tuple(checks), wake,
                frozenset(free), tuple(bounded), needs_mask, word_mask, frozenset(word_mask),
                tuple(frozenset(ws) for ws in wakers))


_lock = threading.Lock()
_compiled: Compiled | None = None


def get() -> Compiled:
    """The process-wide compiled lexicon (built once, on first use, under a lock)."""
    global _compiled
    if _compiled is None:
        with _lock:
            if _compiled is None:
                _compiled = compile_dir()
    return _compiled
