"""What goes out about an appointment: the .ics invitation, reminders to the person, notices to the provider.

Reminders and staff notices are durable jobs written in the same transaction as the booking change. Each
handler re-reads the booking before it sends, so a reminder whose booking was cancelled or moved says nothing,
even if the job somehow survived the cancellation. Staff see a pseudonymous booking reference, the time and the
modality; a name only when the person chose to share one; intake answers only with the person's explicit consent.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar, Event

from bot.delivery import DeliveryError
from bot.events import Attachment, Button, ConversationKind, ConversationRef, Notify, Reply
from bot.flows.appointments_store import Appointment, AppointmentStore, JobSpec, utc
from bot.i18n import Catalog
from bot.store.base import Job
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core
    from bot.flows.providers import Provider

log = logging.getLogger("haven.booking")

REMINDER_JOB = "appointment_reminder"
STAFF_JOB = "appointment_staff_notice"
STAFF_LANG = "en"


def person_zone(profile: dict[str, Any] | None) -> ZoneInfo | None:
    """The zone the person chose in /settings (profile["timezone"]), or None."""
    name = (profile or {}).get("timezone")
    if not name:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def display_zone(catalog: Catalog, turn: Turn, providers: list[Provider]) -> tuple[ZoneInfo | None, str]:
    """The zone free times are shown in, and the sentence that says which: the person's own, else the provider's,
    else (several providers in different zones) None: each time in its provider's zone, labelled."""
    mine = person_zone(turn.user.profile if turn.user else None)
    if mine is not None:
        return mine, catalog.t("booking.zone_personal", turn.lang, zone=mine.key)
    zones = {p.zone.key: p.zone for p in providers}
    if len(zones) == 1:
        zone = next(iter(zones.values()))
        return zone, catalog.t("booking.zone_provider", turn.lang, zone=zone.key)
    return None, catalog.t("booking.zone_each", turn.lang)


def when_text(catalog: Catalog, lang: str, instant: datetime, zone: ZoneInfo, *, with_zone: bool = False) -> str:
    """"Mon 30 Mar 09:00" on the zone's wall clock; the abbreviation is added when asked, or when the wall time
    happens twice that night (the autumn change), so 01:30 BST and 01:30 GMT are never confused."""
    local = instant.astimezone(zone)
    days, months = catalog.raw("booking.weekdays", lang), catalog.raw("booking.months", lang)
    text = f"{days[local.weekday()]} {local.day} {months[local.month - 1]} {local:%H:%M}"
    ambiguous = local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()
    return f"{text} {local.tzname()}" if with_zone or ambiguous else text


def modality_text(catalog: Catalog, lang: str, modality: str, provider: Provider) -> str:
    return catalog.t(f"booking.modality.{modality}", lang, address=provider.address or "")


