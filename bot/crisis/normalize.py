"""Text normalisation for crisis matching: one canonical spelling so the lexicons stay small and reviewable.

People in distress rarely type the dictionary form. They stretch words ("dieeee"), space them out ("d i e"),
swap letters for digits or symbols ("su1c1de", "k!ll mys3lf"), mask them ("s*icide"), hide them behind
emoji, and paste text with invisible characters. The lexicons are written against the canonical form made
here, so every rule benefits from every normalisation step without repeating it.

Canonical form: NFKC, casefolded, accents removed ("não" -> "nao"), no zero-width/bidi/control characters, apostrophes removed ("i'm" -> "im",
"j'ai" -> "jai"), meaningful emoji replaced by `emj<name>` tokens, leetspeak and masks undone inside words,
spaced-out letters joined, whitespace collapsed (a line break becomes a sentence boundary " . ").

`variants()` returns one or two strings: the primary form squeezes runs of three or more identical letters
to two ("killll" -> "kill", "sooo" -> "soo"); when that happened, a second form squeezes them to one
("dieeee" -> "die"). Matching both keeps "kill" and "die" intact without a dictionary.

Pure functions, no state beyond compiled tables, safe from any thread.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: Hard cap on raw input we look at; the detector scans a head and a tail of the normalised text anyway.
RAW_HEAD = 60_000
RAW_TAIL = 20_000

# Zero-width, bidi controls, soft hyphen, variation selectors, BOM, C0/C1 controls (tab/newline handled apart).
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\U000e0000-\U000e007f"
)
_COMBINING = re.compile("[\u0300-\u036f]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'", "\u02bc": "'"})
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})
_MARKS_PLAIN = tuple((chr(k), v) for table in (_APOSTROPHES, _QUOTES) for k, v in table.items())

#: Emoji that carry a method/means or death meaning. They only count next to first-person context: the
#: lexicons decide that; here they just become words the lexicons can name.
EMOJI_TOKENS: dict[str, str] = {
    "\U0001f52a": "emjknife",    # kitchen knife
    "\U0001f5e1": "emjknife",    # dagger
    "\U0001fa92": "emjknife",    # razor
    "\U0001f48a": "emjpills",    # pill
    "\U0001f489": "emjpills",    # syringe
    "\U0001faa6": "emjgrave",    # headstone
    "\u26b0": "emjgrave",        # coffin
    "\u26b1": "emjgrave",        # funeral urn
    "\U0001faa2": "emjrope",     # knot
    "\U0001f52b": "emjgun",      # pistol
    "\U0001fa78": "emjblood",    # drop of blood
    "\U0001f309": "emjbridge",   # bridge at night
    "\U0001f3e2": "emjbuilding",  # office building
    "\U0001f686": "emjtrain",    # train
    "\U0001f682": "emjtrain",    # locomotive
}
_EMOJI_RE = re.compile("[" + "".join(re.escape(k) for k in EMOJI_TOKENS) + "]")  # all single code points
_ASCII_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NEWLINE_CHAR = re.compile("[\n\r\u2028\u2029\u0085]")

# Leetspeak inside words only: "su1c1de", "k!ll", "mys3lf". Numbers with units ("50mg") are left alone.
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "i",
         "€": "e", "8": "b"}
#: A leet character next to a letter; written character-first so the engine skips ahead to the (rare) symbols.
_LEET_HINT = re.compile(r"[0-9@$!|€](?<=[a-z][0-9@$!|€])|[0-9@$!|€][a-z]")
_LEET_CHARS = tuple("0123456789@$!|€")
#: A run of letters and leet characters that holds a leet character: only such runs can change (a run of plain
#: letters has no letter beside a leet character), so plain words never reach the Python callback.
_LEET_TOKEN = re.compile(r"[a-z0-9@$!|€]*[0-9@$!|€][a-z0-9@$!|€]*")

# A masked word: letters with '*' (or '#', '_') standing in for a few letters: "s*icide", "self h*rm".
_MASK_TOKEN = re.compile(r"[a-zà-ÿ]*[*#][a-zà-ÿ*#]*")
DEFAULT_MASK_WORDS: frozenset[str] = frozenset({
    "suicide", "suicidal", "kill", "killing", "die", "dying", "dead", "death", "harm", "cut", "cutting",
    "myself", "self", "rape", "raped", "overdose", "hang", "unalive", "wrists", "fuck",
})

_SPACED = re.compile(r"(?<![\w])(?:[a-zà-ÿ][ .\-_]){2,}[a-zà-ÿ](?![\w])")
#: Same condition as _SPACED's start, written letter-first so the engine can skip ahead (no leading lookbehind).
#: Written separator-first (separators are rarer than letters, so the engine skips ahead further): a separator
#: after a letter that starts a word, then letter, separator, letter ending a word.
_SPACED_HINT = re.compile(r"[ .\-_](?<=[a-zà-ÿ][ .\-_])(?<![\w][a-zà-ÿ][ .\-_])[a-zà-ÿ][ .\-_][a-zà-ÿ](?![\w])")
_RUN3 = re.compile(r"([^\W\d_])\1{2,}")
_NEWLINES = re.compile(r"\s*[\n\r\u2028\u2029\u0085]+\s*")
_SPACES = re.compile(r"\s+")


def _deleet_token(m: re.Match[str]) -> str:
    tok = m.group(0)
    if not _LEET_HINT.search(tok):
        return tok
    out = []
    n = len(tok)
    for i, ch in enumerate(tok):
        rep = _LEET.get(ch)
        if rep is None:
            out.append(ch)
            continue
        left = out[-1] if out else ""  # a letter we already un-leeted counts as a letter
        right2 = tok[i + 1:i + 3]
        if left.isalpha() or (not left.isdigit() and len(right2) == 2 and right2.isalpha()) or (
                left in "@$!|€" and i + 1 < n and tok[i + 1].isalpha()):
            out.append(rep)
        else:
            out.append(ch)
    return "".join(out)


def _strip_trailing_bang(text: str) -> str:
    """'!' and '|' mean 'i' only inside a word; a trailing '!!!' is just emphasis."""
    return re.sub(r"(?<=[a-z])[!|]+(?=\s|$|[.,?;:])", " ", text)


class _Unmasker:
    """Replaces masked tokens with the one vocabulary word they can stand for (first match, deterministic)."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = tuple(sorted({w.casefold() for w in words if w}))

    def __call__(self, m: re.Match[str]) -> str:
        tok = m.group(0)
        if not re.search(r"[a-zà-ÿ]", tok):
            return tok
        rx = "".join("[a-zà-ÿ]{0,2}" if ch in "*#" else re.escape(ch) for ch in tok)
        try:
            pat = re.compile(rx)
        except re.error:  # pragma: no cover - the pattern is built from escaped letters only
            return tok
        for w in self.words:
            if pat.fullmatch(w):
                return w
        return tok


