"""Human escalation that cannot be lost: durable cases, notices, Claim/Resolve, re-notify, fallback, crashes."""

from __future__ import annotations

from pathlib import Path

from adapters.memory import MemoryAdapter, texts
from bot.config import Settings
from bot.delivery import DeliveryError, Outbox
from bot.events import ButtonPressed, ConversationKind, ConversationRef, IncomingMessage, Notify, Outgoing, Reply, UserRef
from bot.jobs import JobRunner
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from tests.conftest import make_core
from tests.clock import Clock

STAFF = ConversationRef("staff", "-100123", ConversationKind.GROUP)
BACKUP = ConversationRef("backup", "C0STAFF", ConversationKind.GROUP)
SECRET_WORDS = "I have the pills in my hand and I'm going to take them tonight"


def escalation_settings(**policy: object) -> Settings:
    return Settings.model_validate({"bot": {"staff_hours": "every day 08:00-22:00"}, "crisis": {"escalation": {
        "destinations": [{"platform": "console", "chat_id": "-100123"}, {"platform": "memory", "chat_id": "C0STAFF"}],
        "renotify_after": "5m", "max_renotify": 2, **policy}}})


class Desk:
    """A staff destination on its own platform that records notices and can be made to fail."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.notices: list[Notify] = []
        self.failures: list[DeliveryError] = []

    async def deliver(self, target: ConversationRef, item: Outgoing) -> None:
        if self.failures:
            raise self.failures.pop(0)
        assert isinstance(item, Notify)
        self.notices.append(item)


def build(store: SqliteStore, directory: ResourceDirectory, settings: Settings | None = None
          ) -> tuple[MemoryAdapter, JobRunner, Clock, Desk, MemoryAdapter]:
    clock = Clock()
    outbox = Outbox()
    core = make_core(settings or escalation_settings(), store, directory, clock=clock, outbox=outbox)
    person = MemoryAdapter(core)
    desk = Desk("console")
    backup = MemoryAdapter(core)   # the second destination, on the "memory" platform
    outbox.register(desk)
    outbox.register(backup)
    runner = JobRunner(store, clock=clock)
    core.attach_jobs(runner)
    return person, runner, clock, desk, backup


def staff_press(core_adapter: MemoryAdapter, action: str, case_id: str, chat: str = "-100123",
                platform: str = "console") -> ButtonPressed:
    return ButtonPressed(ConversationRef(platform, chat, ConversationKind.GROUP), UserRef(platform, "staff-7", "Sam"),
                         action, case_id)


async def test_high_risk_opens_a_case_and_staff_get_a_notice_without_identity(store: SqliteStore,
                                                                              directory: ResourceDirectory) -> None:
    person, runner, clock, desk, _ = build(store, directory)
    out = await person.send(SECRET_WORDS, user="alice-42")
    assert "let the support team know" in texts(out) and "every day 08:00-22:00" in texts(out)
    await runner.run_until_idle()
    [notice] = desk.notices
    assert notice.text.startswith("Haven case HC-") and "risk IMMINENT" in notice.text
    assert "pills" not in notice.text and "alice-42" not in notice.text and "dm-alice-42" not in notice.text
    assert [b.action_id for b in notice.buttons] == ["case:claim", "case:resolve"]
    entries = [e["kind"] for e in await store.audit_entries()]
    assert "escalation_opened" in entries and "escalation_notified" in entries


async def test_message_text_only_when_the_deployment_opts_in(store: SqliteStore,
                                                             directory: ResourceDirectory) -> None:
    person, runner, _, desk, _ = build(store, directory)
    await person.send(SECRET_WORDS)
    await runner.run_until_idle()
    assert all("pills" not in n.text for n in desk.notices)


async def test_claim_stops_reminders_and_tells_the_person(store: SqliteStore, directory: ResourceDirectory) -> None:
    person, runner, clock, desk, backup = build(store, directory)
    await person.send(SECRET_WORDS)
    await runner.run_until_idle()
    case_id = desk.notices[0].buttons[0].value
    replies = await person.core.handle(staff_press(person, "case:claim", case_id))
    assert any(isinstance(r, Reply) and f"Case {case_id} claimed by Sam" in r.text for r in replies)
    to_person = [r for r in replies if isinstance(r, Notify)]
    assert to_person and to_person[0].target.chat_id == "dm-user-1" and "will write to you here" in to_person[0].text
    clock.advance(minutes=30)
    await runner.run_until_idle()
    assert len(desk.notices) == 1 and not [t for t, _ in backup.delivered if t.chat_id == "C0STAFF"]
    assert (await store.get_case(case_id)).status == "claimed"
    resolved = await person.core.handle(staff_press(person, "case:resolve", case_id))
    assert "resolved by Sam" in texts(resolved)


async def test_only_staff_chats_can_claim(store: SqliteStore, directory: ResourceDirectory) -> None:
    person, runner, _, desk, _ = build(store, directory)
    await person.send(SECRET_WORDS)
    await runner.run_until_idle()
    case_id = desk.notices[0].buttons[0].value
    await person.core.handle(staff_press(person, "case:claim", case_id, chat="-999", platform="memory"))
    assert (await store.get_case(case_id)).status == "open"


async def test_unclaimed_case_is_renotified_then_falls_back(store: SqliteStore, directory: ResourceDirectory) -> None:
    person, runner, clock, desk, backup = build(store, directory)
    await person.send(SECRET_WORDS)
    await runner.run_until_idle()
    for _ in range(2):                      # max_renotify: 2 reminders at the first destination
        clock.advance(minutes=5, seconds=1)
        await runner.run_until_idle()
    assert len(desk.notices) == 3 and "still unclaimed" in desk.notices[-1].text
    clock.advance(minutes=5, seconds=1)
    await runner.run_until_idle()
    assert len(desk.notices) == 3
    [(target, notice)] = [(t, n) for t, n in backup.delivered if t.chat_id == "C0STAFF"]
    assert target.chat_id == "C0STAFF" and isinstance(notice, Notify) and notice.text.startswith("Haven case")
    kinds = [e["kind"] for e in await store.audit_entries()]
    assert "escalation_fallback" in kinds


async def test_platform_errors_are_retried_then_fall_back(store: SqliteStore, directory: ResourceDirectory) -> None:
    person, runner, clock, desk, backup = build(store, directory)
    desk.failures = [DeliveryError("502 from platform")]
    await person.send(SECRET_WORDS)
    await runner.run_until_idle()
    assert desk.notices == []
    clock.advance(seconds=6)                # backoff after the first failure
    await runner.run_until_idle()
    assert len(desk.notices) == 1
    # A permanent error (bot removed from the staff chat) falls back at once.
    person2, runner2, _, desk2, backup2 = build(store, directory)
    desk2.failures = [DeliveryError("chat not found", retryable=False)]
    await person2.send(SECRET_WORDS, user="bob")
    await runner2.run_until_idle()
    assert desk2.notices == [] and len(backup2.delivered) == 1


async def test_duplicate_update_makes_one_case(store: SqliteStore, directory: ResourceDirectory) -> None:
    person, runner, _, desk, _ = build(store, directory)
    await person.send(SECRET_WORDS, message_id="tg-77")
    await person.send(SECRET_WORDS, message_id="tg-77")
    await person.send("I want to kill myself", message_id="tg-78")   # same person, case already open
    await runner.run_until_idle()
    assert len(desk.notices) == 1
    async with store.db.execute("SELECT COUNT(*) FROM cases") as cursor:
        assert (await cursor.fetchone())[0] == 1


async def test_crash_between_accepting_and_delivering_delivers_exactly_once(tmp_path: Path,
                                                                            directory: ResourceDirectory) -> None:
    path = tmp_path / "crash.sqlite3"
    first = SqliteStore(path)
    await first.open()
    person, _, _, desk, _ = build(first, directory)
    await person.send(SECRET_WORDS)          # accepted: the case and its notice job are committed...
    await first.close()                      # ...and the process dies before the job runner ran
    assert desk.notices == []
    second = SqliteStore(path)
    await second.open()
    _, runner, clock, desk_after, _ = build(second, directory)
    await runner.run_until_idle()
    assert len(desk_after.notices) == 1
    await runner.run_until_idle()
    assert len(desk_after.notices) == 1
    await second.close()


async def test_crash_while_delivering_is_taken_over_after_the_lease(tmp_path: Path,
                                                                    directory: ResourceDirectory) -> None:
    path = tmp_path / "lease.sqlite3"
    store = SqliteStore(path)
    await store.open()
    person, runner, clock, desk, _ = build(store, directory)
    await person.send(SECRET_WORDS)
    claimed = await store.claim_jobs(clock(), lease_s=60)   # a worker took the job and died holding it
    assert len(claimed) == 1
    await runner.run_until_idle()
    assert desk.notices == []
    clock.advance(seconds=61)
    await runner.run_until_idle()
    assert len(desk.notices) == 1
    await store.close()


async def test_a_notice_sent_by_a_worker_that_died_before_marking_its_job_done_is_not_sent_again(
        tmp_path: Path, directory: ResourceDirectory) -> None:
    """The worker delivered the staff notice and died before completing the job: after the lease the job comes
    back to another worker, which sees the notice was counted and does not tell staff a second time."""
    store = SqliteStore(tmp_path / "sent.sqlite3")
    await store.open()
    person, runner, clock, desk, _ = build(store, directory)
    await person.send(SECRET_WORDS)
    dying, = await store.claim_jobs(clock(), lease_s=60)
    await person.core.escalator._notify(dying)             # delivered and counted; never completed
    assert len(desk.notices) == 1
    clock.advance(seconds=61)
    await runner.run_until_idle()
    assert len(desk.notices) == 1
    await store.close()


async def test_moderate_escalates_only_by_policy_and_with_consent(store: SqliteStore,
                                                                  directory: ResourceDirectory) -> None:
    person, runner, _, desk, _ = build(store, directory, escalation_settings(escalate_moderate=True))
    out = await person.send("I want to kill myself")
    assert "Would you like me to let someone from the support team know" in texts(out)
    await runner.run_until_idle()
    assert desk.notices == []
    await person.press("esc:yes")
    await runner.run_until_idle()
    assert len(desk.notices) == 1


async def test_talk_to_a_person_without_staff_is_honest(memory: MemoryAdapter) -> None:
    await memory.send("I want to kill myself")
    out = await memory.press("crisis:person")
    assert "isn't a team watching this chat" in texts(out) and "988" in texts(out)


async def test_staff_can_write_to_the_person_through_haven(store: SqliteStore, directory: ResourceDirectory) -> None:
    person, runner, _, desk, _ = build(store, directory)
    await person.send(SECRET_WORDS)
    await runner.run_until_idle()
    case_id = desk.notices[0].buttons[0].value
    staff_chat = ConversationRef("console", "-100123", ConversationKind.GROUP)
    out = await person.core.handle(IncomingMessage(staff_chat, UserRef("console", "staff-7", "Sam"),
                                                   f"/reply {case_id} Hi, I'm Sam from the team. I'm here.", "s1"))
    [note] = [o for o in out if isinstance(o, Notify)]
    assert note.target.chat_id == "dm-user-1" and "I'm Sam from the team" in note.text


async def test_erase_removes_the_case(store: SqliteStore, directory: ResourceDirectory) -> None:
    person, runner, _, desk, _ = build(store, directory)
    await person.send("hi")
    await person.send(SECRET_WORDS)
    await person.send("/forget")
    await person.press("forget:yes")
    async with store.db.execute("SELECT COUNT(*) FROM cases") as cursor:
        assert (await cursor.fetchone())[0] == 0
    await runner.run_until_idle()
    assert desk.notices == []
