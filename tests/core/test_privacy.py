"""Consent, disclosure schedules, data rights, retention, encryption at rest and key rotation, and log hygiene."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.memory import MemoryAdapter, texts
from bot.cli import main
from bot.config import Settings
from bot.events import Attachment
from bot.flows import commands
from bot.jobs import JobRunner
from bot.logs import KeyValueFormatter
from bot.privacy import FieldCipher, Pseudonymizer, generate_key, load_or_create_secret
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from tests.conftest import make_core
from tests.clock import Clock


def with_profile(*profiles: str) -> Settings:
    return Settings.model_validate({"compliance": {"profile": list(profiles)}})


def adapter_for(settings: Settings, store: SqliteStore, directory: ResourceDirectory) -> tuple[MemoryAdapter, Clock]:
    clock = Clock()
    return MemoryAdapter(make_core(settings, store, directory, clock=clock)), clock


async def test_asking_if_human_gets_an_honest_answer(memory: MemoryAdapter, store: SqliteStore) -> None:
    await memory.send("hi")
    out = await memory.send("wait, are you a real person?")
    assert "No, I'm not a human" in texts(out) and "AI" in texts(out)
    spanish = await memory.send("¿eres humano?", user="es-user", locale="es-ES")
    assert "IA" in texts(spanish) or "AI" in texts(spanish)
    kinds = [e["kind"] for e in await store.audit_entries()]
    assert kinds.count("notice_asked_if_human") == 2


async def test_changed_notice_asks_for_consent_again(memory: MemoryAdapter, monkeypatch: pytest.MonkeyPatch,
                                                     store: SqliteStore) -> None:
    await memory.send("hi")
    await memory.press("consent:yes")
    monkeypatch.setattr(commands, "CONSENT_VERSION", "2027-01-1")
    import bot.core
    monkeypatch.setattr(bot.core, "CONSENT_VERSION", "2027-01-1")
    out = await memory.send("something new")
    assert "Is it OK for me to store our conversation" in texts(out)
    user_key = memory.core.ids.user_key("memory", "user-1")
    stored = [m["text"] for m in (await store.export_user(user_key))["messages"]]
    assert "something new" not in stored


async def test_new_york_reminds_every_three_hours(store: SqliteStore, directory: ResourceDirectory) -> None:
    adapter, clock = adapter_for(with_profile("us-ny"), store, directory)
    await adapter.send("hi")
    clock.advance(hours=1)
    assert "A reminder" not in texts(await adapter.send("still here"))
    clock.advance(hours=2, minutes=1)
    assert "I'm an AI, not a person" in texts(await adapter.send("and still here"))
    clock.advance(minutes=5)
    assert "A reminder" not in texts(await adapter.send("ok"))
    assert "notice_ai_reminder" in [e["kind"] for e in await store.audit_entries()]


async def test_california_minor_gets_break_reminders_and_youth_lines_first(store: SqliteStore,
                                                                           directory: ResourceDirectory) -> None:
    adapter, clock = adapter_for(with_profile("us-ca"), store, directory)
    await adapter.send("hi, I'm 15", locale="en-GB")
    clock.advance(hours=3, minutes=1)
    assert "short break" in texts(await adapter.send("school was rough", locale="en-GB"))
    crisis = texts(await adapter.send("I want to kill myself", locale="en-GB"))
    assert crisis.index("Childline") < crisis.index("Samaritans")


async def test_gap_of_seven_days_repeats_the_notice(store: SqliteStore, directory: ResourceDirectory) -> None:
    adapter, clock = adapter_for(Settings(), store, directory)
    await adapter.send("hi")
    clock.advance(days=8)
    assert "Welcome back. A reminder: I'm Haven, an AI" in texts(await adapter.send("hello again"))


async def test_mydata_exports_everything_as_json_and_erase_then_export_is_empty(memory: MemoryAdapter,
                                                                                store: SqliteStore) -> None:
    await memory.send("hi")
    await memory.press("consent:yes")
    await memory.send("a sentence to export")
    await memory.send("/safetyplan")
    await memory.press("plan:edit")
    await memory.send("call my brother")
    out = await memory.send("/mydata")
    [attachment] = [o for o in out if isinstance(o, Attachment)]
    assert attachment.mime_type == "application/json" and attachment.filename.endswith(".json")
    data = json.loads(attachment.content)
    assert any(m["text"] == "a sentence to export" for m in data["messages"])
    assert data["profile"]["safety_plan"]["warning_signs"] == ["call my brother"]
    assert data["consent"]["version"] == commands.CONSENT_VERSION
    await memory.send("/forget")
    await memory.press("forget:yes")
    assert await store.export_user(memory.core.ids.user_key("memory", "user-1")) == {}
    # Writing again starts a new, empty record: nothing from before the erase comes back.
    [fresh] = [o for o in await memory.send("/mydata") if isinstance(o, Attachment)]
    assert json.loads(fresh.content)["messages"] == [] and b"call my brother" not in fresh.content


async def test_retention_deletes_old_message_text_only(store: SqliteStore, directory: ResourceDirectory) -> None:
    clock = Clock()
    core = make_core(Settings(), store, directory, clock=clock)
    runner = JobRunner(store, clock=clock)
    core.attach_jobs(runner)
    await store.get_or_create_user("u1", "memory", clock())
    await store.add_message("c1", "u1", "in", "old words", clock() - timedelta(days=31))
    await store.add_message("c1", "u1", "in", "new words", clock() - timedelta(days=2))
    await store.bump_counter("crisis_referral", "2026-10", "level=high")
    await core.retention.schedule()
    await runner.run_until_idle()
    assert [m.text for m in await store.recent_messages("c1", 10)] == ["new words"]
    assert await store.counters("crisis_referral")
    [next_run] = await store.pending_jobs("retention")
    assert next_run.run_at.date() == (clock() + timedelta(days=1)).date()


async def test_key_rotation_re_encrypts_everything(tmp_path: Path) -> None:
    old_key, new_key = generate_key(), generate_key()
    path = tmp_path / "r.sqlite3"
    store = SqliteStore(path, FieldCipher(old_key))
    await store.open()
    await store.get_or_create_user("u1", "memory", Clock()())
    await store.update_user("u1", profile={"safety_plan": {"coping": ["breathe"]}})
    await store.add_message("c1", "u1", "in", "secret text", Clock()())
    changed = await store.rotate_key(FieldCipher(new_key))
    assert changed >= 2
    await store.close()
    reopened = SqliteStore(path, FieldCipher(new_key))
    await reopened.open()
    assert [m.text for m in await reopened.recent_messages("c1", 5)] == ["secret text"]
    await reopened.close()
    stale = SqliteStore(path, FieldCipher(old_key))
    await stale.open()
    assert [m.text for m in await stale.recent_messages("c1", 5)] == ["[unreadable: wrong key]"]
    await stale.close()


async def test_nothing_a_person_writes_reaches_the_logs(memory: MemoryAdapter, caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "my neighbour Zebulon hurt me and I have the pills"
    await memory.send("hi", user="tg-4242424242")
    await memory.press("consent:yes", user="tg-4242424242")
    await memory.send(secret, user="tg-4242424242")
    await memory.send("are you a bot?", user="tg-4242424242")
    formatter = KeyValueFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert lines, "the scenario should log something"
    for line in lines:
        assert "Zebulon" not in line and "pills" not in line and "4242424242" not in line


def test_admin_cli_export_erase_report_protocol(tmp_path: Path) -> None:
    import asyncio

    home = tmp_path / "home"
    home.mkdir()
    ids = Pseudonymizer(load_or_create_secret(home))
    user_key = ids.user_key("telegram", "12345")

    async def seed() -> None:
        store = SqliteStore(home / "haven.sqlite3")
        await store.open()
        await store.get_or_create_user(user_key, "telegram", Clock()())
        await store.add_message("c1", user_key, "in", "exported words", Clock()())
        await store.bump_counter("crisis_referral", "2026-03", "level=high;platform=telegram")
        await store.bump_counter("crisis_referral", "2026-04", "level=moderate;platform=slack")
        await store.bump_counter("crisis_referral", "2025-04", "level=moderate;platform=slack")
        await store.close()

    asyncio.run(seed())
    runner = CliRunner()
    result = runner.invoke(main, ["export", "--data-dir", str(home), "--user", "telegram:12345"])
    assert result.exit_code == 0 and "exported words" in result.output
    result = runner.invoke(main, ["report", "--data-dir", str(home), "--year", "2026", "--json"])
    assert json.loads(result.output)["crisis_referral"] == {"high": 1, "moderate": 1}
    result = runner.invoke(main, ["erase", "--data-dir", str(home), "--user", "telegram:12345", "--yes"])
    assert result.exit_code == 0
    result = runner.invoke(main, ["export", "--data-dir", str(home), "--user", "telegram:12345"])
    assert json.loads(result.output) == {}
    result = runner.invoke(main, ["protocol"])
    assert result.exit_code == 0 and "| imminent |" in result.output and "never the person" not in result.output
    raw = sqlite3.connect(home / "haven.sqlite3").execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert raw == 0


def test_workers_sharing_a_configured_pseudonym_secret_see_the_same_person(tmp_path: Path) -> None:
    """Two workers (two data dirs) on one database: the same platform user must map to the same key in both."""
    from bot.app import pseudonym_secret
    from bot.config import Settings

    shared = Settings.model_validate({"privacy": {"pseudonym_secret": "s" * 44}})
    first, second = tmp_path / "w1", tmp_path / "w2"
    first.mkdir()
    second.mkdir()
    one = Pseudonymizer(pseudonym_secret(shared, first)).user_key("telegram", "12345")
    two = Pseudonymizer(pseudonym_secret(shared, second)).user_key("telegram", "12345")
    assert one == two
    # Without it each data dir generates its own secret, which is right for one worker and wrong for several.
    alone = Settings()
    assert (Pseudonymizer(pseudonym_secret(alone, first)).user_key("telegram", "12345")
            != Pseudonymizer(pseudonym_secret(alone, second)).user_key("telegram", "12345"))
