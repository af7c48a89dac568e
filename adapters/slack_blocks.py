"""Block Kit rendering for the Slack adapter: text and buttons in, Slack messages out (and buttons back).

Kept apart from `adapters/slack.py` so the limits Slack enforces live in one place and can be unit-tested without
a server. Limits (Slack's Block Kit reference): a section's text is at most 3000 characters, a message holds at
most 50 blocks, an actions block at most 25 elements, a button label at most 75 characters, a button `value` at
most 2000 and an `action_id` at most 255. A Home tab holds at most 100 blocks.

The core writes plain text. Slack reads `&`, `<` and `>` as markup (`<https://x|link>`, `<@U123>`), so they are
escaped; escaping makes text longer, so splitting is done on the escaped length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.events import Button
from bot.text import split_message

SECTION_LIMIT = 3000
MESSAGE_BLOCKS = 50
ACTIONS_PER_BLOCK = 25
HOME_BLOCKS = 100
LABEL_LIMIT = 75
VALUE_LIMIT = 2000
#: A notification preview, not the message itself (which is in the blocks); Slack allows far more.
FALLBACK_LIMIT = 3000
ACTION_PREFIX = "haven:"
ACTION_PATTERN = re.compile(r"^haven:\d{1,3}$")

#: Commands the core names as `/word`; in Slack a leading `/word` is taken by the client as its own slash
#: command, so Haven's commands live under `/haven word`. Not preceded by a word character or `/`, so URLs
#: such as `example.org/about` are left alone.
_CORE_COMMANDS = ("resources", "safetyplan", "settings", "about", "mydata", "forget", "help", "start", "reply",
                  "checkin")
_COMMAND_MENTION = re.compile(r"(?<![\w/])/(" + "|".join(_CORE_COMMANDS) + r")\b")


def escape(text: str) -> str:
    """Slack mrkdwn control characters as entities (the only escaping Slack asks for)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_commands(text: str) -> str:
    """`/resources` as `/haven resources`, the way a person has to type it in Slack."""
    return _COMMAND_MENTION.sub(lambda m: f"/haven {m.group(1)}", text)


def section_texts(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Escaped chunks of at most `limit` characters, split on paragraph/sentence/word boundaries."""
    chunks: list[str] = []
    budget = limit
    pending = split_message(text, budget)
    while pending:
        piece = pending.pop(0)
        escaped = escape(piece)
        if len(escaped) <= limit:
            chunks.append(escaped)
            continue
        # Entities made it too long: split this piece again with room for them.
        smaller = max(1, len(piece) - (len(escaped) - limit) - 1)
        pending[:0] = split_message(piece, smaller)
    return chunks


def encode_button(index: int, button: Button) -> dict[str, Any]:
    """One Slack button. The action id is positional (one bolt handler matches them all); the value carries the
    core's `action_id|value`, which is what comes back when it is pressed."""
    label = button.label if len(button.label) <= LABEL_LIMIT else button.label[: LABEL_LIMIT - 1] + "…"
    value = f"{button.action_id}|{button.value}"
    if len(value) > VALUE_LIMIT:
        raise ValueError("button value exceeds Slack's 2000-character limit")
    return {"type": "button", "text": {"type": "plain_text", "text": label or "…", "emoji": True},
            "action_id": f"{ACTION_PREFIX}{index}", "value": value}


def decode_value(value: object) -> tuple[str, str] | None:
    """`action_id|value` back into its parts; None for anything Haven did not put there."""
    if not isinstance(value, str) or "|" not in value or len(value) > VALUE_LIMIT:
        return None
    action_id, _, rest = value.partition("|")
    return (action_id, rest) if action_id else None


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One `chat.postMessage`/`chat.postEphemeral` body: fallback text plus blocks."""

    text: str
    blocks: list[dict[str, Any]]


def render(text: str, buttons: tuple[Button, ...] = (), *, block_limit: int = MESSAGE_BLOCKS) -> list[SlackMessage]:
    """The messages needed to show `text` and `buttons`; more than one only when the blocks would not fit.

    Buttons go with the last message, so they stay under the text they answer.
    """
    text = slack_commands(text)
    sections = [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in section_texts(text)]
    actions: list[dict[str, Any]] = []
    encoded = [encode_button(i, b) for i, b in enumerate(buttons)]
    for start in range(0, len(encoded), ACTIONS_PER_BLOCK):
        actions.append({"type": "actions", "block_id": f"haven-actions-{start // ACTIONS_PER_BLOCK}",
                        "elements": encoded[start:start + ACTIONS_PER_BLOCK]})
    blocks = sections + actions
    if not blocks:
        return []
    messages: list[SlackMessage] = []
    for start in range(0, len(blocks), block_limit):
        part = blocks[start:start + block_limit]
        messages.append(SlackMessage(text=_fallback(part, text), blocks=part))
    return messages


def _fallback(blocks: list[dict[str, Any]], whole: str) -> str:
    shown = "\n\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    if not shown:
        shown = escape(whole.strip()) or "…"
    return shown if len(shown) <= FALLBACK_LIMIT else shown[: FALLBACK_LIMIT - 1] + "…"


def chosen_blocks(blocks: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    """The message after a press: the buttons replaced by a note of the choice, so nothing is pressed twice."""
    kept = [b for b in blocks if isinstance(b, dict) and b.get("type") != "actions"]
    kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(label)[:SECTION_LIMIT]}]})
    return kept[:MESSAGE_BLOCKS]


def home_view(title: str, sections: list[str]) -> dict[str, Any]:
    """An App Home view: a header, then one section per paragraph, within the Home tab's block limit."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150] or "Haven"}}]
    for paragraph in sections:
        for chunk in section_texts(slack_commands(paragraph)):
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
        blocks.append({"type": "divider"})
    if blocks[-1]["type"] == "divider":
        blocks.pop()
    return {"type": "home", "blocks": blocks[:HOME_BLOCKS]}
