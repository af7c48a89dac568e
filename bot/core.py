"""The conversation core: `Core.handle(event) -> list[Outgoing]`, the same pipeline for every platform.

Pipeline (design.md §2): dedupe -> rate limit -> load user -> crisis assessment -> active flow or command ->
responder -> output guard -> persist -> reply. Two deliberate deviations keep people safe: the crisis assessment
is computed before the store is touched (it is pure code), so a crisis reply still goes out when the database is
down; and the rate limit is applied after the assessment, so a person in crisis is never told to slow down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from bot.compliance import Compliance
from bot.config import Settings
from bot.conversation import KeyedLocks
from bot.crisis import risk
from bot.crisis.detect import assess
from bot.crisis.levels import Assessment, RiskLevel
from bot.crisis.escalate import Escalator
from bot.crisis.flow import FOLLOWUP_JOB, SILENCE_JOB, CrisisFlow
from bot.crisis.respond import CrisisResponder
from bot.delivery import Outbox
from bot.flows.registry import load_features
from bot.flows.safety_plan import SafetyPlanFlow
from bot import replay
from bot.jobs import JobRunner
from bot.ops.hooks import NO_METRICS, Metrics
from bot.events import (ButtonPressed, ConversationStarted, IncomingEvent, IncomingMessage, Outgoing, Reply)
from bot.flows.commands import CONSENT_VERSION, CommandFlows
from bot.i18n import Catalog
from bot.llm.base import Responder, ResponderContext
from bot.privacy import Pseudonymizer
from bot.ratelimit import RateLimiter
from bot.resources import ResourceDirectory
from bot.retention import Retention
from bot.store.base import EventClaim, Store
from bot.text import clean_incoming
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.crisis.second_opinion import SecondOpinion   # imports the anthropic SDK: only when configured

log = logging.getLogger("haven.core")

Detector = Callable[[str, str | None], Assessment]
HISTORY_WINDOW = 12


class Core:
    def __init__(self, *, settings: Settings, store: Store, catalog: Catalog, directory: ResourceDirectory,
                 responder: Responder, pseudonymizer: Pseudonymizer, detector: Detector = assess,
                 clock: Callable[[], datetime] | None = None, outbox: Outbox | None = None,
                 second_opinion: SecondOpinion | None = None, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.directory = directory
        self.responder = responder
        self.ids = pseudonymizer
        self.detect = detector
        #: Claude's structured second opinion on ambiguous messages: may raise a level, never lower it.
        self.second_opinion = second_opinion
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        #: Counts and latencies for /metrics (bot/ops); labels are platform names and levels, never identities.
        self.metrics = metrics or NO_METRICS
        self.crisis = CrisisResponder(catalog, directory)
        self.outbox = outbox or Outbox()
        self.escalator = Escalator(settings=settings, store=store, catalog=catalog, ids=pseudonymizer,
                                   outbox=self.outbox, clock=self.clock, metrics=self.metrics)
        self.crisis_flow = CrisisFlow(self)
        self.safety_plan = SafetyPlanFlow(self)
        self.commands = CommandFlows(self)
        self.features = load_features(self)
        self.compliance = Compliance(self)
        self.retention = Retention(store, settings.privacy.retention_days, self.clock)
        self._ordering = KeyedLocks()
        self._limiter = RateLimiter(settings.limits.messages_per_minute)
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def handle(self, event: IncomingEvent, *, confirm_delivery: bool = False) -> list[Outgoing]:
        """Handle one event; events of one conversation run one at a time, in arrival order.

        `confirm_delivery`: the adapter will call `delivered(event)` once the items reached the person. Until
        then they are kept with the event, and a redelivery of it gets them again instead of nothing."""
        platform = event.conversation.platform
        self.metrics.message_received(platform, _event_kind(event))
        self._inflight += 1
        self._idle.clear()
        started = time.perf_counter()
        try:
            async with self._ordering.hold(event.conversation.key):
                try:
                    async with self._across_workers(event):
                        items = await self._handle(event, confirm_delivery)
                except Exception:
                    log.exception("event=handle_failed platform=%s", platform)
                    items = [Reply(self.catalog.t("trouble", self.settings.bot.default_language,
                                                  crisis_line=self._crisis_line_text(None, None)))]
            self.metrics.replies_sent(platform, sum(1 for item in items if isinstance(item, Reply)))
            return items
        finally:
            self.metrics.handle_seconds(platform, time.perf_counter() - started)
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    @asynccontextmanager
    async def _across_workers(self, event: IncomingEvent) -> AsyncIterator[None]:
        """The store's per-conversation lock, so one conversation's turns stay in order across worker processes.

        Held from before the event is claimed until its turn is saved: an unfinished claim that a holder finds
        can only belong to a worker that died, and is taken over at once. If the lock cannot be had (the
        database is down) the event is still handled: a person in crisis is answered whatever the store does.
        """
        lock = self.store.conversation_lock(self.ids.conversation_key(event.conversation.key))
        try:
            await lock.__aenter__()
        except Exception:
            log.warning("event=conversation_lock_unavailable platform=%s", event.conversation.platform)
            yield
            return
        try:
            yield
        finally:
            try:
                await lock.__aexit__(None, None, None)
            except Exception:
                log.warning("event=conversation_lock_release_failed platform=%s", event.conversation.platform)

    @property
    def inflight(self) -> int:
        """`handle` calls in progress (read by /metrics and by shutdown)."""
        return self._inflight

    async def drain(self, timeout: float) -> int:
        """Wait until no `handle` call is in progress, for at most `timeout` seconds; returns how many still are.

        `haven run` calls this on SIGTERM after the adapters stopped taking updates, so a person who wrote just
        before a deploy still gets their answer (the adapters then finish sending it before they disconnect).
        """
        if self._inflight:
            try:
                async with asyncio.timeout(timeout):
                    await self._idle.wait()
            except TimeoutError:
                pass
        return self._inflight

    def attach_jobs(self, runner: JobRunner) -> None:
        """Register the durable jobs the core schedules (escalations, silence checks, follow-ups)."""
        self.escalator.attach(runner)
        runner.register(SILENCE_JOB, self.crisis_flow.run_silence_check)
        runner.register(FOLLOWUP_JOB, self.crisis_flow.run_followup)
        for kind, handler in self.features.jobs.items():
            runner.register(kind, handler)
        self.retention.attach(runner)

    async def delivered(self, event: IncomingEvent) -> None:
        """The adapter sent what `handle(event, confirm_delivery=True)` returned: a redelivery is now a duplicate."""
        done = _dedupe_key(event, self.ids.conversation_key(event.conversation.key))
        if done is None:
            return
        try:
            await self.store.finish_event(done[0], done[1], self.clock())
        except Exception:   # the reply went out; at worst a redelivery sends it once more
            log.warning("event=delivery_confirm_failed platform=%s", event.conversation.platform)

    async def _handle(self, event: IncomingEvent, confirm_delivery: bool = False) -> list[Outgoing]:
        now = self.clock()
        if self.escalator.is_staff_conversation(event.conversation):
            return await self.commands.staff_event(event, now)
        turn = await self._load_turn(event, now)
        if turn is None:
            log.info("event=duplicate platform=%s", event.conversation.platform)
            return []
        if turn.replay is not None:
            log.info("event=reply_replayed platform=%s items=%d", event.conversation.platform, len(turn.replay))
            return turn.replay
        turn.confirm_delivery = confirm_delivery
        if isinstance(event, IncomingMessage):
            await self._on_message(turn, event)
        elif isinstance(event, ButtonPressed):
            await self.commands.on_button(turn, event)
        elif isinstance(event, ConversationStarted) and (turn.first_contact or turn.degraded):
            await self.commands.disclose(turn)
        await self._save(turn, event)
        return turn.outgoing

    async def _load_turn(self, event: IncomingEvent, now: datetime) -> Turn | None:
        """Dedupe and load in one store call; None for a duplicate. A failing store degrades, never silences."""
        sender = event.sender
        user_key = self.ids.user_key(sender.platform, sender.user_id)
        conv_key = self.ids.conversation_key(event.conversation.key)
        turn = Turn(event=event, now=now, user_key=user_key, conv_key=conv_key,
                    lang=self.settings.bot.default_language, country=None, user=None, state=None)
        dedupe = _dedupe_key(event, conv_key)
        try:
            claim, user, record = await self.store.begin_turn(event=dedupe, user_key=user_key,
                                                              platform=sender.platform, conv_key=conv_key, now=now)
        except Exception:
            log.exception("event=store_unavailable platform=%s", sender.platform)
        else:
            if claim is EventClaim.REPLAY and dedupe is not None:
                turn.replay = await self._stored_reply(dedupe)
                return turn if turn.replay is not None else None
            if claim in (EventClaim.DUPLICATE, EventClaim.REPLAY):
                return None
            assert user is not None and record is not None
            turn.user, turn.state = user, dict(record.state)
            # Consent is to one version of the notice: when the notice changes, people are asked again, and
            # nothing they write is stored until they agree to the new one.
            turn.consented = user.consent_version == CONSENT_VERSION
            turn.first_contact = user.disclosed_at is None or user.consent_version not in (None, CONSENT_VERSION)
        turn.lang, turn.country = self._locale(turn)
        return turn

    async def _stored_reply(self, dedupe: tuple[str, str]) -> list[Outgoing] | None:
        try:
            return replay.decode(await self.store.pending_reply(*dedupe))
        except Exception:
            log.warning("event=store_unavailable step=pending_reply")
            return None

    def _locale(self, turn: Turn) -> tuple[str, str | None]:
        profile = turn.user.profile if turn.user else {}
        locale = (turn.event.sender.locale or "").replace("_", "-")
        lang = profile.get("language") or locale.split("-")[0].lower() or self.settings.bot.default_language
        if not self.catalog.has_language(lang):
            lang = self.settings.bot.default_language
        country = profile.get("country")
        if not country and "-" in locale and len(locale.split("-")[1]) == 2:
            country = locale.split("-")[1].upper()
        return lang, country or self.settings.bot.default_country

    async def _on_message(self, turn: Turn, event: IncomingMessage) -> None:
        limits = self.settings.limits
        clean = clean_incoming(event.text, limits.max_message_chars)
        allowed = self._limiter.allow(turn.user_key)
        # Crisis assessment first, on every message, whatever else happens next.
        assessment = self.detect(clean.text, turn.lang)
        if self.second_opinion is not None:
            assessment = await self.second_opinion.review(clean.text, turn.lang, assessment)
        turn.assessment = self.roll_risk(turn, assessment)
        self.metrics.crisis_assessed(turn.assessment.level.label)
        profile = turn.user.profile if turn.user else {}
        if assessment.lang != turn.lang and not profile.get("language") and self.catalog.has_language(assessment.lang):
            turn.lang = assessment.lang   # answer in the language the person writes in, unless they chose one
        if clean.truncated:
            turn.outgoing.append(Reply(self.catalog.t("truncated_notice", turn.lang, max_chars=limits.max_message_chars)))
        if turn.first_contact and event.conversation.is_direct:
            # In a group the notice would go to everyone; adapters take the person to a private chat, where
            # it is shown.
            await self.commands.disclose(turn)
        answered = await self.compliance.before_reply(turn, clean.text)
        flow = turn.flow().get("pending")
        if self._needs_crisis_reply(turn, assessment):
            await self.crisis_flow.reply(turn)
            log.info("event=crisis_reply level=%s signals=%s", turn.assessment.level.label,
                     ",".join(turn.assessment.signals))
        elif assessment.about_someone_else and assessment.level >= RiskLevel.LOW:
            turn.outgoing.append(self.crisis.third_party_reply(turn.country, turn.lang))
        elif not allowed:
            turn.outgoing.append(Reply(self.catalog.t("rate_limited", turn.lang)))
        elif clean.had_binary:
            turn.outgoing.append(Reply(self.catalog.t("binary_message", turn.lang)))
        elif not clean.text:
            turn.outgoing.append(Reply(self.catalog.t("empty_message", turn.lang)))
        elif answered:
            pass
        elif await self.commands.dispatch(turn, clean.text):
            pass
        elif flow == "safetyplan":
            await self.safety_plan.answer(turn, clean.text)
        elif flow in self.features.answers:
            await self.features.answers[flow](turn, clean.text)
        elif self.crisis_flow.active(turn) and await self.crisis_flow.on_message(turn, clean.text):
            pass
        else:
            await self.respond(turn, clean.text)
            if self.crisis_flow.active(turn):
                self.crisis_flow.keep_help_close(turn)
        await self.compliance.after_reply(turn)
        turn.text = clean.text

    def current_risk(self, turn: Turn) -> Assessment:
        """The conversation's rolling risk, for actions taken outside a message (a button press)."""
        raw = (turn.personal() or {}).get("risk")
        if raw:
            _, effective = risk.update(risk.load(raw), Assessment(RiskLevel.NONE, (), turn.lang), turn.now)
            return Assessment(effective.level, tuple(effective.signals) + ("requested_human",), turn.lang)
        return Assessment(RiskLevel.NONE, ("requested_human",), turn.lang)

    def roll_risk(self, turn: Turn, assessment: Assessment) -> Assessment:
        """Fold an assessment into the person's rolling risk (used by questionnaires, e.g. PHQ-9 item 9)."""
        personal = turn.personal()
        if personal is None:
            return assessment
        new_state, effective = risk.update(risk.load(personal.get("risk")), assessment, turn.now)
        personal["risk"] = new_state.to_dict()
        crisis = personal.get("crisis")
        if crisis and crisis.get("active") and not effective.escalate:
            crisis["active"] = False   # the rolling level has decayed below moderate: the crisis state ends
            crisis["replied_level"] = 0
        return effective

    def _needs_crisis_reply(self, turn: Turn, message: Assessment) -> bool:
        """A crisis reply for risk in this message, or when the conversation's level rises past the last reply.

        A persisting level alone does not repeat the same reply on every message (the crisis flow stays with the
        person instead), but any message that itself signals risk always gets it again.
        """
        effective = turn.assessment
        assert effective is not None
        if message.about_someone_else or not effective.escalate:
            return False
        if message.escalate:
            return True
        replied = (turn.personal() or {}).get("crisis", {}).get("replied_level", 0)
        return int(effective.level) > int(replied)

    async def respond(self, turn: Turn, text: str) -> None:
        """The responder's reply (Claude or offline). Guided flows call this for messages that are not answers."""
        memory = turn.state.setdefault("responder", {}) if turn.state is not None else {}
        history: list[tuple[str, str]] = []
        if turn.consented and not turn.degraded and getattr(self.responder, "uses_history", True):
            stored = await self.store.recent_messages(turn.conv_key, HISTORY_WINDOW)
            history = [("user" if m.direction == "in" else "assistant", m.text) for m in stored]
        context = ResponderContext(lang=turn.lang, country=turn.country, history=history,
                                   profile=turn.user.profile if turn.user else {}, memory=memory)
        proposed = await self.responder.reply(text, context)
        turn.outgoing.append(Reply(proposed.text, buttons=proposed.buttons))

    async def _save(self, turn: Turn, event: IncomingEvent) -> None:
        """One transaction per turn. The conversation row's updated_at doubles as "last seen"."""
        if turn.degraded:
            return
        keep = turn.user is not None and not turn.erased
        messages: list[tuple[str, str]] = []
        text = turn.text if keep and turn.consented else ""
        if text:
            messages = [("in", text)] + [("out", item.text) for item in turn.outgoing if isinstance(item, Reply)]
        done = _dedupe_key(event, turn.conv_key)
        pending = replay.encode(turn.outgoing) if turn.confirm_delivery and done and not turn.erased else None
        await self.store.complete_turn(conv_key=turn.conv_key, user_key=turn.user_key,
                                       state=turn.state if keep else None, messages=messages, event=done,
                                       now=turn.now, reply=pending)

    def _crisis_line_text(self, country: str | None, lang: str | None) -> str:
        lines = self.crisis.helplines(country or self.settings.bot.default_country, lang).lines
        return lines[0].format_line() if lines else "your local emergency number"


def _event_kind(event: IncomingEvent) -> str:
    """The metrics label for an event: message | button | start."""
    if isinstance(event, IncomingMessage):
        return "message"
    return "button" if isinstance(event, ButtonPressed) else "start"


def _dedupe_key(event: IncomingEvent, conv_key: str) -> tuple[str, str] | None:
    """Platforms number messages per chat (Telegram message_id) or globally (update ids); scoping the id by the
    pseudonymous conversation key makes both unique without storing a chat id in clear. A redelivered button
    press (same interaction id) is dropped too, so "Yes, erase everything" cannot run twice."""
    if isinstance(event, IncomingMessage) and event.message_id:
        return event.conversation.platform, f"{conv_key}:{event.message_id}"
    if isinstance(event, ButtonPressed) and event.interaction_id:
        return event.conversation.platform, f"{conv_key}:press:{event.interaction_id}"
    return None
