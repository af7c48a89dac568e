"""Button action ids and button rows for guided skills, shared by the offline responder and bot/flows/skills.py.

Action ids are `skill:<verb>:<skill id>` and the value carries the rest (a step index, "up"/"down", a page), so a
press is understood without server-side state and fits Telegram's 64-byte callback data.
"""

from __future__ import annotations

from bot.events import Button
from bot.i18n import Catalog

PREFIX = "skill:"
#: Skills per /skills page: every adapter renders at least 8 buttons, and one is kept for "More".
PAGE_SIZE = 6
VERBS = ("offer", "try", "no", "next", "stop", "fb", "list")


def action(verb: str, skill_id: str = "") -> str:
    return f"{PREFIX}{verb}:{skill_id}" if skill_id else f"{PREFIX}{verb}"


def parse(action_id: str) -> tuple[str, str]:
    """`skill:next:box_breathing` -> ("next", "box_breathing"); unknown shapes give ("", "")."""
    parts = action_id.split(":", 2)
    if len(parts) < 2 or parts[0] + ":" != PREFIX or parts[1] not in VERBS:
        return "", ""
    return parts[1], parts[2] if len(parts) == 3 else ""


def offer_buttons(catalog: Catalog, lang: str, skill_id: str) -> tuple[Button, ...]:
    return (Button(catalog.t("offline.skill.try", lang), action("try", skill_id)),
            Button(catalog.t("offline.skill.not_now", lang), action("no", skill_id)))


def step_buttons(catalog: Catalog, lang: str, skill_id: str, next_index: int) -> tuple[Button, ...]:
    return (Button(catalog.t("offline.skill.next", lang), action("next", skill_id), str(next_index)),
            Button(catalog.t("offline.skill.stop", lang), action("stop", skill_id)))


def feedback_buttons(catalog: Catalog, lang: str, skill_id: str) -> tuple[Button, ...]:
    return (Button(catalog.t("offline.skill.helped", lang), action("fb", skill_id), "up"),
            Button(catalog.t("offline.skill.not_helped", lang), action("fb", skill_id), "down"))
