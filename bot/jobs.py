"""Durable jobs: escalations, re-notifications and follow-ups that must happen even if the process restarts.

Jobs live in the store. A runner claims due jobs with a lease (a crashed worker's jobs come back when the lease
expires), runs the handler for the job's kind, and marks it done, or schedules a retry with exponential backoff.
A job is marked done only after its handler returned, so a crash in between repeats the send (at least once);
handlers keep that window to a single platform call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

from bot.delivery import DeliveryError
from bot.ops.hooks import NO_METRICS, Metrics
from bot.store.base import Job, Store

log = logging.getLogger("haven.jobs")

Handler = Callable[[Job], Awaitable[None]]


class RetryLater(Exception):
    """Raised by a handler that wants to run again after `after_s` seconds."""

    def __init__(self, reason: str, after_s: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_s = after_s


def backoff_s(attempts: int, base: float = 5.0, cap: float = 300.0) -> float:
    return min(cap, base * (2 ** max(0, attempts - 1)))


class JobRunner:
    def __init__(self, store: Store, *, clock: Callable[[], datetime] | None = None, lease_s: float = 60.0,
                 poll_s: float = 1.0, batch: int = 20, metrics: Metrics | None = None) -> None:
        self._store = store
        self._handlers: dict[str, Handler] = {}
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._lease_s = lease_s
        self._poll_s = poll_s
        self._batch = batch
        self._wake = asyncio.Event()
        self._metrics = metrics or NO_METRICS

    def register(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def wake(self) -> None:
        """Run due jobs now rather than at the next poll (called right after a job is enqueued)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim and run every due job once; returns how many ran. Tests call this instead of sleeping."""
        jobs = await self._store.claim_jobs(self._clock(), limit=self._batch, lease_s=self._lease_s,
                                            kinds=tuple(self._handlers))
        await asyncio.gather(*(self._run(job) for job in jobs))
        return len(jobs)

    async def run_until_idle(self, max_rounds: int = 50) -> int:
        total = 0
        for _ in range(max_rounds):
            ran = await self.run_once()
            total += ran
            if not ran:
                break
        return total

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                while await self.run_once():
                    pass
            except Exception:
                log.exception("event=job_poll_failed")
            self._wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    async def _run(self, job: Job) -> None:
        handler = self._handlers[job.kind]
        now = self._clock()
        self._metrics.job_started(job.kind, (now - job.run_at).total_seconds())
        try:
            await handler(job)
        except RetryLater as retry:
            self._metrics.job_failed(job.kind)
            await self._store.retry_job(job.id, retry.reason, now + timedelta(seconds=retry.after_s))
            log.info("event=job_retry kind=%s attempt=%d after_s=%.0f", job.kind, job.attempts, retry.after_s)
        except DeliveryError as error:
            self._metrics.job_failed(job.kind)
            delay = error.retry_after or backoff_s(job.attempts)
            await self._store.retry_job(job.id, error.reason, now + timedelta(seconds=delay))
            log.warning("event=job_delivery_failed kind=%s attempt=%d retryable=%s", job.kind, job.attempts,
                        error.retryable)
        except Exception as error:
            self._metrics.job_failed(job.kind)
            await self._store.retry_job(job.id, type(error).__name__, now + timedelta(seconds=backoff_s(job.attempts)))
            log.exception("event=job_failed kind=%s attempt=%d", job.kind, job.attempts)
        else:
            await self._store.complete_job(job.id, self._clock())
