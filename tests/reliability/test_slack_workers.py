"""Slack's Events API (HTTP mode) served by two workers sharing one PostgreSQL database, as behind a load
balancer: Slack's retries of an event may reach the other worker, even while the first is still handling it,
and a person's conversation continues whichever worker takes the next event.

The real slack-bolt apps run against the loopback Slack fake; nothing is mocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.slack import SlackAdapter
from bot.app import HavenApp
from bot.config import Settings
from tests.fakes.anthropic_fake import FakeAnthropic, Slow, Text
from tests.fakes.slack_fake import FakeSlack, dm_event
from tests.pgserver import fresh_database, postgres_server  # noqa: F401  (pytest fixture)

ALICE, ALICE_DM, STAFF = "U0ALICE", "D0ALICE", "U0STAFF"
SHARED_SECRET = "slack-workers-test-pseudonym-secret-000"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = await FakeSlack().start()
    slack.add_user(ALICE, locale="en-US")
    slack.add_user(STAFF)
    slack.add_channel("C0STAFF", {STAFF})
    yield slack
    await slack.close()


@asynccontextmanager
async def two_workers(fake: FakeSlack, admin_dsn: str, tmp_path: Path,
                      **extra: Any) -> AsyncIterator[list[tuple[str, HavenApp]]]:
    """Two HavenApps with their Slack adapters in HTTP mode on one database; yields (Events API URL, app)."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(fresh_database(admin_dsn))
        settings = Settings.model_validate({
            "storage": {"url": url},
            "privacy": {"pseudonym_secret": SHARED_SECRET},
            "slack": {"enabled": True, "mode": "http", "bot_token": fake.bot_token, "app_token": fake.app_token,
                      "signing_secret": fake.signing_secret, "api_url": fake.base_url, "port": 0},
            "crisis": {"escalation": {"destinations": [{"platform": "slack", "channel": "C0STAFF"}]}},
            **extra,
        })
        urls = []
        for index in range(2):
            app = await HavenApp.create(settings, tmp_path / f"worker{index}")
            stack.push_async_callback(app.close)
            adapter = SlackAdapter(app)
            app.outbox.register(adapter)
            await adapter.start()
            stack.push_async_callback(adapter.stop)
            await stack.enter_async_context(app.running_jobs())
            urls.append((f"http://127.0.0.1:{adapter.port}/slack/events", app))
        yield urls


@pytest.fixture
async def workers(fake: FakeSlack, postgres_server: str,  # noqa: F811
                  tmp_path: Path) -> AsyncIterator[list[tuple[str, HavenApp]]]:
    async with two_workers(fake, postgres_server, tmp_path) as pair:
        yield pair


def to(channel: str) -> Callable[[Any], bool]:
    return lambda call: call.params.get("channel") == channel


async def idle(apps: list[HavenApp]) -> None:
    """Until neither worker is handling anything (bolt acknowledges before its listener runs)."""
    async with asyncio.timeout(20):
        while any(app.core.inflight for app in apps):
            await asyncio.sleep(0.01)


async def test_a_retry_on_the_other_worker_while_the_first_still_handles_it_is_answered_once(
        fake: FakeSlack, workers: list[tuple[str, HavenApp]]) -> None:
    (first, one), (second, two) = workers
    event = dm_event(ALICE, "I want to kill myself tonight")
    # The original and Slack's retry arrive together, one at each worker.
    results = await asyncio.gather(fake.send_event(first, event, event_id="EvCRISIS1"),
                                   fake.send_event(second, event, event_id="EvCRISIS1", retry_num=1))
    assert [status for status, _ in results] == [200, 200]
    await fake.wait_for("chat.postMessage", where=lambda c: to(ALICE_DM)(c) and "Are you safe" in str(c.params))
    await fake.wait_for("chat.postMessage", where=to("C0STAFF"))
    await idle([one, two])
    crisis = fake.calls_of("chat.postMessage", lambda c: to(ALICE_DM)(c) and "Are you safe" in str(c.params))
    assert len(crisis) == 1
    assert len(fake.calls_of("chat.postMessage", to("C0STAFF"))) == 1


async def test_the_conversation_continues_on_whichever_worker_takes_the_next_event(
        fake: FakeSlack, workers: list[tuple[str, HavenApp]]) -> None:
    (first, _), (second, _) = workers
    assert (await fake.send_event(first, dm_event(ALICE, "hello"), event_id="EvHELLO"))[0] == 200
    greeting = await fake.wait_for("chat.postMessage", count=1, where=to(ALICE_DM))
    assert "AI" in str(greeting[0].params)
    before = len(fake.calls_of("chat.postMessage", to(ALICE_DM)))
    # The next message goes to the other worker: it knows Alice has been told who Haven is (shared database).
    assert (await fake.send_event(second, dm_event(ALICE, "I have been stressed at work"), event_id="EvNEXT"))[0] == 200
    await fake.wait_for("chat.postMessage", count=before + 1, where=to(ALICE_DM))
    later = [str(c.params.get("text")) for c in fake.calls_of("chat.postMessage", to(ALICE_DM))[before:]]
    assert not any("not a person" in text for text in later)


async def test_a_retry_reaching_the_other_worker_mid_turn_waits_for_the_turn_and_is_not_answered_again(
        fake: FakeSlack, postgres_server: str, tmp_path: Path) -> None:  # noqa: F811
    """The per-conversation lock across workers: while worker 1 waits for Claude on Alice's message, Slack's retry
    of that message reaches worker 2. Without the lock worker 2 would take the unfinished event as abandoned and
    answer it a second time; with it, worker 2 waits for the turn to end and then sees it done."""
    async with FakeAnthropic() as claude:
        llm = {"provider": "anthropic", "api_key": "test-key", "base_url": claude.base_url, "timeout_s": 10}
        async with two_workers(fake, postgres_server, tmp_path, llm=llm) as workers:
            (first, one), (second, two) = workers
            claude.push(Text("Welcome back."))
            await fake.send_event(first, dm_event(ALICE, "hello"), event_id="EvHELLO")
            await fake.wait_for("chat.postMessage", where=lambda c: "Welcome back." in str(c.params))
            await idle([one, two])
            seen = len(claude.requests)
            claude.push(Slow(1.5, Text("That sounds like a heavy week.")), Text("A SECOND ANSWER"))
            event = dm_event(ALICE, "work has been heavy this week")
            assert (await fake.send_event(first, event, event_id="EvWORK"))[0] == 200
            await claude.wait_for_requests(seen + 1, timeout=10)      # worker 1 is mid-turn, holding the lock
            assert (await fake.send_event(second, event, event_id="EvWORK", retry_num=1))[0] == 200
            await fake.wait_for("chat.postMessage", where=lambda c: "heavy week" in str(c.params))
            await idle([one, two])
            assert not fake.calls_of("chat.postMessage", lambda c: "A SECOND ANSWER" in str(c.params))
            assert len(claude.requests) == seen + 1
