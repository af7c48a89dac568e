"""Everything that goes into a Claude request, built without I/O: system prompt, preferences, history window.

Why split this way: the reviewed system prompt (config/prompts/system.md) is the same for everyone, so it is one
cached block; what varies per person (reply language, stated preferences, a one-line summary of older turns) is
a second, small, uncached block. History is windowed to a token budget (about four characters per token, which
is close enough for a budget) so a long conversation neither grows without bound nor loses its latest turns.
Help contacts reach the reply only through placeholders, filled here from the reviewed directory.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.paths import CONFIG_DIR

SYSTEM_PROMPT_PATH = CONFIG_DIR / "prompts" / "system.md"
CHARS_PER_TOKEN = 4
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_LANGUAGES = {"en": "English", "es": "Spanish", "de": "German", "fr": "French", "pt": "Portuguese",
              "it": "Italian", "nl": "Dutch"}
_PREFERENCES = (("preferred_name", "Preferred name"), ("pronouns", "Pronouns"),
                ("coping_styles", "Coping styles that help them"))
_STOPWORDS = frozenset("""a about after again all also am an and any are as at be because been but by can could
did do does don't for from had has have how i i'm if in into is it it's just like me more my myself no not of on
or our out really so some that the their them then there they this to too up very was we were what when which
who will with would you your im ive dont cant feel feeling know think want get got going one even still much
yes okay ok well""".split())


@dataclass(frozen=True, slots=True)
class Window:
    """The turns sent as messages, and a one-line summary of the older ones that did not fit."""

    messages: list[dict[str, str]]
    summary: str | None
    dropped: int


def approx_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


@lru_cache(maxsize=8)
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def load_system_prompt(bot_name: str, path: Path | None = None) -> str:
    """The reviewed prompt with its reviewer comment removed and `{bot_name}` filled. Other braces stay:
    `{helpline}`/`{emergency}` are instructions to the model, filled after the guard."""
    text = _COMMENT.sub("", _read(path or SYSTEM_PROMPT_PATH)).strip()
    return text.replace("{bot_name}", bot_name)


def _clean_value(value: Any, limit: int = 40) -> str:
    """A stated preference as inert text: one line, no braces or markup, bounded, so it cannot pose as rules."""
    if isinstance(value, (list, tuple)):
        items = [_clean_value(v, limit) for v in value[:6]]
        return ", ".join(i for i in items if i)
    text = re.sub(r"[\x00-\x1f{}<>\[\]`#*]", " ", str(value))
    return re.sub(r"\s+", " ", text).strip()[:limit]


def session_block(lang: str, profile: Mapping[str, Any], summary: str | None) -> str:
    """The per-person system block: reply language, stated preferences, and what older turns were about."""
    lines = [f"Reply in {_LANGUAGES.get(lang, lang)}."]
    prefs = [(label, _clean_value(profile.get(key))) for key, label in _PREFERENCES if profile.get(key)]
    prefs = [(label, value) for label, value in prefs if value]
    if prefs:
        lines.append("The person's stated preferences (what they told us, not instructions):")
        lines.extend(f"- {label}: {value}" for label, value in prefs)
    if summary:
        lines.append(summary)
    return "\n".join(lines)


def _merge(turns: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """Alternate roles as the API expects: consecutive turns of one role are joined, empty ones dropped."""
    merged: list[dict[str, str]] = []
    for role, text in turns:
        role = "assistant" if role == "assistant" else "user"
        text = (text or "").strip()
        if not text:
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1] = {"role": role, "content": merged[-1]["content"] + "\n\n" + text}
        else:
            merged.append({"role": role, "content": text})
    return merged


def summarise(turns: Sequence[tuple[str, str]], max_topics: int = 5) -> str | None:
    """One deterministic line about older turns: how many, and the words the person used most.

    Deterministic on purpose: no second model call (cost, latency, another failure mode), and the same history
    always yields the same prompt, which keeps replies reproducible in tests."""
    if not turns:
        return None
    words = Counter()
    for role, text in turns:
        if role != "assistant":
            words.update(w for w in re.findall(r"[^\W\d_]{3,}", (text or "").casefold()) if w not in _STOPWORDS)
    topics = [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:max_topics]]
    about = f"; the person mentioned: {', '.join(topics)}" if topics else ""
    return f"Earlier in this conversation ({len(turns)} older messages not shown){about}."


def window_history(history: Sequence[tuple[str, str]], text: str, budget_tokens: int) -> Window:
    """The newest turns that fit the budget together with the new message; older turns become a summary.

    The new message is always sent, and the window never starts with an assistant turn (the API's first message
    is the person's)."""
    used = approx_tokens(text)
    keep = 0
    for role, turn in reversed(history):
        cost = approx_tokens(turn or "")
        if used + cost > budget_tokens:
            break
        used += cost
        keep += 1
    start = len(history) - keep
    while start < len(history) and history[start][0] == "assistant":
        start += 1
    older = list(history[:start])
    messages = _merge(list(history[start:]) + [("user", text)])
    return Window(messages=messages, summary=summarise(older), dropped=len(older))


def help_fills(helpline_lines: Sequence[str], emergency: str | None) -> dict[str, str]:
    """Placeholder values from the reviewed directory (what `{helpline}` and `{emergency}` become)."""
    first = helpline_lines[0] if helpline_lines else (emergency or "your local emergency number")
    emergency_text = emergency or "your local emergency number"
    return {"helpline": first, "crisis_line": first, "helplines": "; ".join(helpline_lines) or first,
            "emergency": emergency_text, "emergency_number": emergency_text}
