"""`/book` and `/appointments`: find a counsellor or service, pick a free time, get an .ics, change or cancel it.

Steps, all with buttons so every platform can do them: need (topic) -> language -> the next free times in the
person's own time zone (their /settings zone, else the provider's, and the reply says which) -> how to meet
(when there is a choice) -> whether to share a name with the provider -> confirm. The database decides races:
two people pressing the same time get one booking and one "just taken" with the next free times. Booking is for
direct messages only: nothing about a person's appointments is ever written into a group.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.events import Button, ButtonPressed, Reply
from bot.flows.appointment_notices import (REMINDER_JOB, STAFF_JOB, Notices, display_zone, invitation,
                                           modality_text, person_zone, reminder_jobs, staff_job, topic_label,
                                           when_text)
from bot.flows.appointments_manage import ManageAppointments
from bot.flows.appointments_store import Appointment, AppointmentStore, SlotTaken
from bot.flows.availability import Slot, is_offered, next_slots, parse_slot_value
from bot.flows.intake import Intake, answered_elsewhere, expect_answer
from bot.flows.providers import MODALITIES, Provider, load_providers
from bot.flows.registry import Feature
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger("haven.booking")

NAME_PENDING = "book_name"
MAX_TOPICS = 7


class Booking:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.t = core.catalog.t
        self.config = core.settings.appointments
        loaded = load_providers(self.config.providers) if self.config.providers else ()
        self.providers: dict[str, Provider] = {p.id: p for p in loaded}
        self.store = AppointmentStore(core.store)
        self.notices = Notices(core, self.providers, self.store)
        self.intake = Intake(core, self.store, self.providers)
        self.manage = ManageAppointments(self)

    def state(self, turn: Turn) -> dict[str, Any]:
        return turn.flow().setdefault("booking", {})

    def _usable(self, turn: Turn) -> bool:
        reason = ("booking.private_only" if not turn.event.conversation.is_direct else
                  "booking.not_configured" if not self.providers else
                  "booking.unavailable" if turn.degraded else None)
        if reason:
            turn.outgoing.append(Reply(self.t(reason, turn.lang), private=True))
        return reason is None

    # --- /book: need, language, times ------------------------------------------------------------------------

    async def book(self, turn: Turn, argument: str = "") -> None:
        if not self._usable(turn):
            return
        turn.flow()["booking"] = {"mode": "new"}
        topics = list(dict.fromkeys(topic for p in self.providers.values() for topic in p.topics))
        if len(topics) <= 1:
            await self._choose_topic(turn, topics[0] if topics else "*")
            return
        buttons = [Button(topic_label(self.core.catalog, turn.lang, topic), "bk:topic", topic)
                   for topic in topics[:MAX_TOPICS]]
        buttons.append(Button(self.t("booking.topic_any", turn.lang), "bk:topic", "*"))
        turn.outgoing.append(Reply(self.t("booking.ask_topic", turn.lang), buttons=tuple(buttons)))

    async def _choose_topic(self, turn: Turn, topic: str) -> None:
        state = self.state(turn)
        state["topic"] = topic
        langs = list(dict.fromkeys(lang for p in self._matching(topic, None) for lang in p.languages))
        langs.sort(key=lambda code: code != turn.lang)
        if len(langs) <= 1:
            state["lang"] = langs[0] if langs else None
            await self.show_slots(turn)
            return
        buttons = tuple(Button(self.core.catalog.get(f"booking.language_names.{code}", turn.lang) or code.upper(),
                               "bk:lang", code) for code in langs[:8])
        turn.outgoing.append(Reply(self.t("booking.ask_language", turn.lang), buttons=buttons))

    def _matching(self, topic: str | None, lang: str | None) -> list[Provider]:
        return [p for p in self.providers.values() if p.serves(None if topic == "*" else topic, lang)]

    def _offered_providers(self, state: dict[str, Any]) -> list[Provider]:
        if state.get("mode") == "move":
            provider = self.providers.get(str(state.get("provider")))
            return [provider] if provider else []
        return self._matching(state.get("topic"), state.get("lang"))

    async def show_slots(self, turn: Turn, *, lead: str | None = None) -> None:
        state = self.state(turn)
        providers = self._offered_providers(state)
        now = turn.now
        after = now + timedelta(seconds=self.config.min_notice)
        if state.get("after"):
            after = max(after, datetime.fromisoformat(state["after"]))
        until = now + timedelta(days=self.config.horizon_days)
        taken = await self.store.taken([p.id for p in providers], now, until)
        slots = next_slots(providers, after=after, until=until, taken=taken, limit=self.config.slots_shown)
        intro = f"{lead}\n" if lead else ""
        if not slots:
            turn.outgoing.append(Reply(intro + self.t("booking.no_slots", turn.lang, days=self.config.horizon_days)))
            state.clear()
            return
        zone, zone_note = display_zone(self.core.catalog, turn, providers)
        buttons = [Button(self._label(turn, slot, zone), "bk:slot", slot.value) for slot in slots]
        buttons.append(Button(self.t("booking.button_later", turn.lang), "bk:more",
                              (slots[-1].start + timedelta(minutes=1)).isoformat()))
        buttons.append(Button(self.t("booking.button_stop", turn.lang), "bk:stop"))
        turn.outgoing.append(Reply(intro + self.t("booking.pick_time", turn.lang, zone_note=zone_note),
                                   buttons=tuple(buttons)))

    def _label(self, turn: Turn, slot: Slot, zone: ZoneInfo | None) -> str:
        when = when_text(self.core.catalog, turn.lang, slot.start, zone or slot.provider.zone, with_zone=zone is None)
        return f"{when} – {slot.provider.name}"[:60]

    async def _pick_slot(self, turn: Turn, value: str) -> None:
        state = self.state(turn)
        parsed = parse_slot_value(value)
        provider = self.providers.get(parsed[0]) if parsed else None
        if parsed is None or provider is None or not state or (
                state.get("mode") == "move" and provider.id != state.get("provider")):
            turn.outgoing.append(Reply(self.t("booking.expired", turn.lang)))
            return
        if await self._still_free(turn, provider, parsed[1]) is None:
            await self.show_slots(turn, lead=self.t("booking.slot_gone", turn.lang))
            return
        state["slot"] = value
        if state.get("mode") == "move":
            await self._confirm(turn)
        elif len(provider.modalities) > 1:
            buttons = tuple(Button(modality_text(self.core.catalog, turn.lang, m, provider), "bk:how", m)
                            for m in provider.modalities)
            turn.outgoing.append(Reply(self.t("booking.ask_modality", turn.lang), buttons=buttons))
        else:
            state["modality"] = provider.modalities[0]
            self._ask_name(turn)

    async def _still_free(self, turn: Turn, provider: Provider, start: datetime) -> Slot | None:
        taken = await self.store.taken([provider.id], start - timedelta(days=1), start + timedelta(days=1))
        return is_offered(provider, start, after=turn.now + timedelta(seconds=self.config.min_notice),
                          taken=taken.get(provider.id, []))

    def _ask_name(self, turn: Turn) -> None:
        buttons = []
        shown = (turn.event.sender.display_name or "").strip()
        if shown:
            buttons.append(Button(self.t("booking.name_share_as", turn.lang, name=shown[:30]), "bk:name", "display"))
        buttons.append(Button(self.t("booking.name_type", turn.lang), "bk:name", "type"))
        buttons.append(Button(self.t("booking.name_anonymous", turn.lang), "bk:name", "anon"))
        turn.outgoing.append(Reply(self.t("booking.ask_name", turn.lang), buttons=tuple(buttons)))

    async def on_name(self, turn: Turn, text: str) -> None:
        """The typed name (pending flow `book_name`)."""
        if await answered_elsewhere(self.core, turn, text):
            return
        turn.flow().pop("pending", None)
        self.state(turn)["name"] = " ".join(text.split())[:60]
        await self._confirm(turn)

    async def _confirm(self, turn: Turn) -> None:
        state = self.state(turn)
        parsed = parse_slot_value(str(state.get("slot", "")))
        provider = self.providers.get(parsed[0]) if parsed else None
        if parsed is None or provider is None:
            turn.outgoing.append(Reply(self.t("booking.expired", turn.lang)))
            return
        start = parsed[1]
        zone, zone_note = display_zone(self.core.catalog, turn, [provider])
        when = when_text(self.core.catalog, turn.lang, start, zone or provider.zone, with_zone=True)
        if zone is not None and zone.key != provider.zone.key:
            when += self.t("booking.provider_time", turn.lang,
                           when=when_text(self.core.catalog, turn.lang, start, provider.zone, with_zone=True))
        if state.get("mode") == "move":
            text = self.t("booking.confirm_move", turn.lang, when=when, provider=provider.name)
            ok = "booking.button_confirm_move"
        else:
            who = (self.t("booking.name_will_share", turn.lang, name=state["name"]) if state.get("name")
                   else self.t("booking.name_wont_share", turn.lang))
            text = self.t("booking.confirm", turn.lang, when=when, provider=provider.name, who=who,
                          how=modality_text(self.core.catalog, turn.lang, state.get("modality", ""), provider))
            ok = "booking.button_confirm"
        turn.outgoing.append(Reply(text, buttons=(Button(self.t(ok, turn.lang), "bk:ok"),
                                                  Button(self.t("booking.button_other", turn.lang), "bk:again"),
                                                  Button(self.t("booking.button_stop", turn.lang), "bk:stop"))))

    # --- writing the booking ---------------------------------------------------------------------------------

    async def _commit(self, turn: Turn) -> None:
        state = self.state(turn)
        parsed = parse_slot_value(str(state.get("slot", "")))
        provider = self.providers.get(parsed[0]) if parsed else None
        if parsed is None or provider is None or turn.degraded:
            turn.outgoing.append(Reply(self.t("booking.expired", turn.lang)))
            return
        slot = await self._still_free(turn, provider, parsed[1])
        if slot is None:
            state.pop("slot", None)
            await self.show_slots(turn, lead=self.t("booking.slot_gone", turn.lang))
            return
        offsets = list(self.config.reminders)
        try:
            if state.get("mode") == "move":
                done = await self.manage.move(turn, str(state.get("booking")), slot, offsets)
            else:
                done = await self._book(turn, state, slot, offsets)
        except SlotTaken:
            log.info("event=slot_taken")
            state.pop("slot", None)
            await self.show_slots(turn, lead=self.t("booking.just_taken", turn.lang))
            return
        if done is None:
            turn.outgoing.append(Reply(self.t("booking.expired", turn.lang)))
            return
        moved = state.get("mode") == "move"
        turn.flow().pop("booking", None)
        zone = person_zone(turn.user.profile if turn.user else None) or provider.zone
        when = when_text(self.core.catalog, turn.lang, done.start, zone, with_zone=True)
        turn.outgoing.append(Reply(self.t("booking.moved" if moved else "booking.booked", turn.lang, when=when,
                                          provider=provider.name, booking_id=done.booking_id,
                                          how=modality_text(self.core.catalog, turn.lang, done.modality, provider))))
        turn.outgoing.append(invitation(done, provider, self.core.catalog, turn.lang,
                                        bot_name=self.core.settings.bot.name, now=turn.now))
        if not moved and self.config.intake and not await self.store.has_intake(turn.user_key):
            self.intake.offer(turn, done)

    async def _book(self, turn: Turn, state: dict[str, Any], slot: Slot, offsets: list[float]) -> Appointment:
        booking_id = "HB-" + self.core.ids.key("booking", turn.user_key, slot.value, turn.now.isoformat())[:8].upper()
        ref = turn.event.conversation
        details = {"address": {"platform": ref.platform, "chat_id": ref.chat_id, "kind": ref.kind.value,
                               "thread_id": ref.thread_id, "space_id": ref.space_id},
                   "name": state.get("name") or "", "topic": state.get("topic") or "*", "lang": turn.lang}
        draft = Appointment(booking_id, turn.user_key, slot.provider.id, slot.start, slot.end,
                            str(state.get("modality") or slot.provider.modalities[0]), "booked", 0, details)
        jobs = reminder_jobs(draft, offsets, turn.now) + [staff_job(draft, "booked", turn.now)]
        done = await self.store.book(booking_id=booking_id, user_key=turn.user_key, slot=slot,
                                     modality=draft.modality, details=details, now=turn.now, jobs=jobs)
        await self.manage.record(turn, "appointment_booked", done)
        return done

    # --- buttons ---------------------------------------------------------------------------------------------

    async def on_button(self, turn: Turn, event: ButtonPressed) -> None:
        action, value = event.action_id, event.value
        if action in ("bk:new", "bk:list"):
            await (self.book(turn) if action == "bk:new" else self.manage.appointments(turn))
            return
        if not self._usable(turn):
            return
        state = self.state(turn)
        if action == "bk:topic":
            await self._choose_topic(turn, value)
        elif action == "bk:lang":
            state["lang"] = value
            await self.show_slots(turn)
        elif action == "bk:more" and _is_instant(value):
            state["after"] = value
            await self.show_slots(turn)
        elif action == "bk:slot":
            await self._pick_slot(turn, value)
        elif action == "bk:how" and state.get("slot") and value in MODALITIES:
            state["modality"] = value
            self._ask_name(turn)
        elif action == "bk:name" and state.get("slot"):
            if value == "type":
                expect_answer(turn, NAME_PENDING)
                turn.outgoing.append(Reply(self.t("booking.type_name", turn.lang)))
                return
            state["name"] = (event.sender.display_name or "").strip()[:60] if value == "display" else ""
            await self._confirm(turn)
        elif action == "bk:ok" and state.get("slot"):
            await self._commit(turn)
        elif action == "bk:again" and state:
            state.pop("slot", None)
            await self.show_slots(turn)
        elif action == "bk:move":
            await self.manage.start_move(turn, value)
        elif action in ("bk:cancel", "bk:drop"):
            await self.manage.cancel(turn, value, confirmed=action == "bk:drop")
        elif action in ("bk:stop", "bk:keep"):
            turn.flow().pop("booking", None)
            if turn.flow().get("pending") == NAME_PENDING:
                turn.flow().pop("pending", None)
            turn.outgoing.append(Reply(self.t("booking.stopped" if action == "bk:stop" else "booking.kept",
                                              turn.lang)))
        else:
            turn.outgoing.append(Reply(self.t("booking.expired", turn.lang)))


def _is_instant(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def feature(core: Core) -> Feature:
    booking = Booking(core)
    return Feature(
        name="booking",
        commands={"book": booking.book, "appointments": booking.manage.appointments},
        buttons={"bk:": booking.on_button, "ik:": booking.intake.on_button},
        answers={NAME_PENDING: booking.on_name, **booking.intake.answers},
        jobs={REMINDER_JOB: booking.notices.run_reminder, STAFF_JOB: booking.notices.run_staff_notice},
    )
