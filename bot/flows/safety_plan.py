"""The personal safety plan (Stanley & Brown's six steps), built and edited in a guided flow.

The plan is the person's own words; it lives in their profile, which the store encrypts at rest when a key is
configured. In a crisis, the reply quotes one step of it back, because a plan someone made themselves is more
persuasive than any generic advice.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot.events import Button, Reply
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core

STEPS = ("warning_signs", "coping", "distractions", "people", "professionals", "environment")
#: The steps worth quoting in a crisis, best first.
QUOTE_ORDER = ("coping", "people", "professionals", "distractions")
MAX_ITEMS = 10
MAX_ITEM_CHARS = 200
_SPLIT = re.compile(r"[,;\n]+")


def plan_of(turn: Turn) -> dict[str, list[str]]:
    profile = turn.user.profile if turn.user else {}
    plan = profile.get("safety_plan")
    return plan if isinstance(plan, dict) else {}


def quote_line(core: Core, turn: Turn) -> str | None:
    plan = plan_of(turn)
    for step in QUOTE_ORDER:
        items = plan.get(step) or []
        if items:
            return core.catalog.t("safety_plan.quote", turn.lang, label=core.catalog.t(f"safety_plan.labels.{step}",
                                                                                          turn.lang),
                                  items=", ".join(items[:3]))
    return None


class SafetyPlanFlow:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.t = core.catalog.t

    async def start(self, turn: Turn, *, show_first: bool = True) -> None:
        """`/safetyplan` and the crisis reply's "My safety plan" button: show the plan, or offer to build one."""
        plan = plan_of(turn)
        if show_first and any(plan.get(step) for step in STEPS):
            turn.outgoing.append(Reply(self.render(turn, plan), buttons=(
                Button(self.t("safety_plan.edit", turn.lang), "plan:edit"),
                Button(self.t("safety_plan.done", turn.lang), "plan:done"))))
            return
        if show_first:
            turn.outgoing.append(Reply(self.t("safety_plan.empty", turn.lang), buttons=(
                Button(self.t("safety_plan.start", turn.lang), "plan:edit"),
                Button(self.t("safety_plan.done", turn.lang), "plan:done"))))
            return
        turn.outgoing.append(Reply(self.t("safety_plan.intro", turn.lang)))
        self._ask(turn, 0)

    def render(self, turn: Turn, plan: dict[str, Any]) -> str:
        lines = [self.t("safety_plan.show_header", turn.lang)]
        for step in STEPS:
            items = plan.get(step) or []
            if items:
                lines.append(f"• {self.t(f'safety_plan.labels.{step}', turn.lang)}: {', '.join(items)}")
        return "\n".join(lines)

    def _ask(self, turn: Turn, index: int) -> None:
        flow = turn.flow()
        flow["pending"] = "safetyplan"
        flow["plan_step"] = index
        step = STEPS[index]
        current = plan_of(turn).get(step) or []
        text = self.t(f"safety_plan.steps.{step}", turn.lang)
        if current:
            text += f"\n({', '.join(current)})"
        text += "\n" + self.t("safety_plan.answer_hint", turn.lang)
        turn.outgoing.append(Reply(text, buttons=(Button(self.t("safety_plan.skip", turn.lang), "plan:skip"),)))

    async def answer(self, turn: Turn, text: str | None) -> None:
        """The person's answer to the current step (None for Skip), then the next step or the end."""
        flow = turn.flow()
        index = int(flow.get("plan_step", 0))
        if text is not None:
            items = [item.strip()[:MAX_ITEM_CHARS] for item in _SPLIT.split(text) if item.strip()][:MAX_ITEMS]
            if items:
                await self._save_step(turn, STEPS[index], items)
        if index + 1 < len(STEPS):
            self._ask(turn, index + 1)
            return
        flow.pop("pending", None)
        flow.pop("plan_step", None)
        turn.outgoing.append(Reply(self.t("safety_plan.saved", turn.lang)))
        turn.outgoing.append(Reply(self.render(turn, plan_of(turn))))

    async def _save_step(self, turn: Turn, step: str, items: list[str]) -> None:
        if turn.user is None:
            return
        profile = dict(turn.user.profile)
        plan = dict(profile.get("safety_plan") or {})
        plan[step] = items
        profile["safety_plan"] = plan
        turn.user = type(turn.user)(**{**_fields(turn.user), "profile": profile})
        if not turn.degraded:
            await self.core.store.update_user(turn.user_key, profile=profile)

    async def on_button(self, turn: Turn, action: str) -> None:
        if action == "plan:edit":
            await self.start(turn, show_first=False)
        elif action == "plan:skip" and turn.flow().get("pending") == "safetyplan":
            await self.answer(turn, None)
        elif action == "plan:done":
            turn.flow().pop("pending", None)


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__slots__}