_DEFAULT_UNMASKER = _Unmasker(DEFAULT_MASK_WORDS)


def make_unmasker(words: Iterable[str]) -> _Unmasker:
    return _Unmasker(set(words) | DEFAULT_MASK_WORDS)


def _join_spaced(m: re.Match[str]) -> str:
    letters = re.sub(r"[ .\-_]", "", m.group(0))
    # "I w a n t" -> "i want": a leading pronoun/article stays a word of its own.
    if len(letters) >= 4 and letters[0] in "iay":
        return letters[0] + " " + letters[1:]
    return letters


def cap_raw(text: str) -> str:
    """Bound the work on huge inputs but keep both ends: a goodbye often comes last."""
    if len(text) <= RAW_HEAD + RAW_TAIL:
        return text
    return text[:RAW_HEAD] + "\n" + text[-RAW_TAIL:]


def canonical(text: object, unmasker: _Unmasker | None = None) -> str:
    """The canonical matching form (before letter-run squeezing). Never raises on odd input."""
    if not isinstance(text, str):
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", "replace")
        else:
            text = "" if text is None else str(text)
    s = cap_raw(text)
    # Each step below is skipped when a cheap check shows it cannot change anything: most messages are
    # plain ASCII with no newline, mask, leetspeak or spaced-out letters, and every regex pass over a long
    # paste costs time on the safety path.
    if s.isascii():
        # isprintable() (one C pass) is False for every control character and every whitespace but " ".
        if not s.isprintable() and _ASCII_CONTROL.search(s):
            s = _INVISIBLE.sub("", s)
        s = s.casefold()
    else:
        s = unicodedata.normalize("NFKC", s)
        if any(map(s.__contains__, EMOJI_TOKENS)):   # substring tests: far faster than a class scan
            s = _EMOJI_RE.sub(lambda m: " " + EMOJI_TOKENS[m.group(0)] + " ", s)
        s = _INVISIBLE.sub("", s)
        s = s.casefold()
        if not s.isascii():
            # Accents dropped: people type "suicidio"/"nao"/"mude" without them, and lexicons are written so.
            s = unicodedata.normalize("NFC", _COMBINING.sub("", unicodedata.normalize("NFD", s)))
        # The same as translate(_APOSTROPHES).translate(_QUOTES) (no replacement is itself replaced), but a dict
        # translate looks every character up: replacing only the marks present is many times faster.
        for mark, plain in _MARKS_PLAIN:
            if mark in s:
                s = s.replace(mark, plain)
    if "`" in s:
        s = s.replace("`", "'")
    s = s.replace("'", "")
    printable = s.isprintable()   # newline characters are not printable
    if not printable and _NEWLINE_CHAR.search(s):
        s = _NEWLINES.sub(" . ", s)
        printable = s.isprintable()
    if not printable or "  " in s:
        s = " ".join(s.split())   # same whitespace set as \s; the ends are stripped below anyway
    # else: the only whitespace is single spaces, so that join would only strip the ends, as below
    if "*" in s or "#" in s:
        s = _MASK_TOKEN.sub(unmasker or _DEFAULT_UNMASKER, s)
    if "!" in s or "|" in s:
        s = _strip_trailing_bang(s)
    if any(map(s.__contains__, _LEET_CHARS)) and _LEET_HINT.search(s):
        s = _LEET_TOKEN.sub(_deleet_token, s)
    if _SPACED_HINT.search(s):
        s = _SPACED.sub(_join_spaced, s)
    return s.strip()


_ASCII_RUN3 = re.compile(r"([a-z])\1\1")


def _has_run3(s: str) -> bool:
    """On casefolded text (the canonical form), the same answer as `_RUN3.search(s) is not None`, without a
    backreference regex pass over the text: a few substring searches (C speed) for "aaa", "bbb", ... over the
    letters the text contains. `[^\\W\\d_]` is a character that is alphanumeric and not a decimal digit
    (re's own definitions of \\w and \\d)."""
    if s.isascii():
        # Casefolded already (no upper case left), so an ASCII letter is [a-z]: one regex pass with a
        # single backreference beats 26 substring scans (and _RUN3's open-ended `\1{2,}`).
        return _ASCII_RUN3.search(s) is not None
    return any(ch * 3 in s for ch in set(s) if ch.isalnum() and not ch.isdecimal())


def variants(text: object, unmasker: _Unmasker | None = None) -> tuple[str, ...]:
    """One or two canonical forms to match against (see module docstring)."""
    base = canonical(text, unmasker)
    if not _has_run3(base):
        return (base,)
    return (_RUN3.sub(r"\1\1", base), _RUN3.sub(r"\1", base))


def normalize(text: object) -> str:
    """The primary canonical form: what the lexicons are written against."""
    return variants(text)[0]
