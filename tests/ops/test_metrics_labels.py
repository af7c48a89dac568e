"""The metrics object on its own: separate registries per app, labels clamped to fixed sets, LLM failures
counted by reason when the offline responder steps in."""

from __future__ import annotations

from bot.i18n import Catalog
from bot.llm.anthropic import LlmUnavailable, ResilientResponder
from bot.llm.base import ResponderContext, ResponderReply
from bot.llm.offline import OfflineResponder
from bot.ops.hooks import NO_METRICS
from bot.ops.metrics import PrometheusMetrics, job_kind_label, llm_error_label, platform_label
from tests.ops.helpers import samples, value


def scrape(metrics: PrometheusMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return samples(metrics.exposition().decode())


def test_two_apps_in_one_process_keep_separate_registries() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.message_received("slack", "message")
    assert value(scrape(first), "haven_messages_received_total", platform="slack", kind="message") == 1
    assert value(scrape(second), "haven_messages_received_total", platform="slack", kind="message") == 0


def test_labels_come_only_from_fixed_sets() -> None:
    assert platform_label("discord") == "discord" and platform_label("U0123ABC") == "other"
    assert llm_error_label("overloaded") == "overloaded" and llm_error_label("status_404") == "status_4xx"
    assert llm_error_label("status_503") == "status_5xx" and llm_error_label("Bad thing: user said hi") == "other"
    assert job_kind_label("escalation_notify") == "escalation_notify" and job_kind_label("HC-1234 x") == "other"


def test_every_level_series_exists_before_the_first_crisis() -> None:
    parsed = scrape(PrometheusMetrics())
    for level in ("none", "low", "moderate", "high", "imminent"):
        assert ("haven_crisis_assessments_total", (("level", level),)) in parsed


def test_no_metrics_accepts_every_call() -> None:
    NO_METRICS.message_received("x", "message")
    NO_METRICS.job_started("k", 1.0)
    NO_METRICS.llm_fallback()


class Down:
    name = "down"

    async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
        raise LlmUnavailable("rate_limited")


async def test_llm_failures_count_reason_and_fallback() -> None:
    metrics = PrometheusMetrics()
    catalog = Catalog()
    responder = ResilientResponder(Down(), OfflineResponder(catalog), ops_metrics=metrics)
    reply = await responder.reply("hello there", ResponderContext(lang="en"))
    assert reply.text
    parsed = scrape(metrics)
    assert value(parsed, "haven_llm_errors_total", kind="rate_limited") == 1
    assert value(parsed, "haven_llm_fallbacks_total") == 1
