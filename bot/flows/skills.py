"""Guided self-help skills: `/skills`, and the buttons that walk someone through one exercise step by step.

A skill is offered ("Try it" / "Not now"), guided one step at a time ("Next" / "Stop"), and ends with "Did that
help?". The answer is kept in the person's profile (`skill_feedback`), because a skill someone found unhelpful
should never be suggested to them again, in any conversation. Which step comes next travels in the button value,
so a guided skill still works when the store is down; the conversation's responder memory only records what was
offered, so the offline responder does not offer the same thing twice.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from bot.events import Button, ButtonPressed, Reply
from bot.flows.registry import Feature
from bot.llm import offline_buttons as ui
from bot.llm.offline_lexicon import load_lexicon
from bot.llm.offline_skills import Library, Skill, feedback_of, load_library, remember, skill_memory
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger("haven.flows")


class SkillsFlow:
    def __init__(self, core: Core, library: Library | None = None) -> None:
        self.core = core
        self.t = core.catalog.t
        self.library = library or load_library(concern_ids=load_lexicon().concern_ids)

    # --- /skills ---------------------------------------------------------------------------------------------

    async def command(self, turn: Turn, argument: str) -> None:
        """`/skills` lists the exercises as buttons; `/skills all` includes ones the person marked unhelpful."""
        self._list(turn, page=0, show_all=argument.strip().lower() == "all")

    def _list(self, turn: Turn, *, page: int, show_all: bool) -> None:
        feedback = feedback_of(self._profile(turn))
        hidden = 0 if show_all else sum(1 for s in self.library.skills if feedback.get(s.id) == "down")
        skills = [s for s in self.library.skills if show_all or feedback.get(s.id) != "down"]
        pages = max(1, -(-len(skills) // ui.PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        shown = skills[page * ui.PAGE_SIZE:(page + 1) * ui.PAGE_SIZE]
        buttons = [Button(s.text(turn.lang).name, ui.action("offer", s.id)) for s in shown]
        if page + 1 < pages:
            buttons.append(Button(self.t("offline.skill.more", turn.lang), ui.action("list"),
                                  f"{'all:' if show_all else ''}{page + 1}"))
        text = self.t("offline.skill.list_header", turn.lang)
        if hidden and page == 0:
            text += "\n" + self.t("offline.skill.list_hidden", turn.lang, count=hidden)
        turn.outgoing.append(Reply(text, buttons=tuple(buttons)))

    # --- buttons ---------------------------------------------------------------------------------------------

    async def on_button(self, turn: Turn, event: ButtonPressed) -> None:
        verb, skill_id = ui.parse(event.action_id)
        if verb == "list":
            show_all, _, page = event.value.rpartition(":")
            self._list(turn, page=int(page) if page.isdigit() else 0, show_all=show_all == "all")
            return
        skill = self.library.get(skill_id)
        if skill is None:
            log.info("event=unknown_skill")
            turn.outgoing.append(Reply(self.t("offline.skill.unknown", turn.lang)))
            return
        memory = self._memory(turn)
        if verb == "offer":
            self._offer(turn, skill, memory)
        elif verb == "try":
            self._step(turn, skill, 0, memory, first=True)
        elif verb == "next":
            index = int(event.value) if event.value.isdigit() else 0
            self._step(turn, skill, index, memory, first=False)
        elif verb == "stop":
            skill_memory(memory).pop("active", None)
            turn.outgoing.append(Reply(self.t("offline.skill.stopped", turn.lang)))
        elif verb == "no":
            remember(memory, "declined", skill.id)
            turn.outgoing.append(Reply(self.t("offline.skill.declined", turn.lang)))
        elif verb == "fb" and event.value in ("up", "down"):
            await self._feedback(turn, skill, event.value)

    def _offer(self, turn: Turn, skill: Skill, memory: dict[str, Any]) -> None:
        text = skill.text(turn.lang)
        remember(memory, "offered", skill.id)
        turn.outgoing.append(Reply(self.t("offline.skill.intro", turn.lang, skill=text.name, minutes=skill.minutes,
                                          why=text.why),
                                   buttons=ui.offer_buttons(self.core.catalog, turn.lang, skill.id)))

    def _step(self, turn: Turn, skill: Skill, index: int, memory: dict[str, Any], *, first: bool) -> None:
        """Show step `index` with Next/Stop, or, past the last step, ask whether it helped."""
        text = skill.text(turn.lang)
        skills = skill_memory(memory)
        if index >= len(text.steps):
            skills.pop("active", None)
            remember(memory, "done", skill.id)
            turn.outgoing.append(Reply(self.t("offline.skill.feedback", turn.lang, skill=text.name),
                                       buttons=ui.feedback_buttons(self.core.catalog, turn.lang, skill.id)))
            return
        remember(memory, "offered", skill.id)
        # "turn" lets the responder tell a skill in progress from one the person has walked away from.
        skills["active"] = {"id": skill.id, "step": index, "turn": int(memory.get("offline.turns", 0) or 0)}
        body = self.t("offline.skill.step", turn.lang, n=index + 1, total=len(text.steps), text=text.steps[index])
        if first:
            body = self.t("offline.skill.start", turn.lang, skill=text.name) + "\n" + body
        turn.outgoing.append(Reply(body, buttons=ui.step_buttons(self.core.catalog, turn.lang, skill.id, index + 1)))

    async def _feedback(self, turn: Turn, skill: Skill, verdict: str) -> None:
        name = skill.text(turn.lang).name
        await self._save_feedback(turn, skill.id, verdict)
        if verdict == "up":
            preferred = self._profile(turn).get("preferred_name")
            name_part = self.t("offline.name_part", turn.lang, name=preferred) if isinstance(preferred, str) \
                and preferred.strip() else ""
            line = self.t("offline.skill.thanks_up", turn.lang, skill=name, name_part=name_part)
        else:
            line = self.t("offline.skill.thanks_down", turn.lang, skill=name)
        turn.outgoing.append(Reply(f"{line} {self.t('offline.skill.after', turn.lang)}"))

    async def _save_feedback(self, turn: Turn, skill_id: str, verdict: str) -> None:
        if turn.user is None:
            return
        profile = dict(turn.user.profile)
        feedback = dict(feedback_of(profile))
        feedback[skill_id] = verdict
        profile["skill_feedback"] = feedback
        turn.user = dataclasses.replace(turn.user, profile=profile)
        if not turn.degraded:
            await self.core.store.update_user(turn.user_key, profile=profile)

    # --- state -----------------------------------------------------------------------------------------------

    @staticmethod
    def _memory(turn: Turn) -> dict[str, Any]:
        """The conversation's responder memory (the same dict the core hands the responder); scratch if degraded."""
        if turn.state is None:
            return {}
        memory = turn.state.setdefault("responder", {})
        return memory if isinstance(memory, dict) else {}

    @staticmethod
    def _profile(turn: Turn) -> dict[str, Any]:
        return turn.user.profile if turn.user else {}


def feature(core: Core) -> Feature:
    flow = SkillsFlow(core)
    return Feature(name="skills", commands={"skills": flow.command}, buttons={ui.PREFIX: flow.on_button})
