"""Human escalation that cannot be lost: a durable case, notices to staff with fallback, Claim and Resolve.

A case and its first notice job are committed together. The job runner posts the notice to the first configured
destination; if nobody claims it within `renotify_after`, the notice is repeated up to `max_renotify` times, then
the next destination takes over. A destination that fails (platform down, channel gone) is retried with backoff
and, after three failures or a permanent error, skipped for the next. Staff see a case id, the level, the signals
and the time — never the person's identity, and their words only when the deployment opts in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.config import EscalationDestination, Settings
from bot.crisis.levels import Assessment
from bot.delivery import DeliveryError, Outbox
from bot.events import Button, ConversationKind, ConversationRef, Notify, Reply
from bot.i18n import Catalog
from bot.jobs import JobRunner, RetryLater, backoff_s
from bot.ops.hooks import NO_METRICS, Metrics
from bot.privacy import Pseudonymizer
from bot.store.base import Case, Job, Store

log = logging.getLogger("haven.escalation")

NOTIFY_JOB = "escalation_notify"
CHECK_JOB = "escalation_check"
FAILURES_BEFORE_FALLBACK = 3


def destination_ref(destination: EscalationDestination) -> ConversationRef:
    return ConversationRef(destination.platform, str(destination.target), ConversationKind.GROUP)


class Escalator:
    def __init__(self, *, settings: Settings, store: Store, catalog: Catalog, ids: Pseudonymizer,
                 outbox: Outbox, clock: Callable[[], datetime], metrics: Metrics = NO_METRICS) -> None:
        self._policy = settings.crisis.escalation
        self._settings = settings
        self._store = store
        self._t = catalog.t
        self._ids = ids
        self._outbox = outbox
        self._clock = clock
        self._metrics = metrics
        self._runner: JobRunner | None = None

    @property
    def configured(self) -> bool:
        return bool(self._policy.destinations)

    def attach(self, runner: JobRunner) -> None:
        runner.register(NOTIFY_JOB, self._notify)
        runner.register(CHECK_JOB, self._check)
        self._runner = runner

    def is_staff_conversation(self, conversation: ConversationRef) -> bool:
        return any(destination_ref(d).platform == conversation.platform and destination_ref(d).chat_id ==
                   conversation.chat_id for d in self._policy.destinations)

    # --- opening a case --------------------------------------------------------------------------------------

    async def open_case(self, *, user_key: str, address: dict[str, object], assessment: Assessment,
                        now: datetime) -> tuple[Case, bool]:
        """`address` says where and in which language to tell the person; it is stored encrypted."""
        case_id = self._ids.case_id(f"{user_key}:{now.isoformat()}")
        platform = str(address["platform"])
        case, created = await self._store.open_case(
            case_id=case_id, user_key=user_key, address=address, platform=platform,
            level=assessment.level.label, signals=assessment.signals, now=now, job_kind=NOTIFY_JOB,
            job_payload={"case_id": case_id, "user_key": user_key, "sent_before": 0})
        await self._store.audit("escalation_opened" if created else "escalation_updated", now, user_key,
                                {"case": case.case_id, "level": assessment.level.label})
        await self._store.bump_counter("escalation", now.strftime("%Y-%m"),
                                       f"level={assessment.level.label};platform={platform}")
        log.info("event=escalation_%s level=%s", "opened" if created else "updated", assessment.level.label)
        if created:
            self._metrics.escalation_opened(assessment.level.label)
        if self._runner is not None:
            self._runner.wake()
        return case, created

    def person_notice(self, lang: str) -> str:
        """What the person is told: honest about whether and when a human is coming."""
        if not self.configured:
            return self._t("escalation.no_staff", lang)
        hours = self._settings.bot.staff_hours
        note = self._t("escalation.hours_note", lang, staff_hours=hours) if hours else ""
        return self._t("escalation.staff_told", lang, hours_note=note)

    # --- jobs --------------------------------------------------------------------------------------------------

    async def _notify(self, job: Job) -> None:
        case = await self._store.get_case(job.payload["case_id"])
        if case is None or case.status != "open":
            return   # erased, claimed or resolved meanwhile: nothing to say
        sent_before = job.payload.get("sent_before")
        if isinstance(sent_before, int) and case.notices_sent > sent_before:
            # This notice went out and was counted, but the worker died before the job was marked done: the
            # job came back after its lease. Sending it again would tell staff twice.
            log.info("event=escalation_notice_already_sent level=%s", case.level)
            return
        destinations = self._policy.destinations
        index = min(case.destination_index, len(destinations) - 1)
        notice = self._notice(case, destinations[index], reminder=bool(job.payload.get("reminder")))
        now = self._clock()
        try:
            await self._outbox.deliver(notice.target, notice)
        except DeliveryError as error:
            await self._store.audit("escalation_delivery_failed", now, case.user_key,
                                    {"case": case.case_id, "destination": index, "retryable": error.retryable})
            if (not error.retryable or job.attempts >= FAILURES_BEFORE_FALLBACK) and index + 1 < len(destinations):
                await self._fall_back(case, index + 1, now, reason="delivery_failed")
                return
            raise RetryLater(error.reason, error.retry_after or backoff_s(job.attempts)) from None
        sent = case.notices_sent + 1
        await self._store.update_case(case.case_id, now, notices_sent=sent,
                                      destination_notices=case.destination_notices + 1)
        await self._store.audit("escalation_notified", now, case.user_key,
                                {"case": case.case_id, "destination": index, "notice": sent})
        await self._store.enqueue_job(CHECK_JOB, {"case_id": case.case_id, "user_key": case.user_key},
                                      now + timedelta(seconds=self._policy.renotify_after),
                                      dedupe_key=f"check:{case.case_id}:{sent}")

    async def _check(self, job: Job) -> None:
        """Nobody claimed the case in time: remind, then hand it to the next destination."""
        case = await self._store.get_case(job.payload["case_id"])
        if case is None or case.status != "open":
            return
        now = self._clock()
        if case.destination_notices <= self._policy.max_renotify:
            await self._store.enqueue_job(NOTIFY_JOB, {"case_id": case.case_id, "user_key": case.user_key,
                                                       "reminder": True, "sent_before": case.notices_sent}, now,
                                          dedupe_key=f"notify:{case.case_id}:{case.notices_sent}")
            return
        if case.destination_index + 1 < len(self._policy.destinations):
            await self._fall_back(case, case.destination_index + 1, now, reason="unclaimed")
        else:
            await self._store.audit("escalation_unclaimed", now, case.user_key, {"case": case.case_id})
            log.warning("event=escalation_unclaimed level=%s", case.level)

    async def _fall_back(self, case: Case, index: int, now: datetime, reason: str) -> None:
        await self._store.update_case(case.case_id, now, destination_index=index, destination_notices=0)
        await self._store.audit("escalation_fallback", now, case.user_key,
                                {"case": case.case_id, "destination": index, "reason": reason})
        await self._store.enqueue_job(NOTIFY_JOB, {"case_id": case.case_id, "user_key": case.user_key,
                                                   "sent_before": case.notices_sent}, now,
                                      dedupe_key=f"notify:{case.case_id}:d{index}")

    def _notice(self, case: Case, destination: EscalationDestination, *, reminder: bool) -> Notify:
        key = "escalation.staff_reminder" if reminder else "escalation.staff_notice"
        text = self._t(key, "en", case_id=case.case_id, level=case.level.upper(),
                       signals=", ".join(case.signals) or "-", platform=case.platform,
                       opened=case.created_at.strftime("%Y-%m-%d %H:%M UTC"))
        buttons = (Button(self._t("escalation.claim", "en"), "case:claim", case.case_id),
                   Button(self._t("escalation.resolve", "en"), "case:resolve", case.case_id))
        return Notify(destination_ref(destination), text, buttons, mention=destination.role_id)

    # --- staff actions ---------------------------------------------------------------------------------------

    async def staff_action(self, *, conversation: ConversationRef, staff_id: str, staff_name: str | None,
                           action: str, case_id: str, now: datetime) -> list[Reply | Notify]:
        """Claim or Resolve, from a button or `/claim ID` / `/resolve ID` in a staff destination only."""
        if not self.is_staff_conversation(conversation):
            log.warning("event=staff_action_refused platform=%s", conversation.platform)
            return [Reply(self._t("escalation.not_staff", "en"), private=True)]
        case = await self._store.get_case(case_id.strip().upper())
        if case is None:
            return [Reply(self._t("escalation.unknown_case", "en", case_id=case_id[:16]))]
        who = staff_name or "a staff member"
        staff_key = self._ids.key("staff", conversation.platform, staff_id)
        person = _conversation(case.address)
        if action == "claim":
            if case.status != "open":
                return [Reply(self._t("escalation.already", "en", case_id=case.case_id, status=case.status))]
            await self._store.update_case(case.case_id, now, status="claimed", claimed_by=staff_key)
            await self._store.cancel_jobs(f"check:{case.case_id}:")
            await self._store.audit("escalation_claimed", now, case.user_key, {"case": case.case_id})
            log.info("event=escalation_claimed")
            claimed = Reply(self._t("escalation.claimed", "en", case_id=case.case_id, who=who))
            if not person.is_direct:
                return [claimed]   # never write about a person's crisis into a group they wrote in
            return [claimed, Notify(person, self._t("escalation.person_claimed", _lang(case)))]
        if action == "resolve":
            await self._store.update_case(case.case_id, now, status="resolved")
            await self._store.cancel_jobs(f"check:{case.case_id}:")
            await self._store.audit("escalation_resolved", now, case.user_key, {"case": case.case_id})
            log.info("event=escalation_resolved")
            return [Reply(self._t("escalation.resolved", "en", case_id=case.case_id, who=who))]
        return []

    async def staff_relay(self, *, conversation: ConversationRef, case_id: str, text: str,
                          now: datetime) -> list[Reply | Notify]:
        """`/reply ID message`: staff write to the person through Haven without ever learning who they are."""
        if not self.is_staff_conversation(conversation):
            return [Reply(self._t("escalation.not_staff", "en"), private=True)]
        case = await self._store.get_case(case_id.strip().upper())
        if case is None or not text.strip():
            return [Reply(self._t("escalation.unknown_case", "en", case_id=case_id[:16]))]
        if not _conversation(case.address).is_direct:
            return [Reply(self._t("escalation.group_case", "en", case_id=case.case_id))]
        await self._store.audit("escalation_relay", now, case.user_key, {"case": case.case_id})
        return [Notify(_conversation(case.address), self._t("escalation.from_staff", _lang(case), text=text.strip())),
                Reply(self._t("escalation.relayed", "en", case_id=case.case_id))]


def _lang(case: Case) -> str:
    return str(case.address.get("lang") or "en")


def _conversation(address: dict[str, object]) -> ConversationRef:
    return ConversationRef(platform=str(address["platform"]), chat_id=str(address["chat_id"]),
                           kind=ConversationKind(address.get("kind", "direct")),
                           thread_id=address.get("thread_id"), space_id=address.get("space_id"))  # type: ignore[arg-type]
