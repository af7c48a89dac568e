"""`/screen` (PHQ-9, GAD-7, WHO-5 and any questionnaire a clinic adds) and `/screenings` (the person's history).

One item at a time with the answer options as buttons (typing the option or its number works too). Answers are
stored encrypted for the person's own history. A result says plainly what it means and what it does not (a
screening, not a diagnosis) and suggests next steps for its band. An item marked `crisis_above` (PHQ-9 item 9,
thoughts of being better off dead or of self-harm) answered above that goes straight to the crisis reply and the
escalation policy, whatever the total: the deterministic crisis flow answers, never this module's own text.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.crisis.levels import Assessment, RiskLevel
from bot.events import Button, ButtonPressed, Reply
from bot.flows.profile import (answer_expired, expect_answer, looks_like_chat, private_only, profile_of, release,
                               yield_to_crisis, zone_of)
from bot.flows.questionnaires import Questionnaire, load_all, text
from bot.flows.registry import Feature
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger("haven.screening")


class ScreeningFlow:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.t = core.catalog.t
        self.questionnaires = load_all()

    # --- starting --------------------------------------------------------------------------------------------

    async def command(self, turn: Turn, argument: str) -> None:
        """`/screen` lists the questionnaires; `/screen phq9` starts one."""
        if private_only(self.core, turn):
            return
        wanted = argument.strip().lower().replace("-", "")
        if wanted in self.questionnaires:
            self._start(turn, self.questionnaires[wanted])
            return
        lines = [self.t("screening.list", turn.lang)]
        lines += [f"• {text(q.name, turn.lang)} – /screen {q.id}" for q in self.questionnaires.values()]
        lines.append(self.t("screening.not_diagnosis", turn.lang))
        turn.outgoing.append(Reply("\n".join(lines), buttons=tuple(
            Button(text(q.name, turn.lang), "scr:start", q.id) for q in self.questionnaires.values())))

    def _start(self, turn: Turn, questionnaire: Questionnaire) -> None:
        turn.flow()["screen"] = {"id": questionnaire.id, "answers": []}
        turn.outgoing.append(Reply(self.t("screening.intro", turn.lang, name=text(questionnaire.name, turn.lang),
                                          count=len(questionnaire.items))))
        self._ask(turn, questionnaire, 0)

    def _ask(self, turn: Turn, questionnaire: Questionnaire, index: int) -> None:
        expect_answer(self.core, turn, "screening")
        item = questionnaire.items[index]
        header = self.t("screening.progress", turn.lang, number=index + 1, count=len(questionnaire.items))
        body = f"{header}\n{text(questionnaire.intro, turn.lang)}\n\n{text(item.text, turn.lang)}"
        buttons = tuple(Button(text(label, turn.lang), "scr:a", f"{questionnaire.id}:{index}:{score}")
                        for score, label in questionnaire.options)
        turn.outgoing.append(Reply(body, buttons=buttons + (Button(self.t("screening.stop", turn.lang), "scr:stop"),)))

    # --- answering -------------------------------------------------------------------------------------------

    async def on_button(self, turn: Turn, event: ButtonPressed) -> None:
        if private_only(self.core, turn):
            return
        if event.action_id == "scr:start" and event.value in self.questionnaires:
            self._start(turn, self.questionnaires[event.value])
        elif event.action_id == "scr:stop":
            turn.flow().pop("screen", None)
            turn.flow().pop("pending", None)
            turn.outgoing.append(Reply(self.t("screening.stopped", turn.lang)))
        elif event.action_id == "scr:a":
            qid, _, rest = event.value.partition(":")
            index, _, score = rest.partition(":")
            state = turn.flow().get("screen") or {}
            # A button from an earlier question (or another questionnaire) is ignored, not counted twice.
            if state.get("id") == qid and index.isdigit() and int(index) == len(state.get("answers", [])):
                await self._answer(turn, state, int(score))
        elif event.action_id == "scr:history":
            await self.history(turn, "")

    async def answer_typed(self, turn: Turn, text_in: str) -> None:
        """A typed answer: the option's number or its words. Anything else asks again."""
        if await yield_to_crisis(self.core, turn, text_in):
            return
        state = turn.flow().get("screen") or {}
        questionnaire = self.questionnaires.get(str(state.get("id")))
        if questionnaire is None:
            turn.flow().pop("pending", None)
            return
        typed = text_in.strip().lower().rstrip(".")
        chosen = None
        for position, (score, label) in enumerate(questionnaire.options, start=1):
            if typed == str(position) or typed in {v.lower() for v in label.values()}:
                chosen = score
        if chosen is None and (looks_like_chat(text_in, 4) or answer_expired(turn)):
            turn.flow().pop("screen", None)   # they want to talk, not fill in a form: pause it, answer them
            await release(self.core, turn, text_in)
            turn.outgoing.append(Reply(self.t("screening.paused", turn.lang)))
            return
        if chosen is None:
            turn.outgoing.append(Reply(self.t("screening.use_buttons", turn.lang)))
            self._ask(turn, questionnaire, len(state["answers"]))
            return
        await self._answer(turn, state, chosen)

    async def _answer(self, turn: Turn, state: dict[str, Any], score: int) -> None:
        questionnaire = self.questionnaires[state["id"]]
        index = len(state["answers"])
        if score not in {s for s, _ in questionnaire.options}:
            return
        state["answers"].append(score)
        if questionnaire.crisis(index, score):
            await self._crisis(turn, questionnaire, state)
        elif index + 1 < len(questionnaire.items):
            self._ask(turn, questionnaire, index + 1)
        else:
            await self._result(turn, questionnaire, state["answers"])

    async def _crisis(self, turn: Turn, questionnaire: Questionnaire, state: dict[str, Any]) -> None:
        """The crisis reply and escalation policy, exactly as for a crisis message (rolling risk raised too, so
        "I'm fine" next does not end the crisis state at once). The answers so far are kept for the history."""
        flow = turn.flow()
        flow.pop("screen", None)
        flow.pop("pending", None)
        signal = f"{questionnaire.id}_item{len(state['answers'])}"
        turn.assessment = self.core.roll_risk(turn, Assessment(RiskLevel.HIGH, (signal,), turn.lang))
        log.info("event=screening_crisis questionnaire=%s", questionnaire.id)
        await self.core.crisis_flow.reply(turn)
        if not turn.degraded:
            answers = tuple(state["answers"])
            score = questionnaire.score(answers)
            await self.core.store.add_screening(turn.user_key, turn.now, questionnaire.id, score,
                                                "incomplete_crisis", answers)

    async def _result(self, turn: Turn, questionnaire: Questionnaire, answers: list[int]) -> None:
        flow = turn.flow()
        flow.pop("screen", None)
        flow.pop("pending", None)
        score = questionnaire.score(answers)
        band = questionnaire.band(score)
        if self.core.compliance.rules.interpretations:
            lines = [self.t("screening.result", turn.lang, name=text(questionnaire.name, turn.lang), score=score,
                            max=questionnaire.max_score, band=text(band.label, turn.lang)),
                     self.t("screening.means", turn.lang, text=text(band.meaning, turn.lang)),
                     self.t("screening.does_not_mean", turn.lang),
                     self.t("screening.next", turn.lang, text=text(band.next, turn.lang))]
        else:
            # Illinois (us-il profile): the score, with no clinical interpretation, and a pointer to people who can.
            lines = [self.t("screening.result_plain", turn.lang, name=text(questionnaire.name, turn.lang),
                            score=score, max=questionnaire.max_score),
                     self.t("screening.does_not_mean", turn.lang)]
        if band.services:
            lines += [f"• {entry.format_line()}" for entry in
                      self.core.directory.search(country=turn.country, topic="mental_health", lang=turn.lang,
                                                 limit=3)]
        lines.append(self.t("screening.saved", turn.lang))
        turn.outgoing.append(Reply("\n".join(lines), buttons=(
            Button(self.t("screening.more_support", turn.lang), "res:topic", ""),
            Button(self.t("screening.history_button", turn.lang), "scr:history"))))
        if not turn.degraded:
            await self.core.store.add_screening(turn.user_key, turn.now, questionnaire.id, score, band.id,
                                                tuple(answers))
            await self.core.store.audit("screening_completed", turn.now, turn.user_key,
                                        {"questionnaire": questionnaire.id})

    # --- history ---------------------------------------------------------------------------------------------

    async def history(self, turn: Turn, argument: str) -> None:
        if private_only(self.core, turn):
            return
        records = [] if turn.degraded else await self.core.store.screenings(turn.user_key, limit=20)
        if not records:
            turn.outgoing.append(Reply(self.t("screening.history_empty", turn.lang)))
            return
        lines = [self.t("screening.history_header", turn.lang)]
        zone = zone_of(profile_of(turn))
        for record in records:
            questionnaire = self.questionnaires.get(record.questionnaire)
            name = text(questionnaire.name, turn.lang) if questionnaire else record.questionnaire
            if record.band == "incomplete_crisis" or questionnaire is None:
                band = self.t("screening.history_stopped", turn.lang)
                total = ""
            else:
                band = text(questionnaire.band(record.score).label, turn.lang)
                total = f" {record.score}/{questionnaire.max_score}"
            lines.append(f"• {record.at.astimezone(zone):%Y-%m-%d} {name}:{total} {band}")
        lines.append(self.t("screening.not_diagnosis", turn.lang))
        turn.outgoing.append(Reply("\n".join(lines)))


def feature(core: Core) -> Feature:
    flow = ScreeningFlow(core)
    return Feature(name="screening", commands={"screen": flow.command, "screenings": flow.history},
                   buttons={"scr:": flow.on_button}, answers={"screening": flow.answer_typed})
