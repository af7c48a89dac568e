"""Retention: message text older than `privacy.retention_days` is deleted by a daily durable job.

Only text goes; the non-identifying counters and the person's settings stay (settings go with /forget).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.jobs import JobRunner
from bot.store.base import Job

log = logging.getLogger("haven.retention")

RETENTION_JOB = "retention"


class Retention:
    def __init__(self, store, retention_days: int, clock: Callable[[], datetime]) -> None:  # type: ignore[no-untyped-def]
        self._store = store
        self._days = retention_days
        self._clock = clock

    def attach(self, runner: JobRunner) -> None:
        runner.register(RETENTION_JOB, self.run)

    async def schedule(self, when: datetime | None = None) -> None:
        """Once a day; the date in the dedupe key makes several workers schedule it only once."""
        when = when or self._clock()
        await self._store.enqueue_job(RETENTION_JOB, {}, when, dedupe_key=f"retention:{when.date().isoformat()}")

    async def run(self, job: Job) -> None:
        now = self._clock()
        removed = await self._store.delete_messages_before(now - timedelta(days=self._days))
        await self._store.audit("retention_run", now, None, {"messages_deleted": removed, "days": self._days})
        log.info("event=retention_run deleted=%d", removed)
        await self.schedule(now + timedelta(days=1))
