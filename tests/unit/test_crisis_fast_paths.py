"""The crisis tier's shortcuts give exactly what the plain way gives.

Speed work on the detector (whole-word checks in the gate, literals found per distinct word, cue patterns skipped
when their words are absent, cheaper normalisation and language passes) must never change a result. Each
shortcut is checked here against the plain computation it replaces:
- the gate against a reference gate: the trie over the whole text, every woken pattern run, no word checks;
- the detector against itself with the cue-word shortcut turned off;
- each normalisation and language fast path against the regex or loop it stands for (hypothesis).
The texts include strings sampled from every lexicon pattern, so every pattern's word analysis is exercised.
"""

from __future__ import annotations

import json
import random
import re
import re._parser as sre  # type: ignore[import-not-found]
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.crisis_speed import make_messages
from bot.crisis import detect, language, lexicon, normalize
from bot.crisis.detect import _Detector
from bot.crisis.normalize import variants

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "crisis_cases.jsonl"
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _literal_occurrences(gate: lexicon.Gate, text: str) -> dict[str, list[int]]:
    """The trie over the whole text (a space put in front so that a word at 0 follows a non-word character
    too): literal -> every word start where it is the longest literal, in order of first appearance."""
    occ: dict[str, list[int]] = {}
    parts = gate.trigger.split(" " + text)
    pos = 0
    for i in range(1, len(parts), 2):
        pos += len(parts[i - 1]) + 1
        occ.setdefault(parts[i], []).append(pos - 1)
        pos += len(parts[i])
    return occ


def reference_matches(gate: lexicon.Gate, text: str) -> list[tuple[int, int, int]]:
    """The gate without its shortcuts: the trie over every word start of the text, every woken pattern run
    (after its substring checks only), in the order the literals first occur."""
    occ = _literal_occurrences(gate, text)
    for lit in gate.inside:   # literals that may sit inside a word: every occurrence, overlapping ones too
        if lit in text:
            occ[lit] = [m.start() for m in re.finditer("(?=" + re.escape(lit) + ")", text)]
    woken: dict[int, list[int]] = {}
    for lit, positions in occ.items():
        for pid in gate.wake.get(lit, ()):
            woken[pid] = woken.get(pid, []) + positions
    out: list[tuple[int, int, int]] = []
    for pid, positions in woken.items():
        if all(any(x in text for x in req) for req in gate.checks[pid]):
            gate._run(pid, positions, text, out)
    return out


_CATEGORY_SAMPLE = {sre.CATEGORY_SPACE: " ", sre.CATEGORY_WORD: "a", sre.CATEGORY_DIGIT: "1", sre.CATEGORY_NOT_WORD: "."}


def _sample(seq: object, rng: random.Random, depth: int = 0) -> str:
    """One string the parsed pattern can match (lookarounds ignored, repeats kept short)."""
    out = []
    for op, av in seq:  # type: ignore[attr-defined]
        if op is sre.LITERAL:
            out.append(chr(av))
        elif op is sre.NOT_LITERAL:
            out.append("z" if chr(av) != "z" else "y")
        elif op is sre.IN:
            members = [chr(a) for o, a in av if o is sre.LITERAL] + [chr(a[0]) for o, a in av if o is sre.RANGE]
            members += [_CATEGORY_SAMPLE.get(a, "a") for o, a in av if o is sre.CATEGORY]
            out.append(" " if any(o is sre.NEGATE for o, _ in av) else rng.choice(members or ["a"]))
        elif op is sre.ANY:
            out.append(rng.choice("ab "))
        elif op is sre.BRANCH:
            out.append(_sample(rng.choice(av[1]), rng, depth + 1))
        elif op is sre.SUBPATTERN:
            out.append(_sample(av[-1], rng, depth + 1))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            lo, hi, sub = av
            for _ in range(rng.randint(lo, min(hi, lo + (1 if depth < 3 else 0)))):
                out.append(_sample(sub, rng, depth + 1))
    return "".join(out)


