"""Cleaning what people send and splitting what Haven sends, so bad input never breaks a conversation."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Control and format characters other than newline/tab; zero-width and bidi overrides are removed because they
# hide words from readers (and from the crisis detector, which normalises separately and more aggressively).
_STRIP_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
_KEEP = {"\n", "\t"}
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+")


@dataclass(frozen=True, slots=True)
class CleanText:
    text: str
    truncated: bool
    had_binary: bool


def clean_incoming(raw: str | bytes, max_chars: int) -> CleanText:
    """Decode, drop control characters, normalise, and cap length (the person is told when it was cut)."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    # Lone surrogates (from broken UTF-16 or bad JSON escapes) cannot be encoded; replace them first.
    raw = raw.encode("utf-8", errors="replace").decode("utf-8")
    removed = 0
    kept: list[str] = []
    for char in raw:
        if char in _KEEP or unicodedata.category(char) not in _STRIP_CATEGORIES:
            kept.append(char)
        else:
            removed += 1
    text = unicodedata.normalize("NFC", "".join(kept)).replace("\r\n", "\n").strip()
    replacement_ratio = text.count("\ufffd") / max(len(text), 1)
    had_binary = replacement_ratio > 0.2 or (removed > 8 and removed > len(text))
    truncated = len(text) > max_chars
    if truncated:
        text = text[:max_chars].rstrip()
    return CleanText(text=text, truncated=truncated, had_binary=had_binary)


def split_message(text: str, limit: int) -> list[str]:
    """Split on paragraph, then sentence, then word boundaries so no part exceeds `limit` characters."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        candidate = f"{current}{piece}" if current else piece.lstrip()
        if len(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            parts.append(current.strip())
        current = piece.lstrip()
    if current.strip():
        parts.append(current.strip())
    return parts


def _pieces(text: str, limit: int) -> list[str]:
    """Units no longer than `limit`, each keeping its leading separator so joining restores the text."""
    units: list[str] = []
    for paragraph_index, paragraph in enumerate(text.split("\n\n")):
        prefix = "\n\n" if paragraph_index else ""
        for sentence_index, sentence in enumerate(_SENTENCE_END.split(paragraph)):
            sentence = (prefix if sentence_index == 0 else " ") + sentence
            if len(sentence) <= limit:
                units.append(sentence)
                continue
            for word_index, word in enumerate(sentence.split(" ")):
                word = word if word_index == 0 else " " + word
                while len(word) > limit:
                    units.append(word[:limit])
                    word = word[limit:]
                units.append(word)
    return units
