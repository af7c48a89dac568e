"""/book and /appointments through the core: buttons, time zones, the .ics, the double-booking race, staff notices.

The helpers here (providers file, rig, walking the buttons) are shared by the other test_appointments_* files.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner
from icalendar import Calendar

from adapters.memory import MemoryAdapter, buttons, texts
from bot.cli import main
from bot.config import Settings
from bot.delivery import Outbox
from bot.events import (Attachment, ButtonPressed, ConversationKind, ConversationRef, IncomingMessage, Notify,
                        Outgoing, UserRef)
from bot.flows.appointments_store import AppointmentStore, SlotTaken
from bot.flows.availability import next_slots
from bot.flows.providers import load_providers
from bot.jobs import JobRunner
from bot.privacy import FieldCipher, generate_key
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from tests.clock import Clock
from tests.conftest import make_core

UTC = timezone.utc
PROVIDERS = """\
providers:
  - id: sam
    name: "Sam Okafor"
    languages: [en, fr]
    modality: [video, phone]
    topics: [anxiety, low_mood]
    timezone: Europe/London
    slot_minutes: 50
    buffer_minutes: 10
    availability:
      mon: ["09:00-12:00"]
      tue: ["09:00-12:00"]
      wed: ["09:00-12:00"]
      thu: ["09:00-12:00"]
      fri: ["09:00-12:00"]
    notify: {platform: console, chat_id: "desk"}
"""


class Desk:
    """The providers' staff destination (platform "console"): records what staff would see."""

    name = "console"

    def __init__(self) -> None:
        self.items: list[tuple[ConversationRef, Outgoing]] = []

    async def deliver(self, target: ConversationRef, item: Outgoing) -> None:
        self.items.append((target, item))

    def notices(self) -> list[str]:
        return [item.text for _, item in self.items if isinstance(item, Notify)]


@dataclass
class Rig:
    store: SqliteStore
    clock: Clock
    person: MemoryAdapter
    desk: Desk
    runner: JobRunner
    appointments: AppointmentStore = field(init=False)

    def __post_init__(self) -> None:
        self.appointments = AppointmentStore(self.store)

    def user_key(self, user: str = "user-1") -> str:
        return self.person.core.ids.user_key("memory", user)


def write_providers(tmp_path: Path, text: str = PROVIDERS) -> Path:
    path = tmp_path / "providers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def rig(store: SqliteStore, directory: ResourceDirectory, providers: Path, now: datetime,
        **appointments: object) -> Rig:
    settings = Settings.model_validate({"appointments": {"providers": str(providers), "min_notice": "1h",
                                                         **appointments}})
    clock = Clock(now)
    outbox = Outbox()
    core = make_core(settings, store, directory, clock=clock, outbox=outbox)
    person = MemoryAdapter(core)
    desk = Desk()
    outbox.register(person)
    outbox.register(desk)
    runner = JobRunner(store, clock=clock)
    core.attach_jobs(runner)
    return Rig(store, clock, person, desk, runner)


async def choose(r: Rig, out: list[Outgoing], action: str, index: int = 0, *, user: str = "user-1",
                 display_name: str | None = None) -> list[Outgoing]:
    """Press the `index`-th offered button with this action id, as the person would."""
    offered = [b for b in buttons(out) if b.action_id == action]
    assert offered, f"no {action} button in {[b.action_id for b in buttons(out)]}"
    button = offered[index]
    if display_name is None:
        return await r.person.press(button.action_id, value=button.value, user=user)
    event = ButtonPressed(r.person.conversation(f"dm-{user}"), UserRef("memory", user, display_name),
                          button.action_id, button.value)
    return await r.person.core.handle(event)


async def reach_confirm(r: Rig, *, user: str = "user-1", slot: int = 0) -> list[Outgoing]:
    out = await r.person.send("/book", user=user)
    out = await choose(r, out, "bk:topic", user=user)
    out = await choose(r, out, "bk:lang", user=user)
    out = await choose(r, out, "bk:slot", slot, user=user)
    out = await choose(r, out, "bk:how", user=user)
    return await choose(r, out, "bk:name", len([b for b in buttons(out) if b.action_id == "bk:name"]) - 1,
                        user=user)


async def book(r: Rig, *, user: str = "user-1", slot: int = 0) -> list[Outgoing]:
    return await choose(r, await reach_confirm(r, user=user, slot=slot), "bk:ok", user=user)