@cache
def corpus() -> tuple[str, ...]:
    """Fixture cases, benchmark messages, and phrases sampled from every gate pattern with words around them."""
    rng = random.Random(20261126)
    texts = [json.loads(line)["text"] for line in FIXTURES.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts += make_messages(600, 3)
    gate = lexicon.get().gate
    filler = "today was long and i went to work then she said my friend never".split()
    for _name, _lang, rx in gate.patterns:
        tree = sre.parse(rx.pattern)
        for _ in range(2):
            phrase = _sample(tree, rng)
            before = " ".join(rng.choice(filler) for _ in range(rng.randint(0, 4)))
            after = " ".join(rng.choice(filler) for _ in range(rng.randint(0, 4)))
            texts.append(f"{before} {phrase}{rng.choice(['', '.', ',', '!'])} {after}".strip())
    texts += [" ".join(texts[i:i + 40]) for i in range(0, 400, 40)]   # long pastes
    return tuple(texts)


def test_gate_matches_the_reference_gate() -> None:
    gate = lexicon.get().gate
    compared = differing = 0
    for text in corpus():
        for form in variants(text):
            compared += 1
            if gate.matches(form) != reference_matches(gate, form):
                differing += 1
    assert compared > 3000 and differing == 0


def test_every_pattern_was_exercised_and_most_were_found() -> None:
    """The sampled phrases reach the patterns: the comparison above is not over texts that match nothing."""
    gate = lexicon.get().gate
    seen = {pid for text in corpus() for form in variants(text) for pid, _s, _e in gate.matches(form)}
    assert len(seen) > 0.8 * len(gate.patterns)


def test_word_checks_skip_most_woken_patterns() -> None:
    """What the shortcut is for: most patterns the trie wakes on ordinary messages are skipped unrun."""
    gate = lexicon.get().gate
    woken = passed = 0
    for text in make_messages(300, 5):
        form = variants(text)[0]
        present = 0
        for word in set(re.findall(r"\w+", form)) & gate.vocabulary:
            present |= gate.word_mask[word]
        for lit in _literal_occurrences(gate, form):
            for pid in gate.wake.get(lit, ()):
                woken += 1
                passed += gate.needs_mask[pid] & ~present == 0
    assert woken and passed < 0.5 * woken


def test_cue_shortcut_changes_no_assessment() -> None:
    plain = _Detector(lexicon.get())
    plain.cue_words = {}
    fast = detect._get()
    for text in corpus():
        assert fast.assess(text, None) == plain.assess(text, None)


# -- normalisation fast paths ---------------------------------------------------------------------------------
TRICKY = st.text(alphabet=st.sampled_from(list("ab e1!|@$*#'`.-_\t\n\r\x0b\x0c\x1c\x1f\x00\x7f\u00a0\u2028\u0085"
                                               "\u200b’“”«»é🙂💊")), max_size=60)


@FAST
@given(TRICKY)
def test_isprintable_covers_controls_newlines_and_other_whitespace(s: str) -> None:
    if s.isprintable():
        assert normalize._ASCII_CONTROL.search(s) is None and normalize._NEWLINE_CHAR.search(s) is None
        assert all(ch == " " for ch in s if ch.isspace())
        if "  " not in s:
            assert " ".join(s.split()) == s.strip(" ")


@FAST
@given(TRICKY)
def test_substring_tests_equal_the_class_scans(s: str) -> None:
    assert any(map(s.__contains__, normalize.EMOJI_TOKENS)) == (normalize._EMOJI_RE.search(s) is not None)
    assert any(map(s.__contains__, normalize._LEET_CHARS)) == (re.search("[0-9@$!|€]", s) is not None)
    marks = s
    for mark, plain in normalize._MARKS_PLAIN:
        marks = marks.replace(mark, plain)
    assert marks == s.translate(normalize._APOSTROPHES).translate(normalize._QUOTES)


@FAST
@given(st.text(alphabet=st.sampled_from(list("abkil1!3$@|€ 5.")), max_size=40))
def test_leet_shortcuts_equal_the_plain_patterns(s: str) -> None:
    assert (normalize._LEET_HINT.search(s) is None) == (re.search(r"[a-z][0-9@$!|€]|[0-9@$!|€][a-z]", s) is None)
    plain = re.sub(r"[a-z0-9@$!|€]*[a-z][a-z0-9@$!|€]*", normalize._deleet_token, s)
    assert normalize._LEET_TOKEN.sub(normalize._deleet_token, s) == plain


@FAST
@given(st.text(alphabet=st.sampled_from(list("abz_09 .,'-!") + ["é"]), max_size=60))
def test_spaced_translation_gives_the_regex_words(s: str) -> None:
    if s.isascii():
        assert set(s.translate(lexicon._NON_WORD_TO_SPACE).split()) == set(re.findall(r"\w+", s))


# -- language fast paths --------------------------------------------------------------------------------------
@FAST
@given(st.text(alphabet=st.sampled_from(list("abcdeijklnoqsuzh'_1 .")), max_size=80))
def test_ascii_words_and_mark_leads_equal_the_full_patterns(s: str) -> None:
    assert language._ASCII_WORD.findall(s) == language._WORD.findall(s)
    for rx in (*language._MARKS.values(), *language._ASCII_MARKS.values()):
        leads = language._MARK_LEADS[rx]
        if leads is not None and not any(lead in s for lead in leads):
            assert rx.findall(s) == []


@FAST
@given(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5]), min_size=7, max_size=7),
       st.one_of(st.none(), st.sampled_from(language.SUPPORTED)))
