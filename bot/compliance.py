"""Disclosure schedules required of AI companion and mental-health chatbots, as configuration.

`compliance.profile` combines rule sets (design.md §3):
- default: an AI notice at first contact and again after a gap of 7 days; an honest answer whenever the person
  asks whether they are talking to a human.
- us-ny (New York AI companion safeguards): also a reminder every 3 hours of continuing conversation.
- us-ca (California SB 243): for people who say they are minors, a break reminder every 3 hours and youth
  services first; crisis referrals are counted for the annual report (`haven report`).
- us-ut (Utah HB 452): the AI notice before any exchange and after 7 days without use.
- eu (EU AI Act, art. 50): people are told they are interacting with an AI (covered by default).
- us-il (Illinois HB 1806): never describes the service as therapy, and questionnaire results are shown
  without clinical interpretation.
Every notice shown is written to the audit log, so an operator can prove what was disclosed and when.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.events import Button, Reply
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core

REMINDER_EVERY = timedelta(hours=3)
GAP_NOTICE_AFTER = timedelta(days=7)

#: "Are you a human / a real person / a bot?" in the catalog languages. Matched on the whole message.
_ASKS_IF_HUMAN = re.compile(
    r"\b(?:are|r)\s*(?:you|u)\s+(?:a\s+)?(?:real\s+)?(?:human|person|people|bot|robot|ai|machine|real|therapist)\b"
    r"|\bam\s+i\s+(?:talking|chatting|speaking)\s+(?:to|with)\s+(?:a\s+)?(?:real\s+)?(?:human|person|bot|robot|ai)\b"
    r"|\bis\s+this\s+(?:a\s+)?(?:real\s+)?(?:human|person|bot|robot|ai)\b"
    r"|\b(?:eres|es)\s+(?:un[ao]?\s+)?(?:humano|persona|robot|bot|ia|real)\b"
    r"|\bbist\s+du\s+(?:ein\s+)?(?:mensch|roboter|bot|echt|ki)\b"
    r"|\b(?:es-tu|êtes-vous|es\s+tu)\s+(?:un\s+)?(?:humain|robot|bot|ia|réel)\b"
    r"|\b(?:você\s+é|voce\s+e|és)\s+(?:um\s+)?(?:humano|pessoa|robô|robo|bot|ia|real)\b"
    r"|\bsei\s+(?:un\s+)?(?:umano|persona|robot|bot|ia|reale)\b"
    r"|\bben\s+je\s+(?:een\s+)?(?:mens|robot|bot|ai|echt)\b",
    re.IGNORECASE)
#: "I'm 15", "I am 14 years old", "im 16yo": a stated age under 18.
_STATED_AGE = re.compile(r"\b(?:i\s*am|i'?m|im)\s+(\d{1,2})\s*(?:years?\s*old|yo|y/o|yrs?)?\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rules:
    reminder_every_3h: bool
    minor_break_reminders: bool
    gap_notice: bool
    no_therapy_wording: bool
    interpretations: bool


def rules_for(profiles: list[str]) -> Rules:
    chosen = set(profiles) | {"default"}
    return Rules(reminder_every_3h="us-ny" in chosen, minor_break_reminders="us-ca" in chosen,
                 gap_notice=bool(chosen & {"default", "us-ut"}), no_therapy_wording="us-il" in chosen,
                 interpretations="us-il" not in chosen)


def asks_if_human(text: str) -> bool:
    return bool(_ASKS_IF_HUMAN.search(text[:300]))


def stated_minor(text: str) -> bool | None:
    """True for a stated age 10-17, False for 18-99, None when no age was stated."""
    match = _STATED_AGE.search(text[:500])
    if not match:
        return None
    age = int(match.group(1))
    if 10 <= age <= 17:
        return True
    return False if age >= 18 else None


class Compliance:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.rules = rules_for(list(core.settings.compliance.profile))
        self.t = core.catalog.t

    def _state(self, turn: Turn) -> dict[str, Any]:
        return turn.state.setdefault("compliance", {}) if turn.state is not None else {}

    async def before_reply(self, turn: Turn, text: str) -> bool:
        """Notices that come before the answer. True when the message was fully answered here."""
        state = self._state(turn)
        last = _parse(state.get("last_message_at"))
        state["last_message_at"] = turn.now.isoformat()
        minor = stated_minor(text)
        if minor is not None and turn.user is not None:
            await self._remember_age(turn, minor)
        if (self.rules.gap_notice and last is not None and turn.now - last >= GAP_NOTICE_AFTER
                and not turn.disclosed):
            await self._notice(turn, "compliance.gap_notice", "notice_gap")
        if asks_if_human(text):
            await self._notice(turn, "compliance.are_you_human", "notice_asked_if_human",
                               buttons=(Button(self.t("crisis.button_person", turn.lang), "crisis:person"),))
            return True
        return False

    async def after_reply(self, turn: Turn) -> None:
        """Periodic reminders, after the answer so they never push help further down."""
        state = self._state(turn)
        since = _parse(state.get("last_reminder_at")) or _parse(state.get("session_started_at"))
        if since is None:
            state["session_started_at"] = turn.now.isoformat()
            return
        if turn.now - since < REMINDER_EVERY:
            return
        minor = bool(turn.user and turn.user.profile.get("minor"))
        if self.rules.minor_break_reminders and minor:
            await self._notice(turn, "compliance.break_reminder", "notice_break_reminder")
        elif self.rules.reminder_every_3h:
            await self._notice(turn, "compliance.ai_reminder", "notice_ai_reminder")
        else:
            return
        state["last_reminder_at"] = turn.now.isoformat()

    async def _notice(self, turn: Turn, key: str, audit_kind: str, buttons: tuple[Button, ...] = ()) -> None:
        turn.outgoing.append(Reply(self.t(key, turn.lang, bot_name=self.core.settings.bot.name), buttons=buttons))
        if not turn.degraded:
            await self.core.store.audit(audit_kind, turn.now, turn.user_key, {"profile": self.core.settings.compliance.profile})

    async def _remember_age(self, turn: Turn, minor: bool) -> None:
        assert turn.user is not None
        if turn.user.profile.get("minor") == minor or turn.degraded:
            return
        profile = {**turn.user.profile, "minor": minor}
        await self.core.store.update_user(turn.user_key, profile=profile)
        turn.user = type(turn.user)(**{name: getattr(turn.user, name) for name in turn.user.__slots__}
                                    | {"profile": profile})


def _parse(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
