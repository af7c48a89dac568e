"""Mood check-ins: `/mood` now, or on the person's own schedule (a durable job per local date).

A check-in asks a 1-5 score (buttons), then optional emotion words (buttons), then an optional note. The note is
an ordinary message through the core pipeline (the pending flow "mood_note"), so it is assessed for risk before
this module sees it; a note in crisis gets the crisis reply, never a "thanks, noted". A low score (1-2) leads
gently to support. `/mood` ends with the last 30 days as a PNG chart and a one-line trend.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.delivery import DeliveryError
from bot.events import Attachment, Button, ButtonPressed, Reply
from bot.flows import mood_chart
from bot.flows.ideas import IdeasFlow
from bot.flows.profile import (answer_expired, expect_answer, private_only, profile_of, release, target_of,
                               yield_to_crisis, zone_of)
from bot.flows.registry import Feature
from bot.flows.schedule import CHECKIN_JOB, Schedule, in_quiet_hours, queue_next
from bot.store.base import Job
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger("haven.mood")

EMOTIONS = {
    "low": ("sad", "anxious", "lonely", "tired", "angry", "overwhelmed", "numb"),
    "mid": ("calm", "tired", "stressed", "bored", "content", "anxious", "sad"),
    "high": ("calm", "happy", "hopeful", "grateful", "proud", "energetic", "relieved"),
}
MAX_NOTE = 500
#: A check-in that could not go out for this long is dropped, not sent late (the next one is already queued).
STALE_AFTER = timedelta(hours=3)


def band(score: int) -> str:
    return "low" if score <= 2 else "mid" if score == 3 else "high"


class MoodFlow:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.t = core.catalog.t
        self.ideas = IdeasFlow(core)

    # --- asking ----------------------------------------------------------------------------------------------

    def score_buttons(self, lang: str) -> tuple[Button, ...]:
        return tuple(Button(self.t(f"mood.scale.{n}", lang), "mood:score", str(n)) for n in range(1, 6))

    async def command(self, turn: Turn, argument: str) -> None:
        """`/mood` asks for a score (`/mood 3` records it directly), then shows the chart at the end."""
        if private_only(self.core, turn):
            return
        turn.flow()["mood"] = {"chart": True}
        if argument.strip() in {"1", "2", "3", "4", "5"}:
            await self._score(turn, int(argument.strip()))
            return
        turn.outgoing.append(Reply(self.t("mood.ask", turn.lang, name=self._name(turn)),
                                   buttons=self.score_buttons(turn.lang)))

    def _name(self, turn: Turn) -> str:
        name = profile_of(turn).get("preferred_name")
        return f", {name}" if name else ""

    # --- answers ---------------------------------------------------------------------------------------------

    async def on_button(self, turn: Turn, event: ButtonPressed) -> None:
        if private_only(self.core, turn):
            return
        action, value = event.action_id, event.value
        state = turn.flow().get("mood") or {}
        if action == "mood:score" and value in {"1", "2", "3", "4", "5"}:
            if state.get("entry") and not answer_expired(turn):
                self._ask_emotions(turn, state)   # a second tap on the same question: one entry, not two
                return
            if state.get("entry"):
                turn.flow()["mood"] = {}          # an unfinished check-in from earlier: start afresh
            await self._score(turn, int(value))
        elif action == "mood:emo" and state.get("entry") and value in EMOTIONS[band(int(state["score"]))]:
            chosen = list(state.get("emotions", []))
            state["emotions"] = [e for e in chosen if e != value] if value in chosen else chosen + [value]
            self._ask_emotions(turn, state)
        elif action == "mood:emodone" and state.get("entry"):
            if not turn.degraded:
                await self.core.store.update_mood(turn.user_key, int(state["entry"]),
                                                  emotions=tuple(state.get("emotions", [])))
            expect_answer(self.core, turn, "mood_note")
            turn.outgoing.append(Reply(self.t("mood.ask_note", turn.lang), buttons=(
                Button(self.t("mood.skip", turn.lang), "mood:nonote"),)))
        elif action == "mood:nonote" and state.get("entry"):
            await self._finish(turn)
        elif action == "mood:later":
            turn.flow().pop("mood", None)
            turn.outgoing.append(Reply(self.t("mood.later", turn.lang)))
        elif action == "mood:talk":
            turn.outgoing.append(Reply(self.t("mood.talk", turn.lang)))

    async def _score(self, turn: Turn, score: int) -> None:
        state = turn.flow().setdefault("mood", {})
        entry = 0 if turn.degraded else await self.core.store.add_mood(turn.user_key, turn.now, score)
        state.update(entry=entry, score=score, emotions=[])
        turn.flow()["asked_at"] = turn.now.isoformat()
        if turn.degraded:
            turn.outgoing.append(Reply(self.t("mood.not_saved", turn.lang)))
        self._ask_emotions(turn, state)

    def _ask_emotions(self, turn: Turn, state: dict[str, Any]) -> None:
        chosen = state.get("emotions", [])
        buttons = tuple(Button(("✓ " if word in chosen else "") + self.t(f"mood.emotions.{word}", turn.lang),
                               "mood:emo", word) for word in EMOTIONS[band(int(state["score"]))])
        key = "mood.ask_emotions" if not chosen else "mood.ask_emotions_more"
        turn.outgoing.append(Reply(self.t(key, turn.lang, score=state["score"]), buttons=buttons + (
            Button(self.t("mood.done" if chosen else "mood.skip", turn.lang), "mood:emodone"),)))

    async def answer_note(self, turn: Turn, text: str) -> None:
        """The typed note. The core assessed it first; a crisis note never reaches here (see yield_to_crisis)."""
        if await yield_to_crisis(self.core, turn, text):
            return
        if answer_expired(turn):
            turn.flow().pop("mood", None)
            await release(self.core, turn, text)
            return
        state = turn.flow().get("mood") or {}
        if state.get("entry") and not turn.degraded:
            await self.core.store.update_mood(turn.user_key, int(state["entry"]), note=text.strip()[:MAX_NOTE])
        await self._finish(turn)

    async def _finish(self, turn: Turn) -> None:
        flow = turn.flow()
        flow.pop("pending", None)
        state = flow.pop("mood", None) or {}
        score = int(state.get("score", 3))
        turn.outgoing.append(Reply(self.t(f"mood.thanks_{band(score)}", turn.lang)))
        if state.get("chart") and not turn.degraded:
            await self.show_history(turn)
        if score <= 2:
            await self._offer_support(turn)

    async def _offer_support(self, turn: Turn) -> None:
        """Low mood: gentle options, never pressure. Skills when the library runs, services, or a chat."""
        ideas = await self.ideas.suggestions(turn, limit=2)
        buttons = tuple(self.ideas.button(idea) for idea in ideas)
        buttons += (Button(self.t("mood.support_resources", turn.lang), "res:topic", ""),
                    Button(self.t("mood.support_talk", turn.lang), "mood:talk"))
        turn.outgoing.append(Reply(self.t("mood.support", turn.lang), buttons=buttons))

    # --- history ---------------------------------------------------------------------------------------------

    async def show_history(self, turn: Turn) -> None:
        zone = zone_of(profile_of(turn))
        entries = await self.core.store.moods(turn.user_key, turn.now - timedelta(days=mood_chart.DAYS))
        labels = [self.t(f"mood.axis.{n}", turn.lang) for n in range(1, 6)]
        png = await asyncio.to_thread(mood_chart.render, entries, turn.now, zone,
                                      title=self.t("mood.chart_title", turn.lang), labels=labels)
        direction = mood_chart.trend(entries, turn.now, zone)
        average = sum(e.score for e in entries) / len(entries) if entries else 0.0
        caption = self.t(f"mood.trend.{direction}", turn.lang, count=len(entries), average=f"{average:.1f}")
        turn.outgoing.append(Attachment(f"mood-{turn.now.astimezone(zone):%Y%m%d}.png", png, "image/png",
                                        caption=caption))
        turn.outgoing.append(Reply(caption))

    # --- the scheduled check-in ------------------------------------------------------------------------------

    async def run_checkin(self, job: Job) -> None:
        """Queue the next check-in, then ask this one, unless it is stale, in quiet hours, or no longer wanted.
        At-least-once with one platform call after the last write: a crash can only repeat this one send."""
        store, now = self.core.store, self.core.clock()
        user_key, conv_key = job.payload["user_key"], job.payload["conv_key"]
        user = await store.get_user(user_key)
        if user is None:
            return
        profile = user.profile
        schedule, zone = Schedule.from_profile(profile), zone_of(profile)
        address = (await store.load_conversation(conv_key, user_key)).state.get("address")
        if not schedule.enabled or not address:
            return
        await queue_next(store, user_key=user_key, conv_key=conv_key, schedule=schedule, zone=zone,
                         after=max(now, job.run_at), skip_day=job.payload.get("date"))
        local = now.astimezone(zone)
        if now - job.run_at > STALE_AFTER or in_quiet_hours(local.time(), schedule.quiet) \
                or job.payload.get("date") not in (None, local.date().isoformat()):
            log.info("event=checkin_skipped reason=late_or_quiet")
            return
        lang = profile.get("language") or address.get("lang") or self.core.settings.bot.default_language
        name = profile.get("preferred_name")
        text = self.t("mood.checkin", lang, name=f" {name}" if name else "")
        buttons = self.score_buttons(lang) + (Button(self.t("mood.not_now", lang), "mood:later"),)
        try:
            await self.core.outbox.deliver(target_of(address), Reply(text, buttons=buttons))
        except DeliveryError as error:
            if error.retryable:
                raise
            log.info("event=checkin_unreachable")


def feature(core: Core) -> Feature:
    flow = MoodFlow(core)
    return Feature(name="mood", commands={"mood": flow.command}, buttons={"mood:": flow.on_button},
                   answers={"mood_note": flow.answer_note}, jobs={CHECKIN_JOB: flow.run_checkin})
