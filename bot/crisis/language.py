"""A tiny offline language guesser for the seven languages Haven's crisis lexicons cover.

Why not a library: the crisis tier must run on every message, offline, in microseconds, with no model files.
Detection itself does not depend on this guess (every language's lexicon is matched on every message); the
guess picks the reply language and breaks ties. So a simple, explainable score is enough: frequent function
words (kept below as data) plus a few letters and letter pairs that only some of the languages use. The
person's locale (the hint) wins whenever the text is short or the evidence is thin, because a two-word
message says little and the locale is usually right.
"""

from __future__ import annotations

import re
from operator import itemgetter

from bot.crisis.lexicon import leading_literals

SUPPORTED: tuple[str, ...] = ("en", "es", "de", "fr", "pt", "it", "nl")
DEFAULT = "en"

# Function words that are frequent in one language and rare in the others (ambiguous ones left out).
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and is are was were i im you my me it this that with have has not dont cant "
                    "what how want to of just so but about because feel think would will really anymore "
                    "myself been they she he her his we your from know can do if when".split()),
    "es": frozenset("el la los las y es que de del por para con una uno no yo mi me te tu pero muy "
                    "estoy esta está como qué quiero porque cuando más ya nada todo soy tengo ser "
                    "siento vida hay eso esto también nadie".split()),
    "de": frozenset("der die das und ist ich nicht mich mir ein eine einen zu mit auf den dem ich du "
                    "sie es wir was wie aber auch noch nur mehr will kann bin habe hab sich kein "
                    "keine mein meine dass weil oder schon immer leben".split()),
    "fr": frozenset("le la les et est je ne pas suis de des du un une que qui mais pour avec moi mon "
                    "ma mes tu il elle plus jai cest très tout rien veux vie dans sur ce ça suis "
                    "jen nai envie fait".split()),
    "pt": frozenset("o a os as e é que de do da dos das não eu meu minha me com para um uma mas "
                    "muito estou está isso isto mais nada tudo sou tenho quero porque quando vida "
                    "ninguém também você ele ela".split()),
    "it": frozenset("il lo la gli le e è che di del della non io mi mio mia ma per con un una sono "
                    "sto molto più niente tutto voglio perché quando vita nessuno anche questo "
                    "questa ho ti cosa come".split()),
    "nl": frozenset("de het een en is ik niet mij me mijn je jij wat hoe maar ook nog meer wil kan "
                    "ben heb zich geen dat omdat of al altijd leven van voor met op zijn er dit "
                    "niemand echt".split()),
}
# Letters/letter pairs that are strong evidence for a language (score per occurrence, capped).
# Every alternative starts with a literal character (a word start is checked behind it, "ich(?<!\wich)"
# rather than "\bich") so the regex engine jumps between candidate characters instead of trying each position.
_MARKS: dict[str, re.Pattern[str]] = {
    "es": re.compile(r"ñ|¿|¡|ción\b|án\b|én\b|ín\b|ón\b|ún\b|q\b(?<!\wq)"),
    "de": re.compile(r"ß|ä|ö|ü|sch|ich\b(?<!\wich)|ung\b|keit\b"),
    "fr": re.compile(r"ç|œ|è|ê|à|j'(?<!\wj')|c'(?<!\wc')|eux\b|aient\b"),
    "pt": re.compile(r"ã|õ|ç[ãõa-z]|ção\b|ções\b|não\b(?<!\wnão)|lh|nh"),
    "it": re.compile(r"che\b(?<!\wche)|zione\b|gli\b|ò\b|ù\b|non\b(?<!\wnon)|cch|zz"),
    "nl": re.compile(r"ij|oe|niet\b(?<!\wniet)|het\b(?<!\whet)|aa|uu|ik\b(?<!\wik)"),
}
#: The same marks for an all-ASCII sample: only the alternatives that can match ASCII text are kept. An
#: alternative that needs a character the sample does not contain never matches, so dropping it changes no count,
#: and most messages are plain ASCII: the engine then skips ahead to far fewer candidate characters.
_ASCII_MARKS: dict[str, re.Pattern[str]] = {
    "es": re.compile(r"q\b(?<!\wq)"),
    "de": re.compile(r"sch|ich\b(?<!\wich)|ung\b|keit\b"),
    "fr": re.compile(r"j'(?<!\wj')|c'(?<!\wc')|eux\b|aient\b"),
    "pt": re.compile(r"lh|nh"),
    "it": re.compile(r"che\b(?<!\wche)|zione\b|gli\b|non\b(?<!\wnon)|cch|zz"),
    "nl": _MARKS["nl"],
}

