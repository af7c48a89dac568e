"""PostgreSQL schema migrations, numbered like SQLite's so `schema_version` means the same thing on both.

Append only: a released migration is never edited, a new one is added here and in migrations.py together.
Tables, columns and unique indexes mirror the SQLite schema; only the types differ (timestamptz for instants,
identity columns for row ids, boolean flags). Encrypted columns stay TEXT: they hold the cipher's text form.

Several `haven run` workers may start at once against an empty database, so the whole upgrade runs in one
transaction under a transaction-level advisory lock: the first worker migrates, the others wait and then find
nothing left to do. DDL is transactional in PostgreSQL, so a crash mid-upgrade leaves the previous version.
"""

from __future__ import annotations

from typing import Any

#: Haven's advisory locks that are not per-conversation use the two-int4 key form, a key space separate from the
#: single-bigint form that conversation locks use, so they can never collide with one. (namespace, key):
LOCK_NAMESPACE = 0x48415645   # "HAVE"
MIGRATION_LOCK = 1

PG_MIGRATIONS: list[str] = [
    # 1: the foundation schema.
    """
    CREATE TABLE users (
        user_key        TEXT PRIMARY KEY,
        platform        TEXT NOT NULL,
        created_at      TIMESTAMPTZ NOT NULL,
        profile         TEXT NOT NULL DEFAULT '{}',
        consent_version TEXT,
        consent_at      TIMESTAMPTZ,
        disclosed_at    TIMESTAMPTZ,
        last_seen_at    TIMESTAMPTZ
    );
    CREATE TABLE conversations (
        conv_key   TEXT PRIMARY KEY,
        user_key   TEXT NOT NULL REFERENCES users(user_key) ON DELETE CASCADE,
        state      TEXT NOT NULL DEFAULT '{}',
        updated_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX conversations_user ON conversations(user_key);
    CREATE TABLE messages (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        conv_key   TEXT NOT NULL,
        user_key   TEXT NOT NULL REFERENCES users(user_key) ON DELETE CASCADE,
        direction  TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        text       TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX messages_conv ON messages(conv_key, id);
    CREATE INDEX messages_user ON messages(user_key);
    CREATE INDEX messages_created ON messages(created_at);
    CREATE TABLE processed_events (
        platform    TEXT NOT NULL,
        event_id    TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('received', 'done')),
        received_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (platform, event_id)
    );
    CREATE INDEX processed_events_received ON processed_events(received_at);
    CREATE TABLE jobs (
        id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind         TEXT NOT NULL,
        payload      TEXT NOT NULL,
        run_at       TIMESTAMPTZ NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'done', 'failed', 'cancelled')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL DEFAULT 10,
        lease_until  TIMESTAMPTZ,
        dedupe_key   TEXT UNIQUE,
        user_key     TEXT,
        last_error   TEXT,
        created_at   TIMESTAMPTZ NOT NULL,
        updated_at   TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX jobs_due ON jobs(status, run_at);
    CREATE INDEX jobs_user ON jobs(user_key);
    CREATE TABLE audit_log (
        id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at       TIMESTAMPTZ NOT NULL,
        kind     TEXT NOT NULL,
        user_key TEXT,
        detail   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_user ON audit_log(user_key);
    CREATE TABLE counters (
        name   TEXT NOT NULL,
        period TEXT NOT NULL,
        dims   TEXT NOT NULL DEFAULT '',
        count  BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (name, period, dims)
    );
    """,
    # 2: crisis cases for human escalation. `address` (where to tell the person) is encrypted like message text.
    """
    CREATE TABLE cases (
        case_id             TEXT PRIMARY KEY,
        user_key            TEXT NOT NULL,
        address             TEXT NOT NULL,
        platform            TEXT NOT NULL,
        level               TEXT NOT NULL,
        signals             TEXT NOT NULL DEFAULT '[]',
        status              TEXT NOT NULL CHECK (status IN ('open', 'claimed', 'resolved')),
        destination_index   INTEGER NOT NULL DEFAULT 0,
        destination_notices INTEGER NOT NULL DEFAULT 0,
        notices_sent        INTEGER NOT NULL DEFAULT 0,
        claimed_by          TEXT,
        created_at          TIMESTAMPTZ NOT NULL,
        updated_at          TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX cases_user ON cases(user_key, status);
    """,
    # 3: the person's own wellbeing history. Emotions, note and answers are encrypted; scores stay plain.
    """
    CREATE TABLE mood_entries (
        id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_key TEXT NOT NULL REFERENCES users(user_key) ON DELETE CASCADE,
        at       TIMESTAMPTZ NOT NULL,
        score    INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
        emotions TEXT NOT NULL DEFAULT '',
        note     TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX mood_entries_user ON mood_entries(user_key, at);
    CREATE TABLE screenings (
        id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_key      TEXT NOT NULL REFERENCES users(user_key) ON DELETE CASCADE,
        at            TIMESTAMPTZ NOT NULL,
        questionnaire TEXT NOT NULL,
        score         INTEGER NOT NULL,
        band          TEXT NOT NULL,
        answers       TEXT NOT NULL
    );
    CREATE INDEX screenings_user ON screenings(user_key, at);
    """,
    # 4: appointments and intake. One booked appointment per provider and start instant, enforced by a partial
    # unique index (a cancelled booking frees its slot); `details` and intake `answers` are encrypted.
    """
    CREATE TABLE appointments (
        booking_id  TEXT PRIMARY KEY,
        user_key    TEXT NOT NULL,
        provider_id TEXT NOT NULL,
        starts_at   TIMESTAMPTZ NOT NULL,
        ends_at     TIMESTAMPTZ NOT NULL,
        modality    TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('booked', 'cancelled')),
        sequence    INTEGER NOT NULL DEFAULT 0,
        details     TEXT NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL,
        updated_at  TIMESTAMPTZ NOT NULL
    );
    CREATE UNIQUE INDEX appointments_one_per_slot ON appointments(provider_id, starts_at) WHERE status = 'booked';
    CREATE INDEX appointments_user ON appointments(user_key, status);
    CREATE INDEX appointments_provider ON appointments(provider_id, starts_at);
    CREATE TABLE intakes (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_key   TEXT NOT NULL,
        booking_id TEXT NOT NULL,
        answers    TEXT NOT NULL DEFAULT '',
        shared     BOOLEAN NOT NULL DEFAULT FALSE,
        created_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX intakes_user ON intakes(user_key);
    """,
    # 5: see SQLite migration 5: a handled event's reply until its delivery is confirmed.
    """
    ALTER TABLE processed_events ADD COLUMN reply TEXT;
    """,
]


async def migrate(connection: Any) -> int:
    """Bring the database to the newest version; returns it. `connection` is an asyncpg connection."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_NAMESPACE, MIGRATION_LOCK)
        await connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = await connection.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        for version, script in enumerate(PG_MIGRATIONS, start=1):
            if version <= current:
                continue
            await connection.execute(script)
            await connection.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
            current = version
    return int(current)
