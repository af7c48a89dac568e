"""A turn's outgoing items as JSON, kept with its event until the adapter confirms they were delivered.

Why: a worker can die after a turn is saved and before its answer reaches the person. The platform redelivers
the event (Telegram does, because Haven acknowledges only handled updates), but handling it again would repeat
what the turn did (a second Claude answer, a mood logged twice). Sending the stored answer instead gives the
person exactly what they would have had, a crisis reply included. Only text and buttons are kept: a file
(an export, a chart) is not stored a second time; the person can ask for it again.
"""

from __future__ import annotations

import json
from typing import Any

from bot.events import Button, ConversationKind, ConversationRef, Notify, Outgoing, Reply


def encode(items: list[Outgoing]) -> str:
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Reply):
            out.append({"kind": "reply", "text": item.text, "buttons": _buttons(item.buttons),
                        "private": item.private})
        elif isinstance(item, Notify):
            target = item.target
            out.append({"kind": "notify", "text": item.text, "buttons": _buttons(item.buttons),
                        "mention": item.mention,
                        "target": {"platform": target.platform, "chat_id": target.chat_id, "kind": target.kind.value,
                                   "thread_id": target.thread_id, "space_id": target.space_id}})
    return json.dumps(out, ensure_ascii=False)


def decode(raw: str | None) -> list[Outgoing] | None:
    """None when there is nothing usable (no stored reply, or one that no longer decrypts or parses)."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return [_item(entry) for entry in data]
    except (ValueError, TypeError, KeyError):
        return None


def _buttons(buttons: tuple[Button, ...]) -> list[list[str]]:
    return [[b.label, b.action_id, b.value] for b in buttons]


def _item(entry: dict[str, Any]) -> Outgoing:
    buttons = tuple(Button(str(label), str(action), str(value)) for label, action, value in entry["buttons"])
    if entry["kind"] == "reply":
        return Reply(str(entry["text"]), buttons, bool(entry["private"]))
    target = entry["target"]
    ref = ConversationRef(str(target["platform"]), str(target["chat_id"]), ConversationKind(target["kind"]),
                          target.get("thread_id"), target.get("space_id"))
    return Notify(ref, str(entry["text"]), buttons, entry.get("mention"))