#: mark regex -> the literals its matches begin with (None: always run it)
_MARK_LEADS: dict[re.Pattern[str], frozenset[str] | None] = {
    rx: leading_literals(rx.pattern) for rx in (*_MARKS.values(), *_ASCII_MARKS.values())}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
#: The same on casefolded ASCII text, where a letter is a-z: a plain range test per character instead of
#: Unicode category lookups.
_ASCII_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_MAX_CHARS = 1000


def _norm_hint(hint: str | None) -> str | None:
    if not hint or not isinstance(hint, str):
        return None
    base = hint.strip().replace("_", "-").split("-")[0].casefold()
    return base if base in SUPPORTED else None


#: word -> the languages whose function-word list holds it (one dict lookup per distinct word).
_WORD_LANGS: dict[str, tuple[str, ...]] = {}
for _lang, _words in _STOPWORDS.items():
    for _w in _words:
        _WORD_LANGS[_w] = _WORD_LANGS.get(_w, ()) + (_lang,)
_MARK_CAP = 6
_SCORE = itemgetter(1)


def scores(text: str) -> dict[str, float]:
    """Evidence per language; exposed for tests and tie-breaking."""
    sample = text[:_MAX_CHARS].casefold()
    out = dict.fromkeys(SUPPORTED, 0.0)
    ascii_only = sample.isascii()
    word_langs = _WORD_LANGS.get
    for w in (_ASCII_WORD if ascii_only else _WORD).findall(sample):   # whole-number sums: exact in any order
        langs = word_langs(w)
        if langs is not None:
            for lang in langs:
                out[lang] += 1
    contains = sample.__contains__
    for lang, rx in (_ASCII_MARKS if ascii_only else _MARKS).items():
        leads = _MARK_LEADS[rx]
        if leads is not None and not any(map(contains, leads)):
            continue   # no match can start here: it would add nothing (a few substring tests beat a regex call)
        # findall counts the same non-overlapping matches as finditer, in C; the sample is bounded.
        found = len(rx.findall(sample))
        out[lang] += (found if found < _MARK_CAP else _MARK_CAP) * 0.5
    return out


def guess_from_scores(sc: dict[str, float], hint: str | None = None) -> str:
    """guess_language() for scores already computed (the detector needs both and computes them once)."""
    hinted = _norm_hint(hint)
    # Highest score first, ties in SUPPORTED order: the pairs are listed in that order and the sort is stable
    # (reverse=True keeps equal items in their original order), so the score alone is the key.
    ranked = sorted(zip(SUPPORTED, map(sc.__getitem__, SUPPORTED)), key=_SCORE, reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if hinted is not None:
        # The locale stands unless the text clearly says otherwise.
        if top < 3.0 or top < sc[hinted] + 2.0 or top < 1.5 * max(sc[hinted], 0.5):
            return hinted
        return best
    if top < 1.0 or (top == second and sc[DEFAULT] == top):
        return DEFAULT
    return best


def guess_language(text: str, hint: str | None = None) -> str:
    """Best guess among SUPPORTED; the hint wins for short or ambiguous text. Never raises."""
    try:
        sc = scores(text if isinstance(text, str) else str(text))
    except Exception:  # noqa: BLE001 - language is a nicety; never let it break detection
        return _norm_hint(hint) or DEFAULT
    return guess_from_scores(sc, hint)
