"""The Discord adapter's own small table: monitoring opt-outs and `/checkon` limits.

These are Discord features (who may be watched in a monitored channel, how often a member may receive a
check-in note), not conversation state, so they live beside the core's database in `discord.sqlite3` under
the data dir rather than in the core's schema. Subjects are pseudonymous keys (`core.ids.key(...)`), never
Discord ids; rows older than the check-in window are pruned on every write.
"""

from __future__ import annotations

import asyncio
import enum
from datetime import datetime, timedelta
from pathlib import Path

import aiosqlite

CHECKON_WINDOW = timedelta(hours=24)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS optouts (
    subject TEXT NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('monitoring', 'checkon')),
    PRIMARY KEY (subject, kind)
);
CREATE TABLE IF NOT EXISTS checkons (
    recipient TEXT NOT NULL,
    sender    TEXT NOT NULL,
    sent_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checkons_recipient ON checkons(recipient, sent_at);
CREATE INDEX IF NOT EXISTS checkons_sender ON checkons(sender, sent_at);
"""


class CheckonClaim(str, enum.Enum):
    OK = "ok"
    RECENT = "recent"                # the recipient already had a note in the last 24 hours
    SENDER_LIMIT = "sender_limit"    # the sender used up their notes for today
    OPTED_OUT = "opted_out"          # the recipient asked not to receive notes


class DiscordStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._monitoring_optouts: set[str] = set()

    async def open(self) -> None:
        self._db = await aiosqlite.connect(self._path)
        await self._db.executescript(_SCHEMA)
        await self._db.commit()
        rows = await self._db.execute_fetchall("SELECT subject FROM optouts WHERE kind='monitoring'")
        self._monitoring_optouts = {row[0] for row in rows}

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("DiscordStore is not open")
        return self._db

    async def monitoring_opted_out(self, subject: str) -> bool:
        """Checked on every monitored message, so it is answered from memory (one worker owns this file)."""
        return subject in self._monitoring_optouts

    async def set_opt_out(self, subject: str, kind: str, opted_out: bool) -> None:
        async with self._lock:
            if opted_out:
                await self.db.execute("INSERT OR IGNORE INTO optouts (subject, kind) VALUES (?, ?)", (subject, kind))
            else:
                await self.db.execute("DELETE FROM optouts WHERE subject=? AND kind=?", (subject, kind))
            await self.db.commit()
        if kind == "monitoring":
            (self._monitoring_optouts.add if opted_out else self._monitoring_optouts.discard)(subject)

    async def is_opted_out(self, subject: str, kind: str) -> bool:
        rows = await self.db.execute_fetchall("SELECT 1 FROM optouts WHERE subject=? AND kind=?", (subject, kind))
        return bool(rows)

    async def claim_checkon(self, recipient: str, sender: str, now: datetime, per_sender: int) -> CheckonClaim:
        """Reserve a check-in note atomically: at most one per recipient per 24 hours, `per_sender` per sender."""
        since = (now - CHECKON_WINDOW).isoformat()
        async with self._lock:
            await self.db.execute("DELETE FROM checkons WHERE sent_at < ?", (since,))
            if await self.is_opted_out(recipient, "checkon"):
                await self.db.commit()
                return CheckonClaim.OPTED_OUT
            recent = await self.db.execute_fetchall("SELECT 1 FROM checkons WHERE recipient=? AND sent_at >= ?",
                                                    (recipient, since))
            if recent:
                await self.db.commit()
                return CheckonClaim.RECENT
            sent = await self.db.execute_fetchall("SELECT COUNT(*) FROM checkons WHERE sender=? AND sent_at >= ?",
                                                  (sender, since))
            if next(iter(sent))[0] >= per_sender:
                await self.db.commit()
                return CheckonClaim.SENDER_LIMIT
            await self.db.execute("INSERT INTO checkons (recipient, sender, sent_at) VALUES (?, ?, ?)",
                                  (recipient, sender, now.isoformat()))
            await self.db.commit()
            return CheckonClaim.OK

    async def release_checkon(self, recipient: str, sender: str, now: datetime) -> None:
        """Undo a claim whose note could not be delivered (DMs closed), so it does not count."""
        async with self._lock:
            await self.db.execute("DELETE FROM checkons WHERE recipient=? AND sender=? AND sent_at=?",
                                  (recipient, sender, now.isoformat()))
            await self.db.commit()
