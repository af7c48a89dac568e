"""Properties of the detector that must hold for any input (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.crisis.detect import assess
from bot.crisis.levels import Assessment, RiskLevel
from bot.crisis.normalize import normalize

CRISIS = ["I want to kill myself", "I'm going to end my life tonight", "quiero morir", "ich will sterben",
          "je veux mourir", "voglio morire", "ik wil dood", "quero morrer", "how many pills would it take to die"]
BENIGN = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
# Benign filler without words that can negate, quote or re-attribute what follows.
SAFE_FILLER = st.lists(st.sampled_from(["today", "was", "long", "work", "coffee", "rain", "bus", "home", "tired",
                                        "weekend", "music", "cat", "tea", "walk", "the", "a"]), max_size=30)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(BENIGN, st.one_of(st.none(), st.sampled_from(["en", "es", "de-DE", "xx", ""])))
def test_never_raises_and_returns_a_level(text: str, hint: str | None) -> None:
    a = assess(text, hint)
    assert isinstance(a, Assessment) and isinstance(a.level, RiskLevel)
    assert all(isinstance(s, str) for s in a.signals)


@FAST
@given(BENIGN)
def test_deterministic(text: str) -> None:
    assert assess(text) == assess(text)


@FAST
@given(SAFE_FILLER, st.sampled_from(CRISIS))
def test_adding_a_crisis_phrase_never_lowers_the_level(words: list[str], phrase: str) -> None:
    benign = " ".join(words)
    before = assess(benign).level
    after = assess(benign + ". " + phrase).level
    assert after >= before and after >= RiskLevel.MODERATE


@FAST
@given(st.text(alphabet="\u200b\u200c\u200d\u2060\ufeff\u202e\u202d", max_size=5), st.sampled_from(CRISIS))
def test_invisible_characters_do_not_hide_a_crisis(noise: str, phrase: str) -> None:
    mid = len(phrase) // 2
    assert assess(phrase[:mid] + noise + phrase[mid:]).level >= RiskLevel.MODERATE


def test_odd_inputs() -> None:
    for text in ["", " ", "\x00\x01\x02", "\ud7ff" * 10, "🙂" * 5000, "a" * 1_000_000, "مرحبا بالعالم",
                 "שלום", "x\u0301" * 1000, "I want to die".encode(), None]:
        a = assess(text)  # type: ignore[arg-type]
        assert isinstance(a.level, RiskLevel)


@FAST
@given(BENIGN)
def test_normalize_is_idempotent_enough(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == normalize(normalize(once))
