"""Prometheus metrics on a registry the app owns (not the process-global one), so tests and several apps in one
process never collide and nothing else's metrics leak into Haven's exposition.

Every label value passes through a clamp to a small fixed set before it reaches prometheus-client: an unknown
platform becomes `other`, an unexpected error reason becomes `other`. A label can therefore never carry a user
id, a chat id, a case id or a person's words, whatever a caller passes by mistake, and the number of series
stays bounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

PLATFORMS = frozenset({"telegram", "discord", "slack", "console", "memory"})
EVENT_KINDS = frozenset({"message", "button", "start"})
LEVELS = ("none", "low", "moderate", "high", "imminent")
LLM_ERRORS = frozenset({"timeout", "network", "rate_limited", "overloaded", "server_error", "auth", "stream_error",
                        "malformed", "unexpected", "status_4xx", "status_5xx"})
#: Job kinds are constants in code (`escalation_notify`, `retention`...); anything else shaped oddly is `other`.
_JOB_KIND = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: 1 ms (a crisis reply from the deterministic tier) to 30 s (a slow language model near its deadline).
HANDLE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)
#: A due job normally starts within the 1 s poll; minutes mean the runner is stuck or the store is slow.
LAG_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)


def platform_label(value: str) -> str:
    return value if value in PLATFORMS else "other"


def level_label(value: str) -> str:
    return value if value in LEVELS else "other"


def llm_error_label(value: str) -> str:
    if value in LLM_ERRORS:
        return value
    if value.startswith("status_") and value[7:8] in ("4", "5"):
        return f"status_{value[7]}xx"
    return "other"


def job_kind_label(value: str) -> str:
    return value if _JOB_KIND.match(value) else "other"


class PrometheusMetrics:
    """The `bot.ops.hooks.Metrics` calls, recorded on `self.registry`; gauges about the store are set by
    `bot.ops.store_gauges.StoreGauges` just before each scrape."""

    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter("haven_messages_received", "Events that reached the core.", ["platform", "kind"],
                                registry=registry)
        self.replies = Counter("haven_replies_sent", "Reply items the core handed to the platform adapter to send.",
                               ["platform"], registry=registry)
        self.handle = Histogram("haven_handle_seconds", "Time spent in one Core.handle call.", ["platform"],
                                buckets=HANDLE_BUCKETS, registry=registry)
        self.crisis = Counter("haven_crisis_assessments", "Messages by the risk level they were answered at.",
                              ["level"], registry=registry)
        self.escalations = Counter("haven_escalations_opened", "Escalations to human staff opened.", ["level"],
                                   registry=registry)
        self.llm_errors = Counter("haven_llm_errors", "Language model failures by stable reason.", ["kind"],
                                  registry=registry)
        self.llm_fallbacks = Counter("haven_llm_fallbacks", "Replies the offline responder gave instead of the "
                                     "language model.", registry=registry)
        self.job_lag = Histogram("haven_job_lag_seconds", "Seconds between a durable job's due time and its start.",
                                 ["kind"], buckets=LAG_BUCKETS, registry=registry)
        self.jobs_failed = Counter("haven_jobs_failed", "Durable job runs that failed (they are retried).", ["kind"],
                                   registry=registry)
        self.escalations_pending = Gauge("haven_escalations_pending", "Open escalations nobody has claimed yet.",
                                         registry=registry)
        self.escalations_claimed = Gauge("haven_escalations_claimed", "Escalations claimed by staff, not yet "
                                         "resolved.", registry=registry)
        self.escalations_late = Gauge("haven_escalations_late", "Unclaimed escalations older than "
                                      "crisis.escalation.renotify_after.", registry=registry)
        self.jobs_due = Gauge("haven_jobs_due", "Durable jobs past their due time and not yet done.", registry=registry)
        self.store_up = Gauge("haven_store_up", "1 when the last scrape could reach the store, else 0.",
                              registry=registry)
        self.inflight = Gauge("haven_inflight_handles", "Core.handle calls in progress.", registry=registry)
        ProcessCollector(registry=registry)   # process_* (CPU, memory, open fds): unlabelled, Linux only
        for level in LEVELS:   # series exist from the start, so rate() and alerts work before the first crisis
            self.crisis.labels(level)
            self.escalations.labels(level)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def track_inflight(self, read: Callable[[], int]) -> None:
        self.inflight.set_function(lambda: float(read()))

    # --- bot.ops.hooks.Metrics -------------------------------------------------------------------------------

    def message_received(self, platform: str, kind: str) -> None:
        self.messages.labels(platform_label(platform), kind if kind in EVENT_KINDS else "other").inc()

    def replies_sent(self, platform: str, count: int) -> None:
        if count > 0:
            self.replies.labels(platform_label(platform)).inc(count)

    def handle_seconds(self, platform: str, seconds: float) -> None:
        self.handle.labels(platform_label(platform)).observe(max(0.0, seconds))

    def crisis_assessed(self, level: str) -> None:
        self.crisis.labels(level_label(level)).inc()

    def escalation_opened(self, level: str) -> None:
        self.escalations.labels(level_label(level)).inc()

    def llm_error(self, kind: str) -> None:
        self.llm_errors.labels(llm_error_label(kind)).inc()

    def llm_fallback(self) -> None:
        self.llm_fallbacks.inc()

    def job_started(self, kind: str, lag_seconds: float) -> None:
        self.job_lag.labels(job_kind_label(kind)).observe(max(0.0, lag_seconds))

    def job_failed(self, kind: str) -> None:
        self.jobs_failed.labels(job_kind_label(kind)).inc()
