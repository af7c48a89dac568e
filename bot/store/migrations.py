"""Versioned schema migrations. Append only: a released migration is never edited, a new one is added."""

from __future__ import annotations

SQLITE_MIGRATIONS: list[str] = [
    # 1: the foundation schema.
    """
    CREATE TABLE users (
        user_key        TEXT PRIMARY KEY,
        platform        TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        profile         TEXT NOT NULL DEFAULT '{}',
        consent_version TEXT,
        consent_at      TEXT,
        disclosed_at    TEXT,
        last_seen_at    TEXT
    );
    CREATE TABLE conversations (
        conv_key   TEXT PRIMARY KEY,
        user_key   TEXT NOT NULL REFERENCES users(user_key) ON DELETE CASCADE,
        state      TEXT NOT NULL DEFAULT '{}',
        updated_at TEXT NOT NULL
    );
    CREATE INDEX conversations_user ON conversations(user_key);
    CREATE TABLE messages (
        id         INTEGER PRIMARY KEY,
        conv_key   TEXT NOT NULL,
        user_key   TEXT NOT NULL REFERENCES users(user_key) ON DELETE CASCADE,
        direction  TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        text       TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX messages_conv ON messages(conv_key, id);
    CREATE INDEX messages_user ON messages(user_key);
    CREATE INDEX messages_created ON messages(created_at);
    CREATE TABLE processed_events (
        platform    TEXT NOT NULL,
        event_id    TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('received', 'done')),
        received_at TEXT NOT NULL,
        PRIMARY KEY (platform, event_id)
    );
    CREATE INDEX processed_events_received ON processed_events(received_at);
    CREATE TABLE jobs (
        id           INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL,
        payload      TEXT NOT NULL,
        run_at       TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'done', 'failed', 'cancelled')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL DEFAULT 10,
        lease_until  TEXT,
        dedupe_key   TEXT UNIQUE,
        user_key     TEXT,
        last_error   TEXT,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
    );
    CREATE INDEX jobs_due ON jobs(status, run_at);
    CREATE INDEX jobs_user ON jobs(user_key);
    CREATE TABLE audit_log (
        id       INTEGER PRIMARY KEY,
        at       TEXT NOT NULL,
        kind     TEXT NOT NULL,
        user_key TEXT,
        detail   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_user ON audit_log(user_key);
    CREATE TABLE counters (
        name   TEXT NOT NULL,
        period TEXT NOT NULL,
        dims   TEXT NOT NULL DEFAULT '',
        count  INTEGER NOT NULL DEFAULT 0,
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
        created_at          TEXT NOT NULL,
        updated_at          TEXT NOT NULL
    );
    CREATE INDEX cases_user ON cases(user_key, status);
    """,
    # 3: the person's own wellbeing history: mood check-ins and screening questionnaires. Free text and answers
    # (emotions, note, answers) are encrypted like message text; scores stay plain for the charts.
    """
    CREATE TABLE mood_entries (
        id       INTEGER PRIMARY KEY,
        user_key TEXT NOT NULL REFERENCES users(user_key) ON DELETE CASCADE,
        at       TEXT NOT NULL,
        score    INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
        emotions TEXT NOT NULL DEFAULT '',
        note     TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX mood_entries_user ON mood_entries(user_key, at);
    CREATE TABLE screenings (
        id            INTEGER PRIMARY KEY,
        user_key      TEXT NOT NULL REFERENCES users(user_key) ON DELETE CASCADE,
        at            TEXT NOT NULL,
        questionnaire TEXT NOT NULL,
        score         INTEGER NOT NULL,
        band          TEXT NOT NULL,
        answers       TEXT NOT NULL
    );
    CREATE INDEX screenings_user ON screenings(user_key, at);
    """,
    # 4: appointments and intake (bot/flows/booking.py). One booked appointment per provider and start time, enforced
    # by the database (a partial UNIQUE index: a cancelled booking frees its slot). `details` (where to reach the
    # person, the name they chose to share, their topic) and intake `answers` are encrypted like message text.
    """
    CREATE TABLE appointments (
        booking_id  TEXT PRIMARY KEY,
        user_key    TEXT NOT NULL,
        provider_id TEXT NOT NULL,
        starts_at   TEXT NOT NULL,
        ends_at     TEXT NOT NULL,
        modality    TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('booked', 'cancelled')),
        sequence    INTEGER NOT NULL DEFAULT 0,
        details     TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE UNIQUE INDEX appointments_one_per_slot ON appointments(provider_id, starts_at) WHERE status = 'booked';
    CREATE INDEX appointments_user ON appointments(user_key, status);
    CREATE INDEX appointments_provider ON appointments(provider_id, starts_at);
    CREATE TABLE intakes (
        id         INTEGER PRIMARY KEY,
        user_key   TEXT NOT NULL,
        booking_id TEXT NOT NULL,
        answers    TEXT NOT NULL DEFAULT '',
        shared     INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE INDEX intakes_user ON intakes(user_key);
    """,
    # 5: the reply of a handled event, kept (encrypted) until the adapter confirms it was delivered, so a worker
    # that dies between saving a turn and sending its answer (a crisis reply among them) has it sent on redelivery.
    """
    ALTER TABLE processed_events ADD COLUMN reply TEXT;
    """,
]
