"""The optional intake before a person's first appointment, shared with the provider only if they say yes.

Four short steps: how they would like to be contacted, what they would like help with (their own words),
recent questionnaire scores if the wellbeing feature has any (only if they choose to include them), and
consent. The person sees exactly what would be shared before agreeing. Only then is the summary kept (encrypted)
and sent to the provider's staff destination as readable text plus a JSON document. It is the person's own
account: Haven adds no interpretation, score meaning or diagnosis. Declining keeps nothing but the fact that
intake was offered, so it is not offered again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.events import Button, ButtonPressed, Reply
from bot.flows.appointment_notices import intake_text, staff_job, when_text
from bot.flows.appointments_store import Appointment, AppointmentStore, utc
from bot.flows.registry import AnswerHandler
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core
    from bot.flows.providers import Provider

log = logging.getLogger("haven.booking")

CONTACT_PENDING = "intake_contact"
HELP_PENDING = "intake_help"
CONTACTS = ("here", "phone", "email", "none")
MAX_HELP_CHARS = 1000
MAX_SCREENINGS = 3
#: A question left unanswered this long no longer captures the next message (someone back a day later writing
#: "hi" is not telling us their phone number).
ANSWER_WINDOW = timedelta(minutes=30)
NOTICE = ("Self-reported by the person through Haven, an AI support bot. Not a diagnosis, assessment or "
          "referral; Haven adds no interpretation.")


def expect_answer(turn: Turn, pending: str) -> None:
    """The next typed message answers this question, for ANSWER_WINDOW."""
    turn.flow().update(pending=pending, asked_at=turn.now.isoformat())


async def answered_elsewhere(core: Core, turn: Turn, text: str) -> bool:
    """A typed answer to a booking or intake question is not taken as one when the conversation is in crisis
    state (the crisis flow answers first) or when the question was asked too long ago (the responder answers).
    The core has already assessed the message for risk either way."""
    flow = turn.flow()
    try:
        expired = turn.now - datetime.fromisoformat(str(flow.get("asked_at"))) > ANSWER_WINDOW
    except (TypeError, ValueError):
        expired = True
    crisis = core.crisis_flow.active(turn)
    if not (crisis or expired):
        return False
    flow.pop("pending", None)
    if not (crisis and await core.crisis_flow.on_message(turn, text)):
        await core.respond(turn, text)
        if crisis:
            core.crisis_flow.keep_help_close(turn)
    return True


class Intake:
    def __init__(self, core: Core, store: AppointmentStore, providers: dict[str, Provider]) -> None:
        self.core = core
        self.t = core.catalog.t
        self.store = store
        self.providers = providers

    @property
    def answers(self) -> dict[str, AnswerHandler]:
        return {CONTACT_PENDING: self.on_contact_detail, HELP_PENDING: self.on_help}

    def state(self, turn: Turn) -> dict[str, Any]:
        return turn.flow().setdefault("intake", {})

    def offer(self, turn: Turn, appointment: Appointment) -> None:
        turn.flow()["intake"] = {"booking": appointment.booking_id, "answers": {}}
        turn.outgoing.append(Reply(self.t("booking.intake.offer", turn.lang), buttons=(
            Button(self.t("booking.intake.button_start", turn.lang), "ik:start"),
            Button(self.t("booking.intake.button_no", turn.lang), "ik:no"))))

    # --- steps -----------------------------------------------------------------------------------------------

    def _ask_contact(self, turn: Turn) -> None:
        buttons = tuple(Button(self.t(f"booking.intake.contact.{c}", turn.lang), "ik:contact", c) for c in CONTACTS)
        turn.outgoing.append(Reply(self.t("booking.intake.ask_contact", turn.lang), buttons=buttons))

    def _ask_help(self, turn: Turn) -> None:
        expect_answer(turn, HELP_PENDING)
        turn.outgoing.append(Reply(self.t("booking.intake.ask_help", turn.lang),
                                   buttons=(Button(self.t("booking.intake.button_skip", turn.lang), "ik:skip"),)))

    async def _ask_screenings(self, turn: Turn) -> None:
        found = await self._screenings(turn)
        if not found:
            await self._ask_consent(turn)
            return
        self.state(turn)["offered_screenings"] = found
        listing = "\n".join(f"• {s['name']}: {s['score']}{s['of']} ({s['at'][:10]})" for s in found)
        turn.outgoing.append(Reply(self.t("booking.intake.ask_screenings", turn.lang, listing=listing), buttons=(
            Button(self.t("booking.intake.button_include", turn.lang), "ik:scr", "yes"),
            Button(self.t("booking.intake.button_leave_out", turn.lang), "ik:scr", "no"))))

    async def _screenings(self, turn: Turn) -> list[dict[str, Any]]:
        """The latest result per questionnaire, if the wellbeing feature keeps screenings; [] otherwise."""
        fetch = getattr(self.core.store, "screenings", None)
        if fetch is None:
            return []
        try:
            records = await fetch(turn.user_key, 20)
        except Exception:   # the wellbeing feature is absent or its table is not there: intake goes on without
            log.info("event=intake_screenings_unavailable")
            return []
        try:
            from bot.flows.questionnaires import load_all, text   # names and maxima, when the feature ships them
            known = load_all()
        except Exception:
            known, text = {}, None
        latest: dict[str, dict[str, Any]] = {}
        for record in records:
            qid = str(getattr(record, "questionnaire", ""))
            if qid and qid not in latest:
                at = getattr(record, "at", None)
                questionnaire = known.get(qid)
                latest[qid] = {"questionnaire": qid, "score": getattr(record, "score", None),
                               "band": getattr(record, "band", ""),
                               "name": text(questionnaire.name, "en") if questionnaire and text else qid.upper(),
                               "of": f"/{questionnaire.max_score}" if questionnaire else "",
                               "at": at.isoformat() if isinstance(at, datetime) else str(at or "")}
        return list(latest.values())[:MAX_SCREENINGS]

    async def _ask_consent(self, turn: Turn) -> None:
        state = self.state(turn)
        appointment = await self.store.get(str(state.get("booking")))
        provider = self.providers.get(appointment.provider_id) if appointment else None
        if appointment is None or provider is None or appointment.user_key != turn.user_key:
            turn.flow().pop("intake", None)
            turn.outgoing.append(Reply(self.t("booking.expired", turn.lang)))
            return
        given = state.get("answers") or {}
        document = {
            "type": "haven.intake", "version": 1, "booking": appointment.booking_id, "provider": provider.id,
            "appointment_start": utc(appointment.start),
            "appointment_local": when_text(self.core.catalog, "en", appointment.start, provider.zone, with_zone=True),
            "contact_preference": given.get("contact"), "contact_detail": given.get("contact_detail"),
            "help_with": given.get("help_with"),
            "screenings": state.get("offered_screenings", []) if given.get("include_screenings") else [],
            "consent": {"share_with_provider": True, "at": turn.now.isoformat()}, "notice": NOTICE}
        state["draft"] = document
        preview = intake_text(self.core.catalog, turn.lang, document)
        turn.outgoing.append(Reply(self.t("booking.intake.ask_consent", turn.lang, provider=provider.name,
                                          summary=preview), buttons=(
            Button(self.t("booking.intake.button_share", turn.lang), "ik:share", "yes"),
            Button(self.t("booking.intake.button_keep_private", turn.lang), "ik:share", "no"))))

    async def _finish(self, turn: Turn, *, share: bool) -> None:
        state = self.state(turn)
        booking_id = str(state.get("booking") or "")
        document = state.get("draft") if share else None
        appointment = await self.store.get(booking_id) if booking_id else None
        turn.flow().pop("intake", None)
        if turn.flow().get("pending") in (CONTACT_PENDING, HELP_PENDING):
            turn.flow().pop("pending", None)
        if appointment is None or appointment.user_key != turn.user_key or turn.degraded:
            turn.outgoing.append(Reply(self.t("booking.expired", turn.lang)))
            return
        jobs = [staff_job(appointment, "intake", turn.now)] if document else []
        await self.store.save_intake(user_key=turn.user_key, booking_id=booking_id, answers=document, now=turn.now,
                                     jobs=jobs)
        await self.core.store.audit("intake_shared" if document else "intake_not_shared", turn.now, turn.user_key,
                                    {"booking": booking_id})
        turn.outgoing.append(Reply(self.t("booking.intake.shared" if document else "booking.intake.not_shared",
                                          turn.lang)))

    # --- typed answers ---------------------------------------------------------------------------------------

    async def on_contact_detail(self, turn: Turn, text: str) -> None:
        if await answered_elsewhere(self.core, turn, text):
            return
        self.state(turn).setdefault("answers", {})["contact_detail"] = " ".join(text.split())[:200]
        self._ask_help(turn)

    async def on_help(self, turn: Turn, text: str) -> None:
        if await answered_elsewhere(self.core, turn, text):
            return
        turn.flow().pop("pending", None)
        self.state(turn).setdefault("answers", {})["help_with"] = text.strip()[:MAX_HELP_CHARS]
        await self._ask_screenings(turn)

    # --- buttons ---------------------------------------------------------------------------------------------

    async def on_button(self, turn: Turn, event: ButtonPressed) -> None:
        action, value = event.action_id, event.value
        state = turn.flow().get("intake")
        if not state or not turn.event.conversation.is_direct:
            turn.outgoing.append(Reply(self.t("booking.expired", turn.lang)))
            return
        answers = state.setdefault("answers", {})
        if action == "ik:start":
            self._ask_contact(turn)
        elif action == "ik:contact" and value in CONTACTS:
            answers["contact"] = value
            if value in ("phone", "email"):
                expect_answer(turn, CONTACT_PENDING)
                turn.outgoing.append(Reply(self.t(f"booking.intake.ask_{value}", turn.lang), buttons=(
                    Button(self.t("booking.intake.button_skip", turn.lang), "ik:skip"),)))
            else:
                self._ask_help(turn)
        elif action == "ik:skip":
            pending = turn.flow().pop("pending", None)
            if pending == CONTACT_PENDING:
                self._ask_help(turn)
            else:
                await self._ask_screenings(turn)
        elif action == "ik:scr":
            answers["include_screenings"] = value == "yes"
            await self._ask_consent(turn)
        elif action == "ik:share" and state.get("draft"):
            await self._finish(turn, share=value == "yes")
        elif action == "ik:no":
            await self._finish(turn, share=False)
        else:
            turn.outgoing.append(Reply(self.t("booking.expired", turn.lang)))