def test_ranking_breaks_ties_in_language_order(values: list[float], hint: str | None) -> None:
    sc = dict(zip(language.SUPPORTED, values))
    ranked = sorted(sc.items(), key=lambda kv: (-kv[1], language.SUPPORTED.index(kv[0])))
    best = language.guess_from_scores(sc, hint)
    if hint is None and not (ranked[0][1] < 1.0 or (ranked[0][1] == ranked[1][1] and sc["en"] == ranked[0][1])):
        assert best == ranked[0][0]


@pytest.mark.parametrize("cue", ["negation_before", "past", "ongoing", "fiction_context"])
def test_cue_word_sets_are_found(cue: str) -> None:
    """Each cue pattern has a word set, so the shortcut applies (and stays tested above)."""
    assert detect._get().cue_words[cue]


def test_cue_shortcut_still_runs_where_a_window_cuts_a_word() -> None:
    """A context window that starts inside a word leaves a fragment that is a whole word of the window
    ("unrecovered" cut to "recovered"): the shortcut must not rule the cue out by the text's own words."""
    fast = detect._get()
    plain = _Detector(lexicon.get())
    plain.cue_words = {}
    # filler sized so that the self-harm hit starts 160 characters (detect.SENTENCE_SPAN) after the "r" of
    # "unrecovered": its sentence window then opens on the fragment "recovered"
    for size in range(detect.SENTENCE_SPAN - 20, detect.SENTENCE_SPAN):
        text = "unrecovered " + ("bcdf" * 50)[:size] + " cut myself"
        seg = variants(text)[0]
        hits = [start for _pid, start, _end in lexicon.get().gate.matches(seg)]
        if hits and hits[0] - detect.SENTENCE_SPAN == seg.index("recovered"):
            break
    else:
        raise AssertionError("no filler size puts the window edge inside the word")
    start = hits[0]
    assert fast.cue_words["past"].isdisjoint(re.findall(r"\w+", seg))   # the text's own words rule it out
    assert fast._may_match("past", dict.fromkeys(re.findall(r"\w+", seg)), seg, start - detect.SENTENCE_SPAN, start)
    assert fast.assess(text, None) == plain.assess(text, None)
    assert "past" in plain.assess(text, None).signals   # the window really does read the fragment
