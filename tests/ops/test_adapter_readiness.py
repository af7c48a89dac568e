"""Each platform adapter's `ready` (read by /readyz): true once connected and serving, false as soon as shutdown
stops it taking updates, and after stop. Real client libraries against the loopback fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.discord_bot import DiscordAdapter
from adapters.slack import SlackAdapter
from bot.app import HavenApp
from bot.config import Settings
from bot.resources import ResourceDirectory
from tests.fakes.discord_fake import FakeDiscord
from tests.fakes.slack_fake import FakeSlack


@pytest.fixture(autouse=True)
def _directory_loaded_once(directory: ResourceDirectory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.app.load_directory", lambda settings: directory)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.close()


async def ready_only_while_serving(settings: Settings, adapter_class: type, tmp_path: Path) -> None:
    """Not ready before start, ready once serving, not ready once it stops taking updates, nor after stop."""
    app = await HavenApp.create(settings, tmp_path / "data")
    adapter = adapter_class(app)
    try:
        assert not adapter.ready
        await adapter.start()
        assert adapter.ready
        await adapter.stop_receiving()
        assert not adapter.ready
    finally:
        await adapter.stop()
        await app.close()
    assert not adapter.ready


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_slack_is_ready_while_connected(slack: FakeSlack, tmp_path: Path, mode: str) -> None:
    settings = Settings.model_validate({"slack": {
        "enabled": True, "mode": mode, "bot_token": slack.bot_token, "app_token": slack.app_token,
        "signing_secret": slack.signing_secret, "api_url": slack.base_url, "port": 0}})
    await ready_only_while_serving(settings, SlackAdapter, tmp_path)


async def test_discord_is_ready_while_the_gateway_is_connected(tmp_path: Path) -> None:
    fake = FakeDiscord()
    await fake.start()
    settings = Settings.model_validate({"discord": {
        "enabled": True, "token": fake.token, "api_base": fake.api_base, "gateway_url": fake.gateway_url,
        "guild_ready_timeout": 0.02}})
    try:
        await ready_only_while_serving(settings, DiscordAdapter, tmp_path)
    finally:
        await fake.close()
