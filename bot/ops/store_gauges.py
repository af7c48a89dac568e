"""Gauges that describe durable state (escalations waiting for staff, overdue jobs), read from the store when
Prometheus scrapes rather than kept in memory: after a restart, or with several workers on one database, only
the store knows how many people are waiting for a human.

It uses the store's existing methods (audit entries, cases, pending jobs). A dedicated counting query in the
store would be cheaper; until one exists the work is bounded by `MAX_CASES` and done at most once per
`min_interval_s`, however often the endpoint is scraped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from bot.ops.metrics import PrometheusMetrics
from bot.store.base import Store

log = logging.getLogger("haven.ops")

#: Unresolved cases looked at per refresh (the most recent first).
MAX_CASES = 500
PING_TIMEOUT_S = 3.0


async def ping_store(store: Store) -> None:
    """`store.ping()` where the store has one, else the cheapest read the protocol offers. Raises when down."""
    ping = getattr(store, "ping", None)
    async with asyncio.timeout(PING_TIMEOUT_S):
        if ping is not None:
            await ping()
        else:
            await store.counters("none")


class StoreGauges:
    def __init__(self, store: Store, metrics: PrometheusMetrics, *, late_after_s: float,
                 clock: Callable[[], datetime] | None = None, min_interval_s: float = 5.0) -> None:
        self._store = store
        self._metrics = metrics
        self._late_after_s = late_after_s
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._min_interval_s = min_interval_s
        self._last: float | None = None
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Update the gauges (or mark the store down); never raises, so /metrics always answers."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            if self._last is not None and loop.time() - self._last < self._min_interval_s:
                return
            try:
                await ping_store(self._store)
            except Exception as exc:   # noqa: BLE001 - a scrape reports the store as down; it does not fail
                self._metrics.store_up.set(0)
                log.warning("event=metrics_store_unavailable exc=%s", type(exc).__name__)
                self._last = None
                return
            self._metrics.store_up.set(1)
            try:
                await self._read()
            except Exception as exc:   # noqa: BLE001 - the gauges keep their last values; the scrape still answers
                log.warning("event=metrics_refresh_failed exc=%s", type(exc).__name__)
                return
            self._last = loop.time()

    async def _read(self) -> None:
        now = self._clock()
        jobs = await self._store.pending_jobs()
        self._metrics.jobs_due.set(sum(1 for job in jobs if job.run_at <= now))
        pending = claimed = late = 0
        for case_id in await self._unresolved_case_ids():
            case = await self._store.get_case(case_id)
            if case is None:   # erased with the person's data
                continue
            if case.status == "open":
                pending += 1
                late += (now - case.created_at).total_seconds() >= self._late_after_s
            elif case.status == "claimed":
                claimed += 1
        self._metrics.escalations_pending.set(pending)
        self._metrics.escalations_claimed.set(claimed)
        self._metrics.escalations_late.set(late)

    async def _unresolved_case_ids(self) -> list[str]:
        resolved = {_case(e) for e in await self._store.audit_entries(kind="escalation_resolved")}
        opened = [_case(e) for e in await self._store.audit_entries(kind="escalation_opened")]
        unresolved = list(dict.fromkeys(c for c in reversed(opened) if c and c not in resolved))
        return unresolved[:MAX_CASES]


def _case(entry: dict[str, object]) -> str:
    detail = entry.get("detail")
    value = detail.get("case") if isinstance(detail, dict) else None
    return value if isinstance(value, str) else ""
