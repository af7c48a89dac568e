"""`/appointments`: the person's upcoming appointments, each with Change and Cancel; and the staff day sheet.

Only the person who booked can change or cancel (every action re-checks ownership against the pseudonymous user
key, so a forwarded or replayed button does nothing for anyone else). Cancelling asks once, then frees the slot,
cancels the reminders in the same transaction, tells the provider and sends a cancelling .ics.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from bot.events import Button, Reply
from bot.flows.appointment_notices import (invitation, modality_text, person_zone, reminder_jobs, staff_job,
                                           when_text)
from bot.flows.appointments_store import Appointment, AppointmentStore
from bot.flows.availability import Slot
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.flows.booking import Booking
    from bot.flows.providers import Provider

log = logging.getLogger("haven.booking")

MAX_LISTED = 3


class ManageAppointments:
    def __init__(self, booking: Booking) -> None:
        self.booking = booking
        self.core = booking.core
        self.t = booking.core.catalog.t

    async def appointments(self, turn: Turn, argument: str = "") -> None:
        booking = self.booking
        if not booking._usable(turn):
            return
        mine = await booking.store.upcoming(turn.user_key, turn.now)
        if not mine:
            turn.outgoing.append(Reply(self.t("booking.none_booked", turn.lang),
                                       buttons=(Button(self.t("booking.button_book", turn.lang), "bk:new"),)))
            return
        zone = person_zone(turn.user.profile if turn.user else None)
        lines, buttons = [self.t("booking.list_header", turn.lang)], []
        for appointment in mine:
            provider = booking.providers.get(appointment.provider_id)
            name = provider.name if provider else appointment.provider_id
            here = zone or (provider.zone if provider else None)
            when = when_text(self.core.catalog, turn.lang, appointment.start, here, with_zone=True) if here else ""
            how = modality_text(self.core.catalog, turn.lang, appointment.modality, provider) if provider else ""
            lines.append(f"• {when} – {name} ({how}) · {appointment.booking_id}")
            if len(buttons) < 2 * MAX_LISTED:
                short = when.rsplit(" ", 1)[0]
                buttons += [Button(self.t("booking.button_move", turn.lang, when=short), "bk:move",
                                   appointment.booking_id),
                            Button(self.t("booking.button_cancel", turn.lang, when=short), "bk:cancel",
                                   appointment.booking_id)]
        turn.outgoing.append(Reply("\n".join(lines), buttons=tuple(buttons)))

    async def own(self, turn: Turn, booking_id: str) -> Appointment | None:
        """The person's own booked appointment, or None (someone else's, cancelled, erased or unknown)."""
        found = await self.booking.store.get(booking_id)
        if found is None or found.user_key != turn.user_key or found.status != "booked":
            return None
        return found

    async def record(self, turn: Turn, kind: str, appointment: Appointment) -> None:
        """Audit (pseudonymous) and count (no identifiers) each booking, change and cancellation."""
        await self.core.store.audit(kind, turn.now, turn.user_key, {"booking": appointment.booking_id})
        await self.core.store.bump_counter("appointment", turn.now.strftime("%Y-%m"), f"event={kind}")
        log.info("event=%s", kind)

    async def start_move(self, turn: Turn, booking_id: str) -> None:
        current = await self.own(turn, booking_id)
        if current is None or current.provider_id not in self.booking.providers:
            turn.outgoing.append(Reply(self.t("booking.expired", turn.lang)))
            return
        turn.flow()["booking"] = {"mode": "move", "booking": booking_id, "provider": current.provider_id}
        await self.booking.show_slots(turn)

    async def move(self, turn: Turn, booking_id: str, slot: Slot, offsets: list[float]) -> Appointment | None:
        """Reschedule (same provider): the old reminders are cancelled and new ones queued with the change."""
        current = await self.own(turn, booking_id)
        if current is None:
            return None
        draft = replace(current, start=slot.start, end=slot.end, sequence=current.sequence + 1)
        jobs = reminder_jobs(draft, offsets, turn.now) + [staff_job(draft, "rescheduled", turn.now,
                                                                    previous=current.start)]
        done = await self.booking.store.move(current, slot, now=turn.now, jobs=jobs)
        await self.record(turn, "appointment_rescheduled", done)
        return done

    async def cancel(self, turn: Turn, booking_id: str, *, confirmed: bool) -> None:
        booking = self.booking
        current = await self.own(turn, booking_id)
        provider = booking.providers.get(current.provider_id) if current else None
        if current is None or provider is None:
            turn.outgoing.append(Reply(self.t("booking.expired", turn.lang)))
            return
        zone = person_zone(turn.user.profile if turn.user else None) or provider.zone
        when = when_text(self.core.catalog, turn.lang, current.start, zone, with_zone=True)
        if not confirmed:
            turn.outgoing.append(Reply(self.t("booking.cancel_question", turn.lang, when=when, provider=provider.name),
                                       buttons=(Button(self.t("booking.button_cancel_yes", turn.lang), "bk:drop",
                                                       booking_id),
                                                Button(self.t("booking.button_keep", turn.lang), "bk:keep"))))
            return
        draft = replace(current, status="cancelled", sequence=current.sequence + 1)
        if not await booking.store.cancel(current, now=turn.now, jobs=[staff_job(draft, "cancelled", turn.now)]):
            turn.outgoing.append(Reply(self.t("booking.expired", turn.lang)))
            return
        await self.record(turn, "appointment_cancelled", draft)
        turn.flow().pop("booking", None)
        turn.outgoing.append(Reply(self.t("booking.cancelled", turn.lang, when=when, provider=provider.name)))
        turn.outgoing.append(invitation(draft, provider, self.core.catalog, turn.lang,
                                        bot_name=self.core.settings.bot.name, now=turn.now))


async def day_sheet(store: AppointmentStore, provider: Provider, day: date) -> list[str]:
    """`haven appointments --provider X --day D`: one provider's booked appointments on a local date, as lines.
    Staff see booking references, the modality and a name only where the person chose to share one."""
    start = datetime.combine(day, time(0), tzinfo=provider.zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=provider.zone)
    booked = await store.for_provider(provider.id, start, end)
    lines = [f"{provider.name} – {day:%a %d %b %Y} ({provider.zone.key})"]
    for appointment in booked:
        local_start, local_end = appointment.start.astimezone(provider.zone), appointment.end.astimezone(provider.zone)
        who = f"{appointment.shared_name} (name shared)" if appointment.shared_name else "not named"
        lines.append(f"{local_start:%H:%M}–{local_end:%H:%M}  {appointment.booking_id}  "
                     f"{appointment.modality:<9}  {who}")
    lines.append(f"{len(booked)} appointment{'s' if len(booked) != 1 else ''}.")
    return lines