def invitation(appointment: Appointment, provider: Provider, catalog: Catalog, lang: str, *, bot_name: str,
               now: datetime) -> Attachment:
    """The appointment as an .ics file (RFC 5545), times in UTC so every calendar shows its own local time."""
    cancelled = appointment.status == "cancelled"
    calendar = Calendar()
    calendar.add("prodid", "-//Haven//Appointments//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = Event()
    event.add("uid", f"{appointment.booking_id}@haven")
    event.add("sequence", appointment.sequence)
    event.add("dtstamp", now.astimezone(timezone.utc))
    event.add("dtstart", appointment.start.astimezone(timezone.utc))
    event.add("dtend", appointment.end.astimezone(timezone.utc))
    event.add("summary", catalog.t("booking.ics_summary", lang, provider=provider.name))
    event.add("location", modality_text(catalog, lang, appointment.modality, provider))
    event.add("description", catalog.t("booking.ics_description", lang, booking_id=appointment.booking_id,
                                       bot_name=bot_name))
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    calendar.add_component(event)
    return Attachment(f"appointment-{appointment.booking_id}.ics", calendar.to_ical(), "text/calendar",
                      caption=catalog.t("booking.ics_caption", lang))


def reminder_jobs(appointment: Appointment, offsets: list[float], now: datetime) -> list[JobSpec]:
    """One job per configured offset that is still in the future ("24h before" of a booking made 3 hours ahead
    would be in the past: that one is simply not sent)."""
    jobs = []
    for offset in offsets:
        run_at = appointment.start - timedelta(seconds=offset)
        if run_at > now:
            jobs.append(JobSpec(REMINDER_JOB, {"booking_id": appointment.booking_id, "user_key": appointment.user_key,
                                               "starts_at": utc(appointment.start), "before_s": offset}, run_at,
                                f"appt:{appointment.booking_id}:rem:{appointment.sequence}:{int(offset)}"))
    return jobs


def staff_job(appointment: Appointment, event: str, now: datetime, previous: datetime | None = None) -> JobSpec:
    payload: dict[str, Any] = {"booking_id": appointment.booking_id, "user_key": appointment.user_key,
                               "event": event, "starts_at": utc(appointment.start)}
    if previous is not None:
        payload["previous"] = utc(previous)
    key = "intake" if event == "intake" else f"{appointment.sequence}:{event}"
    return JobSpec(STAFF_JOB, payload, now, f"apptstaff:{appointment.booking_id}:{key}", max_attempts=20)


def address_ref(address: dict[str, Any]) -> ConversationRef:
    return ConversationRef(address["platform"], address["chat_id"], ConversationKind(address.get("kind", "direct")),
                           address.get("thread_id"), address.get("space_id"))


class Notices:
    """The durable-job handlers: reminders to the person, notices to the provider's staff destination."""

    def __init__(self, core: Core, providers: dict[str, Provider], store: AppointmentStore) -> None:
        self.core = core
        self.catalog = core.catalog
        self.providers = providers
        self.store = store

    async def run_reminder(self, job: Job) -> None:
        appointment = await self.store.get(job.payload["booking_id"])
        if (appointment is None or appointment.status != "booked"
                or utc(appointment.start) != job.payload.get("starts_at")
                or appointment.start <= self.core.clock()):
            return   # cancelled, moved, erased or already begun: never remind about it
        before = float(job.payload.get("before_s", 0))
        if any(o < before and appointment.start - timedelta(seconds=o) <= self.core.clock()
               for o in self.core.settings.appointments.reminders):
            return   # late (the process was down): a closer reminder is due now too, so send that one only
        provider = self.providers.get(appointment.provider_id)
        address = appointment.details.get("address")
        if provider is None or not address:
            return
        lang = appointment.details.get("lang") or self.core.settings.bot.default_language
        user = await self.core.store.get_user(appointment.user_key)
        zone = person_zone(user.profile if user else None) or provider.zone
        text = self.catalog.t("booking.reminder", lang, provider=provider.name,
                              when=when_text(self.catalog, lang, appointment.start, zone, with_zone=True),
                              how=modality_text(self.catalog, lang, appointment.modality, provider))
        buttons = (Button(self.catalog.t("booking.button_manage", lang), "bk:list"),)
        try:
            await self.core.outbox.deliver(address_ref(address), Reply(text, buttons=buttons))
        except DeliveryError as error:
            if not error.retryable:
                return   # blocked or gone: do not keep trying
            raise
        await self.core.store.audit("appointment_reminded", self.core.clock(), appointment.user_key,
                                    {"booking": appointment.booking_id})

    async def run_staff_notice(self, job: Job) -> None:
        appointment = await self.store.get(job.payload["booking_id"])
        provider = self.providers.get(appointment.provider_id) if appointment else None
        if appointment is None or provider is None:
            return   # erased by the person, or the provider was removed from the file
        target = provider.staff_ref
        if target is None:
            log.info("event=appointment_notice_skipped reason=no_destination")
            return
        event = str(job.payload.get("event"))
        items: list[Notify | Attachment]
        if event == "intake":
            answers = await self.store.shared_intake(appointment.booking_id)
            if answers is None or appointment.status != "booked":
                return   # not consented, erased, or the appointment is off: nothing is shared
            content = json.dumps(answers, ensure_ascii=False, indent=2).encode("utf-8")
            items = [Notify(target, intake_text(self.catalog, STAFF_LANG, answers)),
                     Attachment(f"intake-{appointment.booking_id}.json", content, "application/json",
                                caption=f"Intake {appointment.booking_id} (JSON)")]
        else:
            items = [Notify(target, self.staff_text(appointment, provider, job.payload))]
        try:
            for item in items:
                await self.core.outbox.deliver(target, item)
        except DeliveryError as error:
            if error.retryable:
                raise
            log.warning("event=appointment_notice_undeliverable kind=%s", event)
            await self.core.store.audit("appointment_notice_failed", self.core.clock(), appointment.user_key,
                                        {"booking": appointment.booking_id, "event": event})

    def staff_text(self, appointment: Appointment, provider: Provider, payload: dict[str, Any]) -> str:
        t = self.catalog.t
        start = datetime.fromisoformat(payload.get("starts_at") or utc(appointment.start))
        end = start + (appointment.end - appointment.start)
        when = f"{when_text(self.catalog, STAFF_LANG, start, provider.zone)}–{end.astimezone(provider.zone):%H:%M}"
        who = (t("booking.staff.person_named", STAFF_LANG, name=appointment.shared_name) if appointment.shared_name
               else t("booking.staff.person_pseudonymous", STAFF_LANG))
        previous = payload.get("previous")
        moved = (t("booking.staff.moved_from", STAFF_LANG,
                   when=when_text(self.catalog, STAFF_LANG, datetime.fromisoformat(previous), provider.zone))
                 if previous else "")
        topic = appointment.details.get("topic") or "-"
        return t(f"booking.staff.{payload.get('event', 'booked')}", STAFF_LANG, booking_id=appointment.booking_id,
                 provider=provider.name, when=when, zone=provider.zone.key, moved=moved, who=who,
                 how=modality_text(self.catalog, STAFF_LANG, appointment.modality, provider),
                 topic=topic_label(self.catalog, STAFF_LANG, topic))


def topic_label(catalog: Catalog, lang: str, topic: str) -> str:
    if topic in ("", "*", "-"):
        return catalog.t("booking.topic_any", lang)
    return catalog.get(f"booking.topics.{topic}", lang) or topic.replace("_", " ").capitalize()


def intake_text(catalog: Catalog, lang: str, answers: dict[str, Any]) -> str:
    """The readable intake summary: the person's own words and choices, labelled as such, never a diagnosis."""
    t = catalog.t
    lines = [t("booking.intake.summary_header", lang, booking_id=answers.get("booking", ""),
               when=answers.get("appointment_local", ""))]
    contact = answers.get("contact_preference")
    if contact:
        detail = answers.get("contact_detail")
        lines.append(t("booking.intake.summary_contact", lang,
                       contact=t(f"booking.intake.contact.{contact}", lang) + (f" – {detail}" if detail else "")))
    if answers.get("help_with"):
        lines.append(t("booking.intake.summary_help", lang, text=answers["help_with"]))
    for entry in answers.get("screenings") or []:
        lines.append(t("booking.intake.summary_screening", lang,
                       name=entry.get("name") or str(entry.get("questionnaire", "")).upper(),
                       score=f"{entry.get('score')}{entry.get('of', '')}", band=entry.get("band", "-"),
                       date=str(entry.get("at", ""))[:10]))
    lines.append(t("booking.intake.summary_footer", lang))
    return "\n".join(lines)
