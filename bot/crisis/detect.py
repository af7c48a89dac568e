"""The deterministic crisis tier: one message in, one Assessment out. Runs before anything else answers.

Why deterministic: it must work with no network and no key, give the same answer every time (so it can be
tested and audited), and be fast enough to run on every message. A model may later raise its level, never
lower it (design.md §4).

How it decides, in order:
1. Normalise (normalize.py) and match every language's lexicon (lexicon.py): each category is one regex.
2. Drop hits that overlap an exception span: an explicit denial ("I'm not suicidal"), an idiom ("this exam
   is killing me"), a technical phrase ("kill the process"), a fiction/game phrase ("in the game I died").
3. Read each remaining hit's context within its clause: a negation right before it ("I would never ...")
   cancels it; a nearest subject that is someone else ("my friend says she wants to ...") makes it a
   third-party concern (except for patterns flagged `any_subject`, such as normalising self-harm, which count
   whoever the subject is unless they are someone else's reported words: "my friend thinks ..."); an explicit
   past cue without a recency cue ("I used to ..., two years clean")
   lowers it to low with `past`.
4. Levels follow Columbia triage (levels.py), then combinations raise them: ideation with a method word is
   high; risk of moderate or more with a timeframe ("tonight") or with means is imminent.
Every step only looks at the first and last part of very long messages, so the work per message is bounded
and a goodbye at the end of a long text is not lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter

from bot.crisis import lexicon
from bot.crisis.language import guess_from_scores, guess_language, scores
from bot.crisis.levels import Assessment, RiskLevel
from bot.crisis.normalize import make_unmasker, variants

#: Normalised characters scanned from the start, and from the end, of one message.
HEAD_CHARS = 20_000
TAIL_CHARS = 4_000
#: How far back (characters) context cues are read.
LOOKBACK = 80
SENTENCE_SPAN = 160
#: How far after a past-tense hit (characters, across sentences) a sign that it carried on is looked for.
ONGOING_SPAN = 300

_SENTENCE_BREAK = re.compile(r"[.!?;]")
_WORD = re.compile(r"\w+")
_RELATIVE_VERBS = frozenset({"know", "knew", "love", "loved", "met", "saw", "dated", "miss", "used", "work",
                             "worked", "went", "grew", "care", "trust", "follow", "followed", "watched"})
#: Self categories whose presence lets a method word raise the level to high.
_IDEATION_LIKE = frozenset({"wish_dead", "ideation", "intent", "plan", "farewell"})
#: Anything in these categories means the writer may be at risk of suicide or self-harm.
_SELF_RISK = frozenset({"wish_dead", "ideation", "intent", "plan", "farewell", "method_seeking",
                        "self_harm", "attempt", "means", "means_at_hand", "attempt_in_progress"})
_COUNT = itemgetter(1)
_FALLBACK = re.compile(r"suicid|kill\s*my\s*self|want\s*to\s*die|end\s*my\s*life|kms|unalive|self\s*harm")


@dataclass(slots=True)
class _Hit:
    cat: str
    start: int
    end: int
    lang: str
    free: bool = False   # from a pattern flagged any_subject (lexicon.PATTERN_FLAGS)


def _merge(hits: list[_Hit]) -> list[_Hit]:
    """Overlapping matches of one category are one finding (as one alternation would have reported)."""
    hits.sort(key=lambda h: (h.start, -h.end))
    out: list[_Hit] = []
    for h in hits:
        if out and h.start < out[-1].end:
            if h.end > out[-1].end or (h.free and not out[-1].free):
                last = out[-1]
                out[-1] = _Hit(h.cat, last.start, max(h.end, last.end), last.lang, last.free or h.free)
            continue
        out.append(h)
    return out


class _Detector:
    """Holds the compiled lexicon; stateless per call, so one instance serves every thread."""

    def __init__(self, lex: lexicon.Compiled) -> None:
        self.lex = lex
        self.unmask = make_unmasker(lex.mask_words)
        #: cue pattern -> words one of which every match holds whole, or None (see _may_match)
        self.cue_words: dict[str, frozenset[str] | None] = {}
        for cue in ("negation_before", "past", "ongoing", "fiction_context"):
            sets = lexicon.word_sets(getattr(lex, cue).pattern)
            self.cue_words[cue] = min(sets, key=len) if sets else None

    # -- context readers -------------------------------------------------------------------------------
    def _clause_start(self, seg: str, pos: int) -> int:
        lo = max(0, pos - LOOKBACK)
        last = lo
        for m in self.lex.clause_break.finditer(seg, lo, pos):
            last = m.end()
        return last

    def _negated(self, seg: str, start: int, clause: int | None = None, words: dict[str, None] | None = None) -> bool:
        """`clause`: the clause start for `start` if the caller has it already (it is the same for every
        reader of one hit, so _segment computes it once). `words`: the segment's words (see _may_match)."""
        lo = self._clause_start(seg, start) if clause is None else clause
        window = seg[lo:start]
        return (bool(window) and self._may_match("negation_before", words, seg, lo, start)
                and self.lex.negation_before.search(window) is not None)

    def _subject(self, seg: str, start: int, lang: str, clause: int | None = None) -> str:
        """'self', 'other' or '' (none found: a dropped subject, as in "want to die", is the writer)."""
        first, other = self.lex.persons.get(lang, (self.lex.first_person, self.lex.other_person))
        toks = _WORD.findall(seg, self._clause_start(seg, start) if clause is None else clause, start)
        for k in range(len(toks) - 1, -1, -1):
            tok = toks[k]
            if tok in first:
                # "a man I know ..." / "someone I love ...": the I sits in a relative clause.
                if k > 0 and toks[k - 1] in other and k + 1 < len(toks) and toks[k + 1] in _RELATIVE_VERBS:
                    return "other"
                return "self"
            if tok in other:
                return "other"
        return ""

    def _reported(self, seg: str, start: int, lang: str) -> bool:
        """Is the text before `start` (same sentence, within LOOKBACK) someone else's reported speech or
        opinion: the nearest reporting word ("says", "thinks") has another person, not "I", as its subject?"""
        lo = max(0, start - LOOKBACK)
        cut = lo
        for m in _SENTENCE_BREAK.finditer(seg, lo, start):
            cut = m.end()
        toks = _WORD.findall(seg, cut, start)
        reporting = self.lex.reporting.get(lang, frozenset())
        first, other = self.lex.persons.get(lang, (self.lex.first_person, self.lex.other_person))
        for k in range(len(toks) - 1, -1, -1):
            if toks[k] in reporting:
                for j in range(k - 1, -1, -1):
                    if toks[j] in first:
                        return False
                    if toks[j] in other:
                        return True
                return False
        return False

    def _may_match(self, cue: str, words: dict[str, None] | None, seg: str, lo: int, hi: int) -> bool:
        """False only if cue pattern `cue` cannot match in seg[lo:hi]: every match holds one of its whole
        words (lexicon._word_sets) and none is among the segment's words. Exact only where the slice edges
        do not cut a word (a cut word's fragment is a whole word of the slice), so then it says True."""
        needed = self.cue_words.get(cue)
        if needed is None or words is None or not needed.isdisjoint(words):
            return True
        n = len(seg)
        if 0 < lo < n and ((c := seg[lo - 1]).isalnum() or c == "_") and ((c := seg[lo]).isalnum() or c == "_"):
            return True
        if 0 < hi < n and ((c := seg[hi]).isalnum() or c == "_") and ((c := seg[hi - 1]).isalnum() or c == "_"):
            return True
        return False

    def _is_past(self, seg: str, start: int, end: int, memo: dict[tuple[int, int], bool] | None = None,
                 words: dict[str, None] | None = None) -> bool:
        """`memo`: (sentence start, end) -> has a past cue and no recency cue, shared by the hits of one
        segment (several hits often sit in one sentence, and the cue regexes are long alternations)."""
        lo, hi = max(0, start - SENTENCE_SPAN), min(len(seg), end + SENTENCE_SPAN)
        left = seg[lo:start]
        cut = [m.end() for m in _SENTENCE_BREAK.finditer(left)]
        s0 = lo + (cut[-1] if cut else 0)
        m = _SENTENCE_BREAK.search(seg, end, hi)
        s1 = m.start() if m else hi
        past = None if memo is None else memo.get((s0, s1))
        if past is None:
            sentence = seg[s0:s1]
            past = (self._may_match("past", words, seg, s0, s1) and self.lex.past.search(sentence) is not None
                    and self.lex.recent.search(sentence) is None)
            if memo is not None:
                memo[(s0, s1)] = past
        if not past:
            return False
        # "A couple of years ago I burnt myself ... it became my go-to": a past start that carried on is not past.
        stop = min(len(seg), end + ONGOING_SPAN)
        return not self._may_match("ongoing", words, seg, end, stop) or self.lex.ongoing.search(seg, end, stop) is None

    # -- one segment -------------------------------------------------------------------------------------
    def _segment(self, seg: str) -> tuple[RiskLevel, set[str], dict[str, int]]:
        lex = self.lex
        spans: list[tuple[int, int, str]] = []
        signals: set[str] = set()
        raw: dict[str, list[_Hit]] = {}
        gate = lex.gate
        patterns, free = gate.patterns, gate.any_subject
        found, words = gate.scan(seg)
        for pid, start, end in found:
            name, lang, _rx = patterns[pid]
            raw.setdefault(name, []).append(_Hit(name, start, end, lang, pid in free))
        for name, rx in gate.always:
            for m in rx.finditer(seg):
                raw.setdefault(name, []).append(_Hit(name, m.start(), m.end(), m.lastgroup or "en"))
        hits: list[_Hit] = []
        for name, found_hits in raw.items():
            merged = _merge(found_hits) if len(found_hits) > 1 else found_hits
            if name in lexicon.CATEGORIES:
                hits.extend(merged)
            else:
                spans.extend((h.start, h.end, name) for h in merged)
                signals.add(name)
        # language -> live hits, in first-seen order (a plain dict: cheaper than a Counter, same order)
        langs: dict[str, int] = {}
        if not hits:
            return RiskLevel.NONE, signals, langs
        fiction: bool | None = None   # read only if a hit is someone else's
        active: dict[str, int] = {}   # category -> count of live, self, present hits
        past: set[str] = set()
        past_memo: dict[tuple[int, int], bool] = {}
        third = False
        for h in hits:
            # An exception cancels a hit it overlaps, unless the hit wraps it: "the only reason I didn't
            # kill myself ..." contains a denial but is itself ideation.
            if spans and any(s < h.end and h.start < e and not (h.start <= s and e <= h.end and e - s < h.end - h.start)
                             for s, e, _name in spans):
                continue
            spec = lexicon.CATEGORIES[h.cat]
            clause = self._clause_start(seg, h.start) if spec["negatable"] or spec["subject"] else None
            if spec["negatable"] and self._negated(seg, h.start, clause, words):
                signals.add("negated")
                continue
            langs[h.lang] = langs.get(h.lang, 0) + 1
            subject = self._subject(seg, h.start, h.lang, clause) if spec["subject"] else ""
            if h.free and spec["subject"]:
                # Encouraging or normalising self-harm is risk content whoever it is about; only someone
                # else's reported words ("my friend thinks ...") stay a third-party concern.
                subject = "other" if self._reported(seg, h.start, h.lang) else ""
            if h.cat == "violence_to_others" and subject != "self":
                # Threats are only the writer's when the writer says "I" (before, or as the first word:
                # pro-drop languages put the person in the verb, "quiero matarlo").
                first = _WORD.match(seg, h.start)
                if subject == "other" or first is None or first.group(0) not in self.lex.persons[h.lang][0]:
                    continue
            if h.cat == "third_party" or subject == "other":
                if fiction is None:
                    fiction = (self._may_match("fiction_context", words, seg, 0, len(seg))
                               and lex.fiction_context.search(seg) is not None)
                if fiction:
                    signals.add("fiction")
                else:
                    third = True
                continue
            if spec["past"] and self._is_past(seg, h.start, h.end, past_memo, words):
                past.add(h.cat)
                continue
            active[h.cat] = active.get(h.cat, 0) + 1
        return self._combine(active, past, third, signals), signals, langs

    @staticmethod
    def _combine(active: dict[str, int], past: set[str], third: bool, signals: set[str]) -> RiskLevel:
        level = RiskLevel.NONE
        for cat in active:
            spec = lexicon.CATEGORIES[cat]
            if spec["level"] is not None:
                level = max(level, spec["level"])
                signals.add(spec["signal"])
        self_risk = not _SELF_RISK.isdisjoint(active)
        # In the lexicon's order, not the set's: set order follows per-process string hashing, and `haven
        # classify` must give the same signals on every run.
        for cat in (name for name in lexicon.CATEGORIES if name in past) if past else ():
            spec = lexicon.CATEGORIES[cat]
            past_level = spec.get("past_level", RiskLevel.LOW)
            if past_level > level:
                level = past_level
                signals.add(spec["signal"])
            signals.add("past")
        # A wish to be dead together with more hopelessness or another such wish, or three separate signs of
        # hopelessness/entrapment, in one message read as more than a passing thought: Haven checks safety
        # (moderate) rather than just listening (low).
        lows = active.get("wish_dead", 0) + active.get("distress", 0)
        if level == RiskLevel.LOW and ((active.get("wish_dead") and lows >= 2) or lows >= 3):
            level = RiskLevel.MODERATE
            signals.add("cumulative")
        if "method_term" in active and active.keys() & _IDEATION_LIKE:
            level = max(level, RiskLevel.HIGH)
            signals.add("method")
        if "timeframe" in active and self_risk:
            if level >= RiskLevel.MODERATE:
                level = RiskLevel.IMMINENT
                signals.add("timeframe")
            elif level == RiskLevel.LOW:
                level = RiskLevel.MODERATE
                signals.add("timeframe")
        if "means" in active and (active.keys() & _SELF_RISK) - {"means"}:
            level = RiskLevel.IMMINENT
        if third:
            signals.add("third_party_concern")
            level = max(level, RiskLevel.LOW)
        return level

    # -- public ------------------------------------------------------------------------------------------
    def assess(self, text: str, lang_hint: str | None) -> Assessment:
        forms = variants(text, self.unmask)
        level = RiskLevel.NONE
        signals: set[str] = set()
        langs: dict[str, int] = {}   # what Counter += would hold: counts are positive, first-seen order
        for form in forms:
            segs = [form] if len(form) <= HEAD_CHARS + TAIL_CHARS else [form[:HEAD_CHARS], form[-TAIL_CHARS:]]
            for seg in segs:
                lv, sg, lg = self._segment(seg)
                level = max(level, lv)
                signals |= sg
                for k, v in lg.items():
                    langs[k] = langs.get(k, 0) + v
        raw = text[:2000] if isinstance(text, str) else forms[0][:2000]
        lang = self._language(raw, lang_hint, langs)
        return Assessment(level, tuple(sorted(signals)), lang)

    @staticmethod
    def _language(form: str, hint: str | None, langs: dict[str, int]) -> str:
        try:
            sc = scores(form[:2000])
        except Exception:  # noqa: BLE001 - language is a nicety; never let it break detection
            return guess_language("", hint)
        lang = guess_from_scores(sc, hint)
        if hint is None and langs and max(sc.values()) < 2.0:
            # Counter.most_common(1): the first of the largest counts, in insertion order (max() keeps the
            # first maximum it sees).
            lang = max(langs.items(), key=_COUNT)[0]
        return lang


_detector: _Detector | None = None


def _get() -> _Detector:
    global _detector
    if _detector is None:
        _detector = _Detector(lexicon.get())
    return _detector


def warm_up() -> int:
    """Compile the lexicons now (call at start-up): a broken file raises LexiconError here, loudly, instead
    of degrading detection to the fallback later. Returns the number of patterns loaded."""
    return _get().lex.pattern_count


def assess(text: str, lang_hint: str | None = None) -> Assessment:
    """Assess one message. Pure and deterministic; never raises.

    If something unexpected breaks inside (it should not), a crude pattern decides between none and
    moderate so a crisis message still reaches the safety reply rather than vanishing in an exception.
    """
    try:
        return _get().assess(text, lang_hint)
    except Exception:  # noqa: BLE001 - the safety path must always produce a level
        try:
            raw = text if isinstance(text, str) else str(text)
            hit = _FALLBACK.search(raw[:HEAD_CHARS].casefold()) is not None
        except Exception:  # noqa: BLE001
            hit = False
        lvl = RiskLevel.MODERATE if hit else RiskLevel.NONE
        return Assessment(lvl, ("detector_error",), "en")
