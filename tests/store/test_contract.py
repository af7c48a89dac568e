"""The Store contract, method by method, on SQLite and on PostgreSQL (see conftest.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bot.privacy import FieldCipher, generate_key
from bot.store.base import ENCRYPTED_COLUMNS, EventClaim
from bot.store.migrations import SQLITE_MIGRATIONS
from bot.store.pg_migrations import PG_MIGRATIONS
from tests.store.conftest import Backend

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


# --- lifecycle ---------------------------------------------------------------------------------------------------

def test_both_backends_have_the_same_migrations() -> None:
    assert len(PG_MIGRATIONS) == len(SQLITE_MIGRATIONS)


async def test_migrations_apply_once_and_reopening_changes_nothing(backend: Backend) -> None:
    first = await backend.open()
    assert await first.schema_version() == len(SQLITE_MIGRATIONS)
    await first.enqueue_job("followup", {"user_key": "u1"}, NOW, dedupe_key="f:u1")
    again = await backend.open()
    assert await again.schema_version() == len(SQLITE_MIGRATIONS)
    assert await backend.raw("SELECT COUNT(*) FROM schema_version") == [(len(SQLITE_MIGRATIONS),)]
    [job] = await again.claim_jobs(NOW)
    assert job.kind == "followup"


async def test_ping_answers_while_open_and_raises_once_closed(backend: Backend) -> None:
    store = backend.make()
    await store.open()
    await store.ping()
    await store.close()
    with pytest.raises(Exception):
        await store.ping()


async def test_conversation_lock_is_usable_on_every_backend(store: Any) -> None:
    async with store.conversation_lock("c1"):
        await store.get_or_create_user("u1", "memory", NOW)   # the holder's own statements are not blocked
        async with store.conversation_lock("c2"):             # different conversations never block each other
            await store.save_conversation("c2", "u1", {"n": 1}, NOW)
    async with store.conversation_lock("c1"):                 # released: taken again at once
        assert (await store.load_conversation("c2", "u1")).state == {"n": 1}


# --- platform events ---------------------------------------------------------------------------------------------

async def test_event_claim_is_once_and_recovers_after_a_crash(store: Any) -> None:
    assert await store.claim_event("telegram", "1", NOW) is EventClaim.NEW
    assert await store.claim_event("telegram", "1", NOW) is EventClaim.DUPLICATE
    # Not finished, and old: the process that took it died. It is handed out again exactly once.
    later = NOW + timedelta(minutes=5)
    assert await store.claim_event("telegram", "1", later) is EventClaim.RECOVER
    assert await store.claim_event("telegram", "1", later) is EventClaim.DUPLICATE
    await store.finish_event("telegram", "1", later)
    assert await store.claim_event("telegram", "1", later + timedelta(hours=1)) is EventClaim.DUPLICATE
    assert await store.claim_event("slack", "1", NOW) is EventClaim.NEW


async def test_begin_turn_creates_the_person_and_drops_duplicates(store: Any) -> None:
    claim, user, conversation = await store.begin_turn(event=("memory", "e1"), user_key="u1", platform="memory",
                                                       conv_key="c1", now=NOW)
    assert claim is EventClaim.NEW and user.user_key == "u1" and user.platform == "memory"
    assert conversation.state == {} and conversation.conv_key == "c1"
    assert (await store.get_user("u1")).created_at == NOW
    # Under the conversation lock an unfinished claim can only be a dead handler's: taken over at once.
    claim, _, _ = await store.begin_turn(event=("memory", "e1"), user_key="u1", platform="memory", conv_key="c1",
                                         now=NOW)
    assert claim is EventClaim.RECOVER
    await store.complete_turn(conv_key="c1", user_key="u1", state={"step": 2}, messages=[("in", "hi")],
                              event=("memory", "e1"), now=NOW)
    assert await store.begin_turn(event=("memory", "e1"), user_key="u1", platform="memory", conv_key="c1",
                                  now=NOW) == (EventClaim.DUPLICATE, None, None)
    claim, user, conversation = await store.begin_turn(event=None, user_key="u1", platform="memory",
                                                       conv_key="c1", now=NOW)
    assert claim is EventClaim.NEW and conversation.state == {"step": 2}


async def test_complete_turn_is_atomic(store: Any) -> None:
    await store.get_or_create_user("u1", "memory", NOW)
    await store.claim_event("memory", "e1", NOW)
    await store.complete_turn(conv_key="c1", user_key="u1", state={"x": 1}, messages=[("in", "hi"), ("out", "hey")],
                              event=("memory", "e1"), now=NOW)
    assert [m.text for m in await store.recent_messages("c1", 10)] == ["hi", "hey"]
    assert (await store.load_conversation("c1", "u1")).state == {"x": 1}
    assert await store.claim_event("memory", "e1", NOW + timedelta(hours=1)) is EventClaim.DUPLICATE


async def test_a_failed_turn_leaves_nothing_behind(store: Any) -> None:
    await store.claim_event("memory", "e1", NOW)
    with pytest.raises(Exception):   # no such user: the foreign key refuses the message rows
        await store.complete_turn(conv_key="c1", user_key="nobody", state={"x": 1}, messages=[("in", "hi")],
                                  event=("memory", "e1"), now=NOW)
    assert await store.recent_messages("c1", 10) == []
    assert (await store.load_conversation("c1", "nobody")).state == {}
    assert await store.claim_event("memory", "e1", NOW + timedelta(minutes=5)) is EventClaim.RECOVER


# --- people, conversations, messages -----------------------------------------------------------------------------

async def test_users_are_created_once_and_updated_field_by_field(store: Any) -> None:
    assert await store.get_user("u1") is None
    created = await store.get_or_create_user("u1", "telegram", NOW)
    assert (created.user_key, created.platform, created.profile) == ("u1", "telegram", {})
    again = await store.get_or_create_user("u1", "slack", NOW + timedelta(days=1))
    assert again.platform == "telegram" and again.created_at == NOW
    await store.update_user("u1", profile={"name": "Sam", "tz": "Europe/Paris"}, consent_version="v2",
                            consent_at=NOW, disclosed_at=NOW + timedelta(seconds=1))
    user = await store.get_user("u1")
    assert user.profile == {"name": "Sam", "tz": "Europe/Paris"} and user.consent_version == "v2"
    assert user.consent_at == NOW and user.disclosed_at == NOW + timedelta(seconds=1) and user.last_seen_at is None
    with pytest.raises(ValueError):
        await store.update_user("u1", platform="discord")


async def test_conversation_state_round_trips(store: Any) -> None:
    await store.get_or_create_user("u1", "memory", NOW)
    assert (await store.load_conversation("c1", "u1")).state == {}
    await store.save_conversation("c1", "u1", {"flow": {"name": "mood", "step": 1}, "risk": [1, 2]}, NOW)
    await store.save_conversation("c1", "u1", {"flow": None, "when": NOW}, NOW)
    assert (await store.load_conversation("c1", "u1")).state == {"flow": None, "when": str(NOW)}


async def test_recent_messages_are_the_last_n_in_order_and_retention_deletes_old_ones(store: Any) -> None:
    await store.get_or_create_user("u1", "memory", NOW)
    for minute in range(5):
        await store.add_messages("c1", "u1", [("in", f"q{minute}"), ("out", f"a{minute}")],
                                 NOW + timedelta(minutes=minute))
    await store.add_message("c2", "u1", "in", "elsewhere", NOW)
    recent = await store.recent_messages("c1", 3)
    assert [(m.direction, m.text) for m in recent] == [("out", "a3"), ("in", "q4"), ("out", "a4")]
    assert recent[-1].created_at == NOW + timedelta(minutes=4)
    assert await store.delete_messages_before(NOW + timedelta(minutes=2)) == 5
    assert len(await store.recent_messages("c1", 100)) == 6


# --- durable jobs ------------------------------------------------------------------------------------------------

async def test_jobs_claim_lease_retry_complete(store: Any) -> None:
    job_id = await store.enqueue_job("escalation", {"case": "A"}, NOW, dedupe_key="esc:A")
    assert job_id is not None
    assert await store.enqueue_job("escalation", {"case": "A"}, NOW, dedupe_key="esc:A") is None
    assert await store.claim_jobs(NOW - timedelta(seconds=1)) == []
    [job] = await store.claim_jobs(NOW, lease_s=30)
    assert job.payload == {"case": "A"} and job.attempts == 1 and job.run_at == NOW and job.dedupe_key == "esc:A"
    assert await store.claim_jobs(NOW + timedelta(seconds=10)) == []          # leased
    [again] = await store.claim_jobs(NOW + timedelta(seconds=31))            # lease expired: worker died
    assert again.id == job.id and again.attempts == 2
    await store.retry_job(job.id, "platform 502", NOW + timedelta(minutes=1))
    assert await store.claim_jobs(NOW + timedelta(seconds=59)) == []
    [third] = await store.claim_jobs(NOW + timedelta(minutes=1))
    await store.complete_job(third.id, NOW)
    assert await store.pending_jobs() == []
    assert await store.job_status(third.id) == "done"
    assert await store.job_status(10_000) is None


async def test_job_fails_after_max_attempts(store: Any) -> None:
    job_id = await store.enqueue_job("x", {}, NOW, max_attempts=1)
    [job] = await store.claim_jobs(NOW)
    await store.retry_job(job.id, "boom", NOW)
    assert await store.job_status(job_id) == "failed"
    assert await store.claim_jobs(NOW + timedelta(days=1)) == []


async def test_claim_respects_limit_kinds_and_due_order(store: Any) -> None:
    for minute in (3, 1, 2):
        await store.enqueue_job("checkin", {"n": minute}, NOW + timedelta(minutes=minute))
    await store.enqueue_job("reminder", {"n": 0}, NOW)
    first = await store.claim_jobs(NOW + timedelta(minutes=5), limit=2, kinds=("checkin",))
    assert [j.payload["n"] for j in first] == [1, 2]
    rest = await store.claim_jobs(NOW + timedelta(minutes=5))
    assert sorted((j.kind, j.payload["n"]) for j in rest) == [("checkin", 3), ("reminder", 0)]
    assert [j.kind for j in await store.pending_jobs("reminder")] == ["reminder"]
    assert len(await store.pending_jobs()) == 4   # claimed jobs are still pending work


async def test_cancel_jobs_matches_the_prefix_literally(store: Any) -> None:
    await store.enqueue_job("r", {}, NOW, dedupe_key="appt:A_1:rem:24h")
    await store.enqueue_job("r", {}, NOW, dedupe_key="appt:A_1:rem:1h")
    await store.enqueue_job("r", {}, NOW, dedupe_key="appt:AX1:rem:24h")   # `_` must not act as a wildcard
    await store.enqueue_job("r", {}, NOW, dedupe_key="appt:A%1:rem:24h")
    assert await store.cancel_jobs("appt:A_1:") == 2
    assert sorted(j.dedupe_key for j in await store.pending_jobs()) == ["appt:A%1:rem:24h", "appt:AX1:rem:24h"]
    assert await store.cancel_jobs("appt:A%") == 1


async def test_schedule_job_moves_a_pending_job_but_never_revives_a_finished_one(store: Any) -> None:
    assert await store.schedule_job("checkin", {"user_key": "u1"}, NOW, "checkin:u1:2026-11-25")
    assert await store.schedule_job("checkin", {"user_key": "u1", "v": 2}, NOW + timedelta(hours=1),
                                    "checkin:u1:2026-11-25")
    [job] = await store.pending_jobs()
    assert job.run_at == NOW + timedelta(hours=1) and job.payload["v"] == 2
    [claimed] = await store.claim_jobs(NOW + timedelta(hours=1))
    await store.complete_job(claimed.id, NOW)
    assert not await store.schedule_job("checkin", {"user_key": "u1"}, NOW + timedelta(hours=2),
                                        "checkin:u1:2026-11-25")
    assert await store.pending_jobs() == []
    await store.schedule_job("checkin", {"user_key": "u1"}, NOW, "checkin:u1:2026-11-26")
    assert await store.cancel_jobs("checkin:u1:2026-11-26") == 1
    assert await store.schedule_job("checkin", {"user_key": "u1"}, NOW, "checkin:u1:2026-11-26")   # revived


# --- audit and counters ------------------------------------------------------------------------------------------

async def test_audit_entries_filter_by_person_and_kind(store: Any) -> None:
    await store.audit("consent_given", NOW, "u1", {"version": "v1"})
    await store.audit("crisis_referral", NOW, "u1")
    await store.audit("consent_given", NOW, "u2")
    await store.audit("startup", NOW)
    assert [e["kind"] for e in await store.audit_entries()] == ["consent_given", "crisis_referral", "consent_given",
                                                                "startup"]
    [entry] = await store.audit_entries(user_key="u1", kind="consent_given")
    assert entry == {"at": NOW.isoformat(), "kind": "consent_given", "user_key": "u1", "detail": {"version": "v1"}}
    assert len(await store.audit_entries(kind="consent_given")) == 2


async def test_counters_count_without_identifiers(store: Any) -> None:
    for _ in range(3):
        await store.bump_counter("crisis_referral", "2026-11", "level=high")
    await store.bump_counter("crisis_referral", "2026-11")
    await store.bump_counter("disclosure", "2026-11")
    assert await store.counters("crisis_referral") == [("crisis_referral", "2026-11", "", 1),
                                                       ("crisis_referral", "2026-11", "level=high", 3)]
    assert len(await store.counters()) == 3


# --- crisis cases ------------------------------------------------------------------------------------------------

async def open_case(store: Any, case_id: str, level: str, user_key: str = "u1") -> Any:
    return await store.open_case(case_id=case_id, user_key=user_key, address={"platform": "memory", "chat": "x"},
                                 platform="memory", level=level, signals=("plan",), now=NOW, job_kind="escalate",
                                 job_payload={"case_id": case_id})


async def test_one_open_case_per_person_with_its_first_notice_job(store: Any) -> None:
    case, created = await open_case(store, "HC-1", "high")
    assert created and case.status == "open" and case.level == "high" and case.signals == ("plan",)
    assert case.address == {"platform": "memory", "chat": "x"} and case.created_at == NOW
    [job] = await store.pending_jobs("escalate")
    assert job.dedupe_key == "notify:HC-1:0" and job.payload == {"case_id": "HC-1"}
    same, created = await open_case(store, "HC-2", "imminent")
    assert not created and same.case_id == "HC-1" and same.level == "imminent"
    lower, _ = await open_case(store, "HC-3", "moderate")
    assert lower.level == "imminent"                            # a case's level never goes down
    assert len(await store.pending_jobs("escalate")) == 1
    await store.update_case("HC-1", NOW + timedelta(minutes=1), status="claimed", claimed_by="staff-1",
                            notices_sent=2)
    claimed = await store.get_case("HC-1")
    assert (claimed.status, claimed.claimed_by, claimed.notices_sent) == ("claimed", "staff-1", 2)
    assert claimed.updated_at == NOW + timedelta(minutes=1)
    with pytest.raises(ValueError):
        await store.update_case("HC-1", NOW, user_key="u2")
    await store.update_case("HC-1", NOW, status="resolved")
    _, created = await open_case(store, "HC-4", "high")
    assert created                                               # resolved: a new crisis opens a new case
    assert await store.get_case("HC-404") is None


# --- wellbeing history -------------------------------------------------------------------------------------------

async def test_moods_are_the_persons_own_and_filtered_by_date(store: Any) -> None:
    await store.get_or_create_user("u1", "memory", NOW)
    await store.get_or_create_user("u2", "memory", NOW)
    old = await store.add_mood("u1", NOW - timedelta(days=40), 2)
    new = await store.add_mood("u1", NOW, 4, ("calm",), "a walk helped")
    await store.update_mood("u1", old, emotions=("tired", "low"), note="long week")
    await store.update_mood("u2", new, note="not mine to change")
    entries = await store.moods("u1")
    assert [(e.id, e.score, e.emotions, e.note) for e in entries] == [(old, 2, ("tired", "low"), "long week"),
                                                                      (new, 4, ("calm",), "a walk helped")]
    assert [e.id for e in await store.moods("u1", since=NOW - timedelta(days=30))] == [new]
    assert entries[1].at == NOW and await store.moods("u2") == []


async def test_screenings_newest_first_with_a_limit(store: Any) -> None:
    await store.get_or_create_user("u1", "memory", NOW)
    for day in range(3):
        await store.add_screening("u1", NOW + timedelta(days=day), "phq9", 5 + day, "mild", (1, 2, day))
    history = await store.screenings("u1", limit=2)
    assert [(s.score, s.answers) for s in history] == [(7, (1, 2, 2)), (6, (1, 2, 1))]
    assert history[0].questionnaire == "phq9" and history[0].band == "mild" and history[0].at == NOW + timedelta(days=2)


# --- data rights -------------------------------------------------------------------------------------------------

async def fill(store: Any, user_key: str) -> None:
    await store.get_or_create_user(user_key, "memory", NOW)
    await store.update_user(user_key, profile={"name": "Sam"}, consent_version="v1", consent_at=NOW)
    await store.save_conversation(f"c-{user_key}", user_key, {"flow": {"step": 1}}, NOW)
    await store.add_messages(f"c-{user_key}", user_key, [("in", f"{user_key} private words"), ("out", "reply")], NOW)
    await store.enqueue_job("followup", {"user_key": user_key}, NOW)
    await store.audit("consent_given", NOW, user_key)
    await store.add_mood(user_key, NOW, 3, ("sad",), "a note")
    await store.add_screening(user_key, NOW, "gad7", 9, "mild", (1, 1, 1, 2, 2, 1, 1))
    await open_case(store, f"HC-{user_key}", "high", user_key)


async def test_export_holds_everything_decrypted(backend: Backend) -> None:
    store = await backend.open(FieldCipher(generate_key()))
    await fill(store, "u1")
    export = await store.export_user("u1")
    assert export["profile"] == {"name": "Sam"} and export["platform"] == "memory"
    assert export["created_at"] == NOW.isoformat() and export["consent"] == {"version": "v1", "at": NOW.isoformat()}
    assert export["conversations"] == [{"flow": {"step": 1}}]
    assert [m["text"] for m in export["messages"]] == ["u1 private words", "reply"]
    assert export["messages"][0] == {"direction": "in", "text": "u1 private words", "at": NOW.isoformat()}
    assert [a["kind"] for a in export["audit"]] == ["consent_given"]
    assert export["moods"] == [{"at": NOW.isoformat(), "score": 3, "emotions": ["sad"], "note": "a note"}]
    assert export["screenings"][0]["answers"] == [1, 1, 1, 2, 2, 1, 1]
    assert export["appointments"] == [] and export["intakes"] == []
    assert await store.export_user("nobody") == {}


_PERSONAL_TABLES = ("users", "conversations", "messages", "jobs", "audit_log", "cases", "mood_entries", "screenings",
                    "appointments", "intakes")


async def test_erase_removes_every_row_about_the_person(backend: Backend) -> None:
    from bot.flows.appointments_store import AppointmentStore
    from tests.store.test_appointments import a_slot

    store = await backend.open()
    await fill(store, "u1")
    await fill(store, "u2")
    appointments = AppointmentStore(store)
    booking = await appointments.book(booking_id="HB-1", user_key="u1", slot=a_slot(), modality="video",
                                      details={"name": "Sam"}, now=NOW, jobs=[])
    await appointments.save_intake(user_key="u1", booking_id=booking.booking_id, answers={"topic": "sleep"},
                                   now=NOW, jobs=[])
    await store.bump_counter("crisis_referral", "2026-11", "level=high")
    await store.erase_user("u1")
    assert await store.export_user("u1") == {} and await store.get_user("u1") is None
    for table in _PERSONAL_TABLES:
        assert await backend.raw(f"SELECT COUNT(*) FROM {table} WHERE user_key='u1'") == [(0,)], table
    assert await backend.raw("SELECT COUNT(*) FROM messages WHERE text LIKE '%u1 private%'") == [(0,)]
    assert (await store.export_user("u2"))["messages"][0]["text"] == "u2 private words"
    assert await store.counters("crisis_referral") == [("crisis_referral", "2026-11", "level=high", 1)]


# --- encryption at rest ------------------------------------------------------------------------------------------

async def test_every_protected_column_is_encrypted_at_rest(backend: Backend) -> None:
    from bot.flows.appointments_store import AppointmentStore
    from tests.store.test_appointments import a_slot

    store = await backend.open(FieldCipher(generate_key()))
    await fill(store, "u1")
    booking = await AppointmentStore(store).book(booking_id="HB-1", user_key="u1", slot=a_slot(), modality="video",
                                                 details={"name": "Sam"}, now=NOW, jobs=[])
    await AppointmentStore(store).save_intake(user_key="u1", booking_id=booking.booking_id,
                                              answers={"topic": "sleep"}, now=NOW, jobs=[])
    assert [m.text for m in await store.recent_messages("c-u1", 5)] == ["u1 private words", "reply"]
    for table, _, column, _ in ENCRYPTED_COLUMNS:
        values = [row[0] for row in await backend.raw(f"SELECT {column} FROM {table}")]
        assert values, f"{table}.{column} has no rows to check"
        for value in values:
            assert value.startswith("enc1:"), f"{table}.{column} is stored in clear"
            # Markers with spaces or quotes: the cipher's base64 can never contain them by chance.
            for plain in ("private words", '"name"', '"topic"', '"step"', "a note", '"sad"'):
                assert plain not in value


async def test_rotate_key_reencrypts_everything_all_or_nothing(backend: Backend) -> None:
    old_key, new_key = generate_key(), generate_key()
    store = await backend.open(FieldCipher(old_key))
    await fill(store, "u1")
    before = await backend.raw("SELECT text FROM messages ORDER BY id")
    # Rotating from the wrong current key fails and changes nothing.
    wrong = await backend.open(FieldCipher(generate_key()))
    with pytest.raises(ValueError):
        await wrong.rotate_key(FieldCipher(new_key))
    assert await backend.raw("SELECT text FROM messages ORDER BY id") == before
    changed = await store.rotate_key(FieldCipher(new_key))
    total = 0
    for table, _, column, _ in ENCRYPTED_COLUMNS:
        total += (await backend.raw(f"SELECT COUNT({column}) FROM {table}"))[0][0]
    assert changed == total
    assert await backend.raw("SELECT text FROM messages ORDER BY id") != before
    assert (await store.export_user("u1"))["messages"][0]["text"] == "u1 private words"   # uses the new key now
    reopened = await backend.open(FieldCipher(new_key))
    assert (await reopened.export_user("u1"))["profile"] == {"name": "Sam"}
    stale = await backend.open(FieldCipher(old_key))
    assert [m.text for m in await stale.recent_messages("c-u1", 1)] == ["[unreadable: wrong key]"]


async def test_rotate_key_encrypts_rows_written_before_a_key_existed(backend: Backend) -> None:
    store = await backend.open()
    await store.get_or_create_user("u1", "memory", NOW)
    await store.add_message("c1", "u1", "in", "plain before the key", NOW)
    assert await backend.raw("SELECT text FROM messages") == [("plain before the key",)]
    await store.rotate_key(FieldCipher(generate_key()))
    [(stored,)] = await backend.raw("SELECT text FROM messages")
    assert stored.startswith("enc1:")
    assert [m.text for m in await store.recent_messages("c1", 1)] == ["plain before the key"]
