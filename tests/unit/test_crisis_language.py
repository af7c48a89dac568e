"""The offline language guesser: clear text wins, the locale wins for short or ambiguous text."""

from __future__ import annotations

import pytest

from bot.crisis.language import SUPPORTED, guess_language


@pytest.mark.parametrize(("text", "lang"), [
    ("I don't know what to do anymore, everything feels heavy", "en"),
    ("no sé qué hacer, estoy muy cansada de todo", "es"),
    ("ich weiß nicht mehr weiter, alles ist zu viel für mich", "de"),
    ("je ne sais plus quoi faire, je suis tellement fatiguée", "fr"),
    ("não sei mais o que fazer, estou muito cansada de tudo", "pt"),
    ("non so più cosa fare, sono stanca di tutto questo", "it"),
    ("ik weet niet meer wat ik moet doen, het is allemaal te veel", "nl"),
])
def test_clear_text(text: str, lang: str) -> None:
    assert guess_language(text) == lang
    assert guess_language(text, "en") == lang or lang == "en"


def test_hint_wins_for_short_text() -> None:
    assert guess_language("ok", "pt-BR") == "pt"
    assert guess_language("kms", "nl") == "nl"
    assert guess_language("hola", "de_DE") == "de"


def test_unknown_input_defaults() -> None:
    assert guess_language("") == "en"
    assert guess_language("привет как дела") == "en"
    assert guess_language("你好", "xx") == "en"
    assert guess_language("12345 !!!", "it") == "it"


def test_always_returns_a_supported_code() -> None:
    for text in ("", "a", "🙂", "\u202e\u200b", "x" * 50_000):
        assert guess_language(text) in SUPPORTED
