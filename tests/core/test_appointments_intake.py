"""The optional intake before a first appointment: shared with the provider only after explicit consent."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from adapters.memory import buttons, texts
from bot.events import Attachment, Notify, Outgoing
from bot.privacy import FieldCipher, generate_key
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from tests.core.test_appointments_booking import MONDAY_2_MARCH, Rig, book, choose, rig, write_providers

UTC = timezone.utc
HELP = "I can't sleep before exams and my thoughts race at night"


async def answer_intake(r: Rig, booked: list[Outgoing], *, contact: int = 1, detail: str | None = "07700 900123",
                        help_text: str | None = HELP) -> list[Outgoing]:
    """Walk the intake up to the consent question (contact: 0 here, 1 phone, 2 email, 3 none)."""
    out = await choose(r, booked, "ik:start")
    assert [b.value for b in buttons(out)] == ["here", "phone", "email", "none"]
    out = await choose(r, out, "ik:contact", contact)
    if contact in (1, 2):
        out = await (r.person.send(detail) if detail else choose(r, out, "ik:skip"))
    assert "what would you like help with" in texts(out)
    return await (r.person.send(help_text) if help_text else choose(r, out, "ik:skip"))


async def test_intake_is_shared_only_after_consent_as_text_and_json(tmp_path: Path,
                                                                    directory: ResourceDirectory) -> None:
    store = SqliteStore(tmp_path / "enc.sqlite3", FieldCipher(generate_key()))
    await store.open()
    try:
        r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
        out = await answer_intake(r, await book(r))
        preview = texts(out)
        assert "This is what Sam Okafor would receive" in preview
        assert f"In their own words: {HELP}" in preview and "By phone – 07700 900123" in preview
        assert "not a diagnosis" in preview
        await r.runner.run_until_idle()
        assert len(r.desk.items) == 1          # only the booking notice: nothing shared before consent
        assert list(await store.db.execute_fetchall("SELECT COUNT(*) FROM intakes"))[0][0] == 0
        assert "shared with them" in texts(await choose(r, out, "ik:share", 0))
        await r.runner.run_until_idle()
        items = [item for _, item in r.desk.items[1:]]
        assert [type(item) for item in items] == [Notify, Attachment]
        summary, document = items
        assert isinstance(summary, Notify) and isinstance(document, Attachment)
        assert summary.text.startswith("Intake for booking HB-") and HELP in summary.text
        data = json.loads(document.content)
        assert document.mime_type == "application/json" and document.filename.endswith(".json")
        assert data["type"] == "haven.intake" and data["help_with"] == HELP
        assert data["contact_preference"] == "phone" and data["contact_detail"] == "07700 900123"
        assert data["consent"]["share_with_provider"] is True
        assert data["appointment_start"] == "2026-03-02T09:00:00+00:00"
        assert "Not a diagnosis" in data["notice"] and data["screenings"] == []
        raw = list(await store.db.execute_fetchall("SELECT answers, shared FROM intakes"))[0]
        assert raw[0].startswith("enc1:") and "exams" not in raw[0] and raw[1] == 1
        assert "exams" in (await store.export_user(r.user_key()))["intakes"][0]["answers"]
    finally:
        await store.close()


async def test_declining_shares_nothing_keeps_nothing_and_is_not_asked_again(store: SqliteStore,
                                                                            directory: ResourceDirectory,
                                                                            tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    out = await answer_intake(r, await book(r), contact=0, help_text=None)
    assert "In their own words" not in texts(out)
    assert "nothing has been shared" in texts(await choose(r, out, "ik:share", 1))
    await r.runner.run_until_idle()
    assert len(r.desk.items) == 1
    assert [tuple(row) for row in await store.db.execute_fetchall("SELECT answers, shared FROM intakes")] == [("", 0)]
    second = await book(r, slot=0)
    assert "You're booked" in texts(second) and "ik:start" not in [b.action_id for b in buttons(second)]


async def test_no_thanks_ends_it_at_once(store: SqliteStore, directory: ResourceDirectory, tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    out = await choose(r, await book(r), "ik:no")
    assert "nothing has been shared" in texts(out)
    assert "ik:start" not in [b.action_id for b in buttons(await book(r))]


async def test_screenings_are_offered_and_included_only_if_chosen(store: SqliteStore, directory: ResourceDirectory,
                                                                 tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    booked = await book(r)
    await store.add_screening(r.user_key(), datetime(2026, 2, 27, 10, 0, tzinfo=UTC), "phq9", 12, "moderate",
                              (1,) * 9)
    out = await answer_intake(r, booked)
    assert "PHQ-9" in texts(out) and "12/27" in texts(out) and "not a diagnosis" in texts(out)
    out = await choose(r, out, "ik:scr", 0)     # include them
    assert "score 12/27 (range: moderate) on 2026-02-27" in texts(out)
    await choose(r, out, "ik:share", 0)
    await r.runner.run_until_idle()
    document = [item for _, item in r.desk.items if isinstance(item, Attachment)][0]
    [entry] = json.loads(document.content)["screenings"]
    assert entry["questionnaire"] == "phq9" and entry["score"] == 12


async def test_screenings_left_out_are_not_shared(store: SqliteStore, directory: ResourceDirectory,
                                                  tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    booked = await book(r)
    await store.add_screening(r.user_key(), datetime(2026, 2, 27, 10, 0, tzinfo=UTC), "gad7", 9, "mild", (1,) * 7)
    out = await choose(r, await answer_intake(r, booked), "ik:scr", 1)
    assert "GAD-7" not in texts(out).split("would receive", 1)[1]
    await choose(r, out, "ik:share", 0)
    await r.runner.run_until_idle()
    document = [item for _, item in r.desk.items if isinstance(item, Attachment)][0]
    assert json.loads(document.content)["screenings"] == []


async def test_a_crisis_during_intake_is_answered_first_and_not_taken_as_an_answer(
        store: SqliteStore, directory: ResourceDirectory, tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    out = await choose(r, await choose(r, await book(r), "ik:start"), "ik:contact", 0)
    assert "what would you like help with" in texts(out)
    crisis = await r.person.send("I want to kill myself tonight")
    assert "Are you safe right now?" in texts(crisis)
    after = await r.person.send("I'm fine")
    assert "check once more" in texts(after)
    record = await store.load_conversation(r.person.core.ids.conversation_key("memory::dm-user-1:"), r.user_key())
    assert "help_with" not in record.state["flow"]["intake"].get("answers", {})
    assert record.state["flow"].get("pending") is None


async def test_intake_of_a_cancelled_appointment_is_not_sent(store: SqliteStore, directory: ResourceDirectory,
                                                             tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    out = await answer_intake(r, await book(r))
    await choose(r, out, "ik:share", 0)
    await choose(r, await choose(r, await r.person.send("/appointments"), "bk:cancel"), "bk:drop")
    await r.runner.run_until_idle()
    assert not [item for _, item in r.desk.items if isinstance(item, Attachment)]
    assert [n.split("\n")[0].rsplit(": ", 1)[1] for n in r.desk.notices()] == ["NEW", "CANCELLED"]


async def test_key_rotation_covers_bookings_and_intakes(tmp_path: Path, directory: ResourceDirectory) -> None:
    store = SqliteStore(tmp_path / "enc.sqlite3", FieldCipher(generate_key()))
    await store.open()
    try:
        r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
        await choose(r, await answer_intake(r, await book(r)), "ik:share", 0)
        [booking] = await r.appointments.upcoming(r.user_key(), r.clock.now)
        before = list(await store.db.execute_fetchall("SELECT details FROM appointments"))[0][0]
        await store.rotate_key(FieldCipher(generate_key()))
        after = list(await store.db.execute_fetchall("SELECT details FROM appointments"))[0][0]
        assert before != after and after.startswith("enc1:")
        reread = await r.appointments.get(booking.booking_id)
        assert reread is not None and reread.details["address"]["chat_id"] == "dm-user-1"
        assert (await r.appointments.shared_intake(booking.booking_id))["help_with"] == HELP  # type: ignore[index]
    finally:
        await store.close()
