"""Load, validate and compile the crisis lexicons in config/crisis/<lang>.yaml.

Why data, not code: the phrases are clinical and linguistic judgement that reviewers (clinicians, native
speakers) must be able to read and change without touching Python. Why compile everything together: every
message is matched against every language (people mix languages, locales lie), so each category becomes
ONE alternation over all languages, with one named group per language to say which one matched. That keeps
the number of regex passes per message fixed (one per category) however many phrases the files hold.

A broken file must fail loudly at start-up, naming the file and key, never silently weaken detection.
"""

from __future__ import annotations

import re
import re._parser as _sre  # stdlib parser, used to find the literals a pattern cannot match without
import threading
from dataclasses import dataclass
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
CUE_WORDS: tuple[str, ...] = ("negation", "fillers", "first_person", "second_person", "third_person")
CUE_PATTERNS: tuple[str, ...] = ("past", "recent", "fiction_context", "clause_break")


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
    fiction_context: re.Pattern[str]
    clause_break: re.Pattern[str]
    mask_words: frozenset[str]
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
    for cat, pats in data["signals"].items():
        if cat not in CATEGORIES:
            raise LexiconError(f"{path}: signals.{cat}: unknown category (known: {', '.join(CATEGORIES)})")
        where = f"{path}: signals.{cat}"
        expanded = [_expand(p, macros, f"{where}[{i}]") for i, p in enumerate(_strings(pats, where))]
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
        return re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{p})" for p in alts) + r")(?!\w)")

    neg = "|".join(sorted((re.escape(w) for w in words("negation")), key=len, reverse=True))
    fill = "|".join(sorted((re.escape(w) for w in words("fillers")), key=len, reverse=True))
    negation_before = re.compile(rf"(?:^|\s)(?:{neg})\s(?:(?:{fill})\s){{0,4}}$")
    first = frozenset(words("first_person"))
    other = frozenset(words("second_person") | words("third_person")) - first
    return Compiled(
        categories=cats, exceptions=excs, negation_before=negation_before,
        first_person=first, other_person=other,
        persons={lang: (frozenset(f["cue_words"]["first_person"]),
                        frozenset(f["cue_words"]["second_person"] + f["cue_words"]["third_person"])
                        - frozenset(f["cue_words"]["first_person"])) for lang, f in files.items()},
        past=pats("past"), recent=pats("recent"), fiction_context=pats("fiction_context"),
        clause_break=re.compile(r"[.!?;:,\"()]|" + pats("clause_break").pattern),
        mask_words=frozenset(w for f in files.values() for w in f["mask_words"]),
        pattern_count=count,
        gate=build_gate({name: {lang: f["categories"].get(name, []) if name in CATEGORIES
                                else f["exceptions"].get(name, []) for lang, f in files.items()}
                         for name in (*CATEGORIES, *EXCEPTIONS)}),
    )


# -- the literal gate -----------------------------------------------------------------------------------------
# Python's regex engine tries every alternative at every position, so one alternation of ~800 phrases costs
# milliseconds per message. Instead each pattern is analysed once (re._parser) for literals it cannot match
# without ("kill myself" needs "kill" or "myself"); one prefix-factored trie of all those literals finds, in a
# single pass, which patterns can possibly match; only those run. Patterns with no usable literal always run.
# The analysis is conservative: a pattern is skipped only if none of its required literals occurs.


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


def _score(lits: frozenset[str]) -> tuple[int, int, int]:
    shortest = min(len(x) for x in lits)
    return (0 if lits & _COMMON or shortest < 3 else 1, shortest, -len(lits))


def _lead(seq: Any) -> str:
    out = []
    for op, av in seq:
        if op is not _LIT:
            break
        out.append(chr(av))
    return "".join(out)


def _required(seq: Any) -> frozenset[str] | None:
    """A set of literals at least one of which every match contains, or None if none can be derived."""
    best: frozenset[str] | None = None
    run: list[str] = []

    def offer(cand: frozenset[str] | None) -> None:
        nonlocal best
        if cand and (best is None or _score(cand) > _score(best)):
            best = cand

    def flush() -> None:
        if run:
            offer(frozenset({"".join(run)}))
            run.clear()

    for op, av in seq:
        if op is _LIT:
            run.append(chr(av))
            continue
        if op is _BRANCH and run:
            # The parser factors common prefixes ("use|used" -> "us" + (e|ed)): glue them back together.
            offer(frozenset("".join(run) + _lead(a) for a in av[1]))
        flush()
        if op is _SUB:
            offer(_required(av[-1]))
        elif op is _BRANCH:
            alts = [_required(a) for a in av[1]]
            if all(alts):
                offer(frozenset().union(*alts))  # type: ignore[arg-type]
        elif op in _REPEATS and av[0] >= 1:
            offer(_required(av[2]))
    flush()
    if best is not None and min(len(x) for x in best) < _MIN_LIT:
        return None
    return best


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

    trigger: re.Pattern[str]
    by_literal: dict[str, tuple[int, ...]]
    prefixes: dict[str, tuple[str, ...]]
    patterns: tuple[tuple[str, str, re.Pattern[str]], ...]   # (category or exception, lang, regex)
    reach: tuple[int, ...]                                    # per pattern: max match width (search window)
    always: tuple[tuple[str, re.Pattern[str]], ...]          # (name, combined regex with a group per lang)

    def candidates(self, text: str) -> dict[int, int]:
        """Pattern id -> where to start searching (a match must contain a literal found at or after it)."""
        ids: dict[int, int] = {}
        seen: set[str] = set()
        for m in self.trigger.finditer(text):
            lit = m.group(1)
            if lit in seen:
                continue
            seen.add(lit)
            pos = m.start()
            for pre in self.prefixes.get(lit, ()):
                for pid in self.by_literal.get(pre, ()):
                    if pid not in ids:
                        ids[pid] = max(0, pos - self.reach[pid])
        return ids


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


def build_gate(groups: dict[str, dict[str, list[str]]]) -> Gate:
    """groups: name -> lang -> expanded patterns (categories and exceptions alike)."""
    patterns: list[tuple[str, str, re.Pattern[str]]] = []
    reach: list[int] = []
    by_lit: dict[str, list[int]] = {}
    always: dict[str, dict[str, list[str]]] = {}
    for name, per_lang in groups.items():
        for lang, pats in per_lang.items():
            for pat in (alt for whole in pats for alt in _split_top(whole)):
                tree = _sre.parse(pat)
                req = _required(tree)
                if req is None:
                    always.setdefault(name, {}).setdefault(lang, []).append(pat)
                    continue
                pid = len(patterns)
                patterns.append((name, lang, re.compile(r"(?<!\w)(?:" + pat + r")(?!\w)")))
                width = tree.getwidth()[1]
                reach.append(min(width, 1 << 30))  # unbounded: search from the start
                for lit in req:
                    by_lit.setdefault(lit, []).append(pid)
    lits = set(by_lit)
    prefixes = {w: tuple(w[:k] for k in range(_MIN_LIT, len(w) + 1) if w[:k] in lits) for w in lits}
    trigger = re.compile("(?=(" + _trie_regex(lits) + "))") if lits else _NEVER
    comb = tuple((n, rx) for n, per in always.items() if (rx := _alternation(per)) is not None)
    return Gate(trigger, {k: tuple(v) for k, v in by_lit.items()}, prefixes, tuple(patterns), tuple(reach), comb)


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
