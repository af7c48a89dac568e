"""Staying with the person after a crisis reply.

After a crisis reply the conversation is in a crisis state. "I'm fine", "no" or silence do not end it: Haven
checks once more, keeps helplines one tap away, and (only if the person wants it) schedules a caring check-in
for the next day as a durable job. Escalation to staff happens here too, by the deployment's policy.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import yaml

from bot.crisis.levels import RiskLevel
from bot.delivery import DeliveryError
from bot.events import Button, ConversationKind, ConversationRef, Reply
from bot.flows.safety_plan import SafetyPlanFlow, quote_line
from bot.paths import CONFIG_DIR
from bot.store.base import Job
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger("haven.crisis")

SILENCE_JOB = "crisis_silence"
FOLLOWUP_JOB = "crisis_followup"
SILENCE_AFTER = timedelta(minutes=10)
FOLLOWUP_AFTER = timedelta(hours=24)
_TRIM = re.compile(r"^[\s\W_]+|[\s\W_]+$")


@lru_cache(maxsize=1)
def _reassurances() -> dict[str, frozenset[str]]:
    data = yaml.safe_load((CONFIG_DIR / "crisis" / "reassurance.yaml").read_text(encoding="utf-8")) or {}
    return {lang: frozenset(p.lower() for p in phrases) for lang, phrases in data.items()}


def is_reassurance(text: str, lang: str) -> bool:
    cleaned = _TRIM.sub("", text.lower())
    phrases = _reassurances()
    return any(cleaned in phrases.get(code, frozenset()) for code in {lang, "en"})


class CrisisFlow:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.t = core.catalog.t

    def state(self, turn: Turn) -> dict[str, Any]:
        personal = turn.personal()
        return personal.setdefault("crisis", {}) if personal is not None else {}

    def active(self, turn: Turn) -> bool:
        return bool(self.state(turn).get("active"))

    # --- the crisis reply and what follows it ----------------------------------------------------------------

    async def reply(self, turn: Turn) -> None:
        """The deterministic crisis reply, the person's own plan quoted, and escalation by policy."""
        assessment = turn.assessment
        assert assessment is not None
        crisis = self.state(turn)
        crisis.update(active=True, checks=0, replied_level=max(int(assessment.level), crisis.get("replied_level", 0)))
        # Whatever guided flow was open (a safety plan step, a questionnaire) is closed: the next message is the
        # person talking to us about their crisis, not an answer to a form.
        turn.flow().pop("pending", None)
        youth = bool(turn.user and turn.user.profile.get("minor"))
        reply = self.core.crisis.reply(assessment, turn.country, turn.lang, youth=youth)
        quote = quote_line(self.core, turn)
        if quote:
            reply = Reply(f"{reply.text}\n\n{quote}", buttons=reply.buttons)
        turn.outgoing.append(reply)
        await self._count(turn, assessment.level)
        policy = self.core.settings.crisis.escalation
        if assessment.level >= RiskLevel.HIGH:
            await self.escalate(turn)
        elif assessment.level == RiskLevel.MODERATE and policy.escalate_moderate and self.core.escalator.configured:
            if policy.moderate_requires_consent:
                turn.outgoing.append(Reply(self.t("crisis_flow.ask_escalate", turn.lang), buttons=(
                    Button(self.t("crisis_flow.escalate_yes", turn.lang), "esc:yes"),
                    Button(self.t("crisis_flow.escalate_no", turn.lang), "esc:no"))))
            else:
                await self.escalate(turn)
        await self._schedule_silence_check(turn)

    async def escalate(self, turn: Turn) -> None:
        """Open (or raise) a case for staff, and tell the person honestly what that means."""
        escalator = self.core.escalator
        if turn.degraded:
            # The store is down: no durable case can be opened. Say so honestly; never promise a human.
            turn.outgoing.append(Reply(self.t("escalation.no_staff", turn.lang)))
            log.error("event=escalation_impossible reason=store_unavailable")
            return
        if escalator.configured:
            assert turn.assessment is not None
            await escalator.open_case(user_key=turn.user_key, address=_address(turn), assessment=turn.assessment,
                                      now=turn.now)
        turn.outgoing.append(Reply(escalator.person_notice(turn.lang)))

    async def _count(self, turn: Turn, level: RiskLevel) -> None:
        """Crisis referrals by level, platform and month, without identifiers, for compliance reports."""
        if turn.degraded:
            return
        await self.core.store.bump_counter("crisis_referral", turn.now.strftime("%Y-%m"),
                                           f"level={level.label};platform={turn.event.conversation.platform}")
        await self.core.store.audit("crisis_referral", turn.now, turn.user_key,
                                    {"level": level.label, "signals": list(turn.assessment.signals if turn.assessment
                                                                           else ())})

    async def _schedule_silence_check(self, turn: Turn) -> None:
        # Only in private chats: anything sent later into a group would tell others about the person's risk.
        if turn.degraded or turn.state is None or not turn.event.conversation.is_direct:
            return
        turn.state["address"] = _address(turn)
        checks = int(self.state(turn).get("silence_checks", 0))
        if checks >= 2:
            return
        self.state(turn)["silence_checks"] = checks + 1
        await self.core.store.enqueue_job(SILENCE_JOB, {"conv_key": turn.conv_key, "user_key": turn.user_key},
                                          turn.now + SILENCE_AFTER, dedupe_key=f"silence:{turn.conv_key}:{checks}")

    # --- messages while the crisis state is active -----------------------------------------------------------

    async def on_message(self, turn: Turn, text: str) -> bool:
        """Handle a message in crisis state; False lets the ordinary responder answer (with help kept close)."""
        if not turn.degraded:
            await self.core.store.cancel_jobs(f"silence:{turn.conv_key}:")
        crisis = self.state(turn)
        if is_reassurance(text, turn.lang):
            crisis["checks"] = int(crisis.get("checks", 0)) + 1
            if crisis["checks"] == 1:
                turn.outgoing.append(Reply(self.t("crisis_flow.check_again", turn.lang), buttons=self._buttons(turn)))
            else:
                self._offer_followup(turn)
            return True
        return False

    def keep_help_close(self, turn: Turn) -> None:
        """Add the short help buttons to the last reply while the crisis state lasts."""
        for index in range(len(turn.outgoing) - 1, -1, -1):
            item = turn.outgoing[index]
            if isinstance(item, Reply) and not item.buttons:
                turn.outgoing[index] = Reply(item.text, buttons=(
                    Button(self.t("crisis.button_person", turn.lang), "crisis:person"),
                    Button(self.t("crisis_flow.button_helplines", turn.lang), "crisis:helplines")), private=item.private)
                return

    def _buttons(self, turn: Turn) -> tuple[Button, ...]:
        return (Button(self.t("crisis.button_safe", turn.lang), "crisis:safe"),
                Button(self.t("crisis.button_person", turn.lang), "crisis:person"))

    def _offer_followup(self, turn: Turn) -> None:
        crisis = self.state(turn)
        declined = bool(turn.user and turn.user.profile.get("followups") is False)   # said no in /settings
        if crisis.get("followup") in {"yes", "no"} or declined:
            turn.outgoing.append(Reply(self.t("crisis_flow.help_nearby", turn.lang)))
            return
        crisis["followup"] = "asked"
        turn.outgoing.append(Reply(self.t("crisis_flow.followup_offer", turn.lang), buttons=(
            Button(self.t("crisis_flow.followup_yes", turn.lang), "followup:yes"),
            Button(self.t("crisis_flow.followup_no", turn.lang), "followup:no"))))

    # --- buttons ---------------------------------------------------------------------------------------------

    async def on_button(self, turn: Turn, action: str) -> None:
        lines = self.core.crisis.helplines(turn.country, turn.lang).lines
        listing = "\n".join(f"• {line.format_line()}" for line in lines)
        if action == "crisis:safe":
            self.state(turn)["safe_confirmed"] = turn.now.isoformat()
            turn.outgoing.append(Reply(f"{self.t('crisis.after_safe', turn.lang)}\n{listing}"))
            self._offer_followup(turn)
        elif action == "crisis:person":
            turn.outgoing.append(Reply(f"{self.t('crisis.after_person', turn.lang)}\n{listing}"))
            if turn.assessment is None:
                turn.assessment = self.core.current_risk(turn)
            await self.escalate(turn)
        elif action == "crisis:helplines":
            turn.outgoing.append(Reply(listing))
        elif action == "crisis:plan":
            await SafetyPlanFlow(self.core).start(turn)
        elif action == "crisis:grounding":
            turn.outgoing.append(Reply(f"{self.t('crisis.after_grounding', turn.lang)}\n{listing}"))
        elif action == "esc:yes":
            turn.assessment = self.core.current_risk(turn)
            await self.escalate(turn)
        elif action == "esc:no":
            turn.outgoing.append(Reply(self.t("crisis_flow.escalate_declined", turn.lang)))
        elif action == "followup:yes":
            await self._schedule_followup(turn)
        elif action == "followup:no":
            self.state(turn)["followup"] = "no"
            turn.outgoing.append(Reply(self.t("crisis_flow.followup_declined", turn.lang)))

    async def _schedule_followup(self, turn: Turn) -> None:
        self.state(turn)["followup"] = "yes"
        if not turn.degraded and turn.state is not None and turn.event.conversation.is_direct:
            turn.state["address"] = _address(turn)
            await self.core.store.enqueue_job(FOLLOWUP_JOB, {"conv_key": turn.conv_key, "user_key": turn.user_key},
                                              turn.now + FOLLOWUP_AFTER,
                                              dedupe_key=f"followup:{turn.conv_key}:{turn.now.date().isoformat()}")
            await self.core.store.audit("followup_scheduled", turn.now, turn.user_key, {})
        turn.outgoing.append(Reply(self.t("crisis_flow.followup_scheduled", turn.lang)))

    # --- durable jobs ----------------------------------------------------------------------------------------

    async def run_silence_check(self, job: Job) -> None:
        await self._send_to_person(job, "crisis_flow.silence_message", with_helplines=True)

    async def run_followup(self, job: Job) -> None:
        await self._send_to_person(job, "crisis_flow.followup_message", with_helplines=False)

    async def _send_to_person(self, job: Job, key: str, *, with_helplines: bool) -> None:
        record = await self.core.store.load_conversation(job.payload["conv_key"], job.payload["user_key"])
        address = record.state.get("address")
        if not address:
            return   # erased, or never consented to being contacted
        target = ConversationRef(address["platform"], address["chat_id"], ConversationKind(address["kind"]),
                                 address.get("thread_id"), address.get("space_id"))
        lang = address.get("lang", self.core.settings.bot.default_language)
        text = self.t(key, lang, bot_name=self.core.settings.bot.name)
        if with_helplines:
            lines = self.core.crisis.helplines(address.get("country"), lang).lines
            text += "\n" + "\n".join(f"• {line.format_line()}" for line in lines)
        buttons = (Button(self.t("crisis_flow.button_ok", lang), "crisis:safe"),
                   Button(self.t("crisis_flow.button_not_great", lang), "crisis:person"))
        try:
            await self.core.outbox.deliver(target, Reply(text, buttons=buttons))
        except DeliveryError as error:
            if not error.retryable:
                return   # blocked or gone: do not keep trying to reach someone who cannot be reached
            raise


def _address(turn: Turn) -> dict[str, Any]:
    ref = turn.event.conversation
    return {"platform": ref.platform, "chat_id": ref.chat_id, "kind": ref.kind.value, "thread_id": ref.thread_id,
            "space_id": ref.space_id, "lang": turn.lang, "country": turn.country}

