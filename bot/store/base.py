"""The store contract. The core depends on this protocol only; one contract suite (tests/store) drives both
the SQLite and the PostgreSQL implementation.

Identifiers reaching the store are already pseudonymous (keyed hashes, see privacy.py): platform user ids and
chat ids never land in a table in clear.
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

#: Every column the field cipher protects, on every backend: (table, primary key, column, cipher context).
#: Key rotation walks this list, so a feature that stores encrypted text adds its column here.
ENCRYPTED_COLUMNS: list[tuple[str, str, str, str]] = [
    ("messages", "id", "text", "message"),
    ("users", "user_key", "profile", "profile"),
    ("conversations", "conv_key", "state", "state"),
    ("cases", "case_id", "address", "address"),
    ("mood_entries", "id", "emotions", "mood"),
    ("mood_entries", "id", "note", "mood"),
    ("screenings", "id", "answers", "screening"),
    ("appointments", "booking_id", "details", "appointment"),
    ("intakes", "id", "answers", "intake"),
]
#: Case levels in rising order: a new crisis while a case is open may raise its level, never lower it.
CASE_LEVELS: list[str] = ["none", "low", "moderate", "high", "imminent"]
#: The user columns update_user may set.
USER_FIELDS = frozenset({"profile", "consent_version", "consent_at", "disclosed_at", "last_seen_at"})


def user_field_values(fields: dict[str, Any], cipher: Any, encode_time: Any) -> list[Any]:
    """update_user's values as columns hold them, on every backend: the profile encrypted (JSON), times in the
    backend's own form (`encode_time`). Unknown fields are refused, so a typo never writes a column."""
    unknown = set(fields) - USER_FIELDS
    if unknown:
        raise ValueError(f"unknown user fields: {sorted(unknown)}")
    values: list[Any] = []
    for name, value in fields.items():
        if name == "profile":
            value = cipher.encrypt(json.dumps(value, ensure_ascii=False), "profile")
        elif isinstance(value, datetime):
            value = encode_time(value)
        values.append(value)
    return values


class EventClaim(str, Enum):
    """What to do with an incoming platform event, decided atomically by the store."""

    NEW = "new"                # first delivery: handle it
    DUPLICATE = "duplicate"    # already answered, or being answered right now: drop it
    RECOVER = "recover"        # seen before but never finished (the process died): handle it again
    #: Handled and saved, but the worker died before confirming its reply reached the person: send the stored
    #: reply again rather than handle the event twice (only for adapters that confirm delivery).
    REPLAY = "replay"


@dataclass(frozen=True, slots=True)
class UserRecord:
    user_key: str
    platform: str
    created_at: datetime
    profile: dict[str, Any] = field(default_factory=dict)
    consent_version: str | None = None
    consent_at: datetime | None = None
    disclosed_at: datetime | None = None
    last_seen_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    conv_key: str
    user_key: str
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    run_at: datetime
    attempts: int
    dedupe_key: str | None


@dataclass(frozen=True, slots=True)
class Case:
    """A crisis escalation to human staff. Staff see `case_id`, never the person's platform identity."""

    case_id: str
    user_key: str
    address: dict[str, Any]
    platform: str
    level: str
    signals: tuple[str, ...]
    status: str
    destination_index: int
    destination_notices: int
    notices_sent: int
    claimed_by: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredMessage:
    direction: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MoodEntry:
    """One mood check-in: a 1-5 score, optional emotion words and an optional note (the person's own words)."""

    id: int
    at: datetime
    score: int
    emotions: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class ScreeningRecord:
    """A completed screening questionnaire (PHQ-9, GAD-7, WHO-5...), kept for the person's own history."""

    id: int
    at: datetime
    questionnaire: str
    score: int
    band: str
    answers: tuple[int, ...] = ()


class Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None:
        """A cheap round trip to the database; raises when it is unreachable (readiness checks)."""
        ...
    def conversation_lock(self, conv_key: str) -> AbstractAsyncContextManager[None]:
        """Hold while handling one conversation's event, so its turns stay in order across worker processes.

        PostgreSQL: a session advisory lock, released when the holder exits or its connection dies (a crashed
        worker never keeps it). SQLite: a no-op, one process owns the file. Never nest two of these."""
        ...

    async def claim_event(self, platform: str, event_id: str, now: datetime,
                          stale_after_s: float = 120.0) -> EventClaim: ...
    async def begin_turn(self, *, event: tuple[str, str] | None, user_key: str, platform: str, conv_key: str,
                         now: datetime) -> tuple[EventClaim, UserRecord | None, ConversationRecord | None]:
        """Claim the event and load the person and conversation. Called under `conversation_lock`, so an
        unfinished claim found here is a dead handler's and is RECOVERed at once; a finished one is DUPLICATE."""
        ...
    async def finish_event(self, platform: str, event_id: str, now: datetime) -> None:
        """The event's reply reached the person: forget the stored copy; a redelivery is now a duplicate."""
        ...
    async def pending_reply(self, platform: str, event_id: str) -> str | None:
        """The reply stored with a handled event whose delivery was never confirmed (see EventClaim.REPLAY)."""
        ...

    async def get_or_create_user(self, user_key: str, platform: str, now: datetime) -> UserRecord: ...
    async def update_user(self, user_key: str, **fields: Any) -> None: ...

    async def complete_turn(self, *, conv_key: str, user_key: str, state: dict[str, Any] | None,
                            messages: list[tuple[str, str]], event: tuple[str, str] | None,
                            now: datetime, reply: str | None = None) -> None:
        """`reply` (serialised outgoing items) is kept, encrypted, with the event until `finish_event`."""
        ...
    async def load_conversation(self, conv_key: str, user_key: str) -> ConversationRecord: ...
    async def save_conversation(self, conv_key: str, user_key: str, state: dict[str, Any],
                                now: datetime) -> None: ...

    async def add_message(self, conv_key: str, user_key: str, direction: str, text: str,
                          now: datetime) -> None: ...
    async def add_messages(self, conv_key: str, user_key: str, items: list[tuple[str, str]],
                           now: datetime) -> None: ...
    async def recent_messages(self, conv_key: str, limit: int) -> list[StoredMessage]: ...

    async def enqueue_job(self, kind: str, payload: dict[str, Any], run_at: datetime,
                          dedupe_key: str | None = None, max_attempts: int = 10) -> int | None: ...
    async def claim_jobs(self, now: datetime, limit: int = 10, lease_s: float = 60.0,
                         kinds: tuple[str, ...] | None = None) -> list[Job]: ...
    async def complete_job(self, job_id: int, now: datetime) -> None: ...
    async def retry_job(self, job_id: int, error: str, run_at: datetime) -> None: ...
    async def cancel_jobs(self, dedupe_prefix: str) -> int: ...
    async def pending_jobs(self, kind: str | None = None) -> list[Job]: ...

    async def audit(self, kind: str, now: datetime, user_key: str | None = None,
                    detail: dict[str, Any] | None = None) -> None: ...
    async def audit_entries(self, user_key: str | None = None, kind: str | None = None) -> list[dict[str, Any]]: ...
    async def bump_counter(self, name: str, period: str, dims: str = "") -> None: ...
    async def counters(self, name: str | None = None) -> list[tuple[str, str, str, int]]: ...

    async def open_case(self, *, case_id: str, user_key: str, address: dict[str, Any], platform: str, level: str,
                        signals: tuple[str, ...], now: datetime, job_kind: str,
                        job_payload: dict[str, Any]) -> tuple[Case, bool]: ...
    async def get_case(self, case_id: str) -> Case | None: ...
    async def update_case(self, case_id: str, now: datetime, **fields: Any) -> None: ...

    async def get_user(self, user_key: str) -> UserRecord | None: ...
    async def schedule_job(self, kind: str, payload: dict[str, Any], run_at: datetime, dedupe_key: str) -> bool: ...

    async def add_mood(self, user_key: str, at: datetime, score: int, emotions: tuple[str, ...] = (),
                       note: str = "") -> int: ...
    async def update_mood(self, user_key: str, entry_id: int, *, emotions: tuple[str, ...] | None = None,
                          note: str | None = None) -> None: ...
    async def moods(self, user_key: str, since: datetime | None = None) -> list[MoodEntry]: ...
    async def add_screening(self, user_key: str, at: datetime, questionnaire: str, score: int, band: str,
                            answers: tuple[int, ...]) -> int: ...
    async def screenings(self, user_key: str, limit: int = 20) -> list[ScreeningRecord]: ...

    async def export_user(self, user_key: str) -> dict[str, Any]: ...
    async def erase_user(self, user_key: str) -> None: ...
