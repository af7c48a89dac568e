"""The Discord adapter's opt-outs and `/checkon` limits in the shared PostgreSQL database.

With several workers (discord.py shards spread over processes) a member's `/optout` is recorded by whichever
worker took the command, and must be honoured by every other one; a per-worker file would let another shard
keep watching someone who said no. So on PostgreSQL these tables live beside the core's, on the core store's own
connection pool. The interface is DiscordStore's (discord_store.py); subjects are the same pseudonymous keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.discord_store import CHECKON_WINDOW, CheckonClaim

_SCHEMA = """
CREATE TABLE IF NOT EXISTS discord_optouts (
    subject TEXT NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('monitoring', 'checkon')),
    PRIMARY KEY (subject, kind)
);
CREATE TABLE IF NOT EXISTS discord_checkons (
    recipient TEXT NOT NULL,
    sender    TEXT NOT NULL,
    sent_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS discord_checkons_recipient ON discord_checkons(recipient, sent_at);
CREATE INDEX IF NOT EXISTS discord_checkons_sender ON discord_checkons(sender, sent_at);
"""
#: An advisory lock taken by every check-in claim, on every worker: claims are rare, and one lock keeps both the
#: per-recipient and the per-sender limit exact across workers.
_CHECKON_LOCK = (0x44495343, 1)   # "DISC"


class PgDiscordStore:
    def __init__(self, store: Any) -> None:
        self._store = store   # PostgresStore: its pool, already open when the adapter starts

    async def open(self) -> None:
        async with self._store.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1, $2)", _CHECKON_LOCK[0], 0)
            await connection.execute(_SCHEMA)

    async def close(self) -> None:
        return None   # the pool belongs to the core store

    async def monitoring_opted_out(self, subject: str) -> bool:
        """Read from the database each time: another worker may have recorded the opt-out a moment ago."""
        return await self.is_opted_out(subject, "monitoring")

    async def set_opt_out(self, subject: str, kind: str, opted_out: bool) -> None:
        if opted_out:
            await self._store.pool.execute("INSERT INTO discord_optouts (subject, kind) VALUES ($1, $2)"
                                           " ON CONFLICT DO NOTHING", subject, kind)
        else:
            await self._store.pool.execute("DELETE FROM discord_optouts WHERE subject=$1 AND kind=$2", subject, kind)

    async def is_opted_out(self, subject: str, kind: str) -> bool:
        found = await self._store.pool.fetchval("SELECT 1 FROM discord_optouts WHERE subject=$1 AND kind=$2",
                                                subject, kind)
        return found is not None

    async def claim_checkon(self, recipient: str, sender: str, now: datetime, per_sender: int) -> CheckonClaim:
        """As DiscordStore.claim_checkon, atomic across workers."""
        since = now - CHECKON_WINDOW
        async with self._store.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1, $2)", *_CHECKON_LOCK)
            await connection.execute("DELETE FROM discord_checkons WHERE sent_at < $1", since)
            if await connection.fetchval("SELECT 1 FROM discord_optouts WHERE subject=$1 AND kind='checkon'",
                                         recipient) is not None:
                return CheckonClaim.OPTED_OUT
            if await connection.fetchval("SELECT 1 FROM discord_checkons WHERE recipient=$1 AND sent_at >= $2",
                                         recipient, since) is not None:
                return CheckonClaim.RECENT
            sent = await connection.fetchval("SELECT COUNT(*) FROM discord_checkons WHERE sender=$1 AND sent_at >= $2",
                                             sender, since)
            if int(sent) >= per_sender:
                return CheckonClaim.SENDER_LIMIT
            await connection.execute("INSERT INTO discord_checkons (recipient, sender, sent_at) VALUES ($1, $2, $3)",
                                     recipient, sender, now)
            return CheckonClaim.OK

    async def release_checkon(self, recipient: str, sender: str, now: datetime) -> None:
        await self._store.pool.execute("DELETE FROM discord_checkons WHERE recipient=$1 AND sender=$2 AND sent_at=$3",
                                       recipient, sender, now)