def ics_of(out: list[Outgoing]) -> Calendar:
    files = [item for item in out if isinstance(item, Attachment) and item.filename.endswith(".ics")]
    assert len(files) == 1 and files[0].mime_type == "text/calendar"
    return Calendar.from_ical(files[0].content)


def event_of(calendar: Calendar):  # type: ignore[no-untyped-def]
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    return events[0]


MONDAY_2_MARCH = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)   # London on GMT, New York on EST


async def test_booking_end_to_end_gives_an_ics_with_the_start_in_utc(store: SqliteStore, directory: ResourceDirectory,
                                                                     tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    out = await r.person.send("/book")
    assert [b.value for b in buttons(out) if b.action_id == "bk:topic"] == ["anxiety", "low_mood", "*"]
    out = await choose(r, out, "bk:topic")
    assert [b.value for b in buttons(out)] == ["en", "fr"]
    out = await choose(r, out, "bk:lang")
    assert "Europe/London, the counsellor's time zone" in texts(out)
    labels = [b.label for b in buttons(out) if b.action_id == "bk:slot"]
    assert labels[:3] == ["Mon 2 Mar 09:00 – Sam Okafor", "Mon 2 Mar 10:00 – Sam Okafor",
                          "Mon 2 Mar 11:00 – Sam Okafor"]
    assert [b.action_id for b in buttons(out)][-2:] == ["bk:more", "bk:stop"]
    out = await choose(r, out, "bk:slot")
    out = await choose(r, out, "bk:how")
    assert "booking reference" in texts(out)
    out = await choose(r, out, "bk:name", 1)   # stay anonymous
    assert "Mon 2 Mar 09:00 GMT with Sam Okafor, Video call" in texts(out)
    out = await choose(r, out, "bk:ok")
    assert "You're booked: Mon 2 Mar 09:00 GMT with Sam Okafor" in texts(out)
    event = event_of(ics_of(out))
    assert event.decoded("dtstart") == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    assert event.decoded("dtend") == datetime(2026, 3, 2, 9, 50, tzinfo=UTC)
    assert str(event["uid"]).startswith("HB-")
    assert [b.action_id for b in buttons(out)] == ["ik:start", "ik:no"]   # the optional intake is offered
    await r.runner.run_until_idle()
    [(target, notice)] = r.desk.items
    assert target.chat_id == "desk" and isinstance(notice, Notify)
    assert "NEW" in notice.text and "Mon 2 Mar 09:00–09:50 (Europe/London)" in notice.text
    assert "not named" in notice.text and "user-1" not in notice.text and "dm-user-1" not in notice.text


async def test_times_are_shown_in_the_persons_own_zone_across_a_dst_week(store: SqliteStore,
                                                                        directory: ResourceDirectory,
                                                                        tmp_path: Path) -> None:
    """New York moves to daylight time on 8 March, London on 29 March: for three weeks they are 4 hours apart."""
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    await r.person.send("hi")
    await store.update_user(r.user_key(), profile={"timezone": "America/New_York"})
    out = await choose(r, await choose(r, await r.person.send("/book"), "bk:topic"), "bk:lang")
    assert "your time zone (America/New_York)" in texts(out)
    assert buttons(out)[0].label == "Mon 2 Mar 04:00 – Sam Okafor"      # 09:00 GMT = 04:00 EST
    r.clock.now = datetime(2026, 3, 16, 7, 0, tzinfo=UTC)
    out = await choose(r, await choose(r, await r.person.send("/book"), "bk:topic"), "bk:lang")
    assert buttons(out)[0].label == "Mon 16 Mar 05:00 – Sam Okafor"     # 09:00 GMT = 05:00 EDT
    out = await choose(r, await choose(r, await choose(r, out, "bk:slot"), "bk:how"), "bk:name", 1)
    assert "Mon 16 Mar 05:00 EDT" in texts(out) and "(Mon 16 Mar 09:00 GMT for them)" in texts(out)
    done = await choose(r, out, "bk:ok")
    assert event_of(ics_of(done)).decoded("dtstart") == datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


async def test_booking_is_only_in_direct_messages_and_only_when_configured(store: SqliteStore,
                                                                          directory: ResourceDirectory,
                                                                          tmp_path: Path,
                                                                          memory: MemoryAdapter) -> None:
    assert "isn't set up" in texts(await memory.send("/book"))
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    group = r.person.conversation("group-1", ConversationKind.GROUP)
    out = await r.person.core.handle(IncomingMessage(group, r.person.user(), "/book", "g1"))
    assert "direct message" in texts(out) and not buttons(out)


async def test_two_people_pressing_the_same_slot_get_one_booking(store: SqliteStore, directory: ResourceDirectory,
                                                                 tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    alice = await reach_confirm(r, user="alice")
    bob = await reach_confirm(r, user="bob")
    first, second = await asyncio.gather(choose(r, alice, "bk:ok", user="alice"),
                                         choose(r, bob, "bk:ok", user="bob"))
    outcomes = sorted([texts(first), texts(second)], key=lambda text: "You're booked" not in text)
    assert "You're booked: Mon 2 Mar 09:00" in outcomes[0]
    assert "someone booked that time a moment ago" in outcomes[1]
    loser = first if "moment ago" in texts(first) else second
    offered = [b.label for b in buttons(loser) if b.action_id == "bk:slot"]
    assert offered[0] == "Mon 2 Mar 10:00 – Sam Okafor"    # the next free times, without the taken one
    rows = await store.db.execute_fetchall("SELECT COUNT(*) FROM appointments WHERE status='booked'")
    assert list(rows)[0][0] == 1


async def test_the_database_refuses_a_second_booking_of_a_slot(store: SqliteStore, tmp_path: Path) -> None:
    [provider] = load_providers(str(write_providers(tmp_path)))
    [slot] = next_slots([provider], after=MONDAY_2_MARCH, until=MONDAY_2_MARCH + timedelta(days=1), taken={},
                        limit=1)
    appointments = AppointmentStore(store)

    async def attempt(n: int) -> str:
        try:
            await appointments.book(booking_id=f"HB-{n}", user_key=f"u{n}", slot=slot, modality="video",
                                    details={}, now=MONDAY_2_MARCH, jobs=[])
        except SlotTaken:
            return "taken"
        return "booked"

    outcomes = await asyncio.gather(*(attempt(n) for n in range(4)))
    assert sorted(outcomes) == ["booked", "taken", "taken", "taken"]
    winner = f"HB-{outcomes.index('booked')}"
    assert [a.booking_id for a in await appointments.for_provider("sam", slot.start, slot.end)] == [winner]
    # The rule lives in the schema, not only in the code: a raw second insert is refused too.
    try:
        await store.db.execute("INSERT INTO appointments (booking_id, user_key, provider_id, starts_at, ends_at,"
                               " modality, status, details, created_at, updated_at) VALUES ('x', 'u', 'sam', ?, ?,"
                               " 'video', 'booked', '', '', '')", (slot.start.isoformat(), slot.end.isoformat()))
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("the unique index must refuse a second booked row for one provider and start")


async def test_reschedule_and_cancel_from_appointments(store: SqliteStore, directory: ResourceDirectory,
                                                       tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    await book(r)
    listing = await r.person.send("/appointments")
    assert "Mon 2 Mar 09:00 GMT – Sam Okafor (Video call) · HB-" in texts(listing)
    out = await choose(r, listing, "bk:move")
    assert buttons(out)[0].label == "Mon 2 Mar 10:00 – Sam Okafor"      # its own slot is not offered
    out = await choose(r, await choose(r, out, "bk:slot", 1), "bk:ok")
    assert "now Mon 2 Mar 11:00 GMT" in texts(out)
    event = event_of(ics_of(out))
    assert event.decoded("dtstart") == datetime(2026, 3, 2, 11, 0, tzinfo=UTC) and int(event["sequence"]) == 1
    out = await choose(r, await r.person.send("/appointments"), "bk:cancel")
    assert "Cancel your appointment with Sam Okafor on Mon 2 Mar 11:00 GMT?" in texts(out)
    out = await choose(r, out, "bk:drop")
    assert "is cancelled" in texts(out)
    calendar = ics_of(out)
    assert str(calendar["method"]) == "CANCEL" and str(event_of(calendar)["status"]) == "CANCELLED"
    assert "don't have any upcoming" in texts(await r.person.send("/appointments"))
    await r.runner.run_until_idle()
    notices = r.desk.notices()
    assert [n.split("\n")[0].rsplit(": ", 1)[1] for n in notices] == ["NEW", "MOVED (moved from Mon 2 Mar 09:00)",
                                                                      "CANCELLED"]
    # The freed slot can be booked again by someone else.
    out = await choose(r, await choose(r, await r.person.send("/book", user="bob"), "bk:topic", user="bob"),
                       "bk:lang", user="bob")
    assert buttons(out)[0].label == "Mon 2 Mar 09:00 – Sam Okafor"
    assert "Mon 2 Mar 11:00 – Sam Okafor" in [b.label for b in buttons(out)]


async def test_someone_elses_booking_cannot_be_changed(store: SqliteStore, directory: ResourceDirectory,
                                                       tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    await book(r)
    [mine] = await r.appointments.upcoming(r.user_key(), r.clock.now)
    out = await r.person.press("bk:drop", value=mine.booking_id, user="mallory")
    assert "expired" in texts(out)
    assert (await r.appointments.get(mine.booking_id)).status == "booked"   # type: ignore[union-attr]


async def test_a_name_is_shared_only_when_chosen_and_encrypted_at_rest(tmp_path: Path,
                                                                      directory: ResourceDirectory) -> None:
    store = SqliteStore(tmp_path / "enc.sqlite3", FieldCipher(generate_key()))
    await store.open()
    try:
        r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
        out = await r.person.send("/book")
        for action in ("bk:topic", "bk:lang", "bk:slot", "bk:how"):
            out = await choose(r, out, action, display_name="Robin Q")
        assert [b.label for b in buttons(out)] == ["Share my name as Robin Q", "Type a name to share", "Stay anonymous"]
        out = await choose(r, out, "bk:name", 0, display_name="Robin Q")
        assert "They will see the name Robin Q." in texts(out)
        await choose(r, out, "bk:ok")
        await r.runner.run_until_idle()
        assert "Person: Robin Q (name shared by them)" in r.desk.notices()[0]
        raw = list(await store.db.execute_fetchall("SELECT details FROM appointments"))[0][0]
        assert raw.startswith("enc1:") and "Robin" not in raw
        exported = await store.export_user(r.user_key())
        assert exported["appointments"][0]["status"] == "booked" and "Robin Q" in exported["appointments"][0]["details"]
        await store.erase_user(r.user_key())
        assert list(await store.db.execute_fetchall("SELECT COUNT(*) FROM appointments"))[0][0] == 0
    finally:
        await store.close()


async def test_typed_name_and_stop(store: SqliteStore, directory: ResourceDirectory, tmp_path: Path) -> None:
    r = rig(store, directory, write_providers(tmp_path), MONDAY_2_MARCH)
    out = await r.person.send("/book")
    for action in ("bk:topic", "bk:lang", "bk:slot", "bk:how"):
        out = await choose(r, out, action)
    out = await choose(r, out, "bk:name", 0)   # type a name
    assert "What name" in texts(out)
    out = await r.person.send("Jo")
    assert "They will see the name Jo." in texts(out)
    assert "nothing was booked" in texts(await choose(r, out, "bk:stop"))
    assert await r.appointments.upcoming(r.user_key(), r.clock.now) == []


async def test_staff_day_listing(tmp_path: Path) -> None:
    providers = write_providers(tmp_path)
    config = tmp_path / "haven.yaml"
    config.write_text(f"appointments:\n  providers: {providers}\n", encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    store = SqliteStore(home / "haven.sqlite3")
    await store.open()
    [provider] = load_providers(str(providers))
    slots = next_slots([provider], after=MONDAY_2_MARCH, until=MONDAY_2_MARCH + timedelta(days=1), taken={}, limit=2)
    appointments = AppointmentStore(store)
    await appointments.book(booking_id="HB-AAAA0001", user_key="u1", slot=slots[0], modality="video",
                            details={"name": ""}, now=MONDAY_2_MARCH, jobs=[])
    await appointments.book(booking_id="HB-AAAA0002", user_key="u2", slot=slots[1], modality="phone",
                            details={"name": "Robin"}, now=MONDAY_2_MARCH, jobs=[])
    await store.close()
    result = await asyncio.to_thread(CliRunner().invoke, main, ["appointments", "--config", str(config), "--data-dir",
                                                                 str(home), "--provider", "sam", "--day", "2026-03-02"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Sam Okafor – Mon 02 Mar 2026 (Europe/London)",
        "09:00–09:50  HB-AAAA0001  video      not named",
        "10:00–10:50  HB-AAAA0002  phone      Robin (name shared)",
        "2 appointments."]
    unknown = CliRunner().invoke(main, ["appointments", "--config", str(config), "--data-dir", str(home),
                                        "--provider", "nobody"])
    assert unknown.exit_code == 2 and "known: sam" in unknown.output
