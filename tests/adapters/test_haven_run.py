"""`haven run` as operators start it: a real subprocess, config from YAML with the token from the environment,
talking to the loopback fake Bot API; it logs `event=ready adapter=telegram`, answers, and exits 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.telegram_fake import FakeTelegram

ALICE = 4242


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


async def _read_until(stream: asyncio.StreamReader, needle: bytes, seen: bytearray, timeout: float) -> None:
    async def pump() -> None:
        while needle not in seen:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"process ended before {needle!r}; stderr so far:\n{seen.decode()}")
            seen.extend(line)

    await asyncio.wait_for(pump(), timeout)


async def spawn_haven_run(fake: FakeTelegram, tmp_path: Path, extra_yaml: str = "") -> asyncio.subprocess.Process:
    """`haven run --config` as operators start it: Telegram against the fake, the token from the environment."""
    config = tmp_path / "haven.yaml"
    config.write_text(f"telegram:\n  enabled: true\n  token: ${{TELEGRAM_BOT_TOKEN}}\n  base_url: {fake.root}\n"
                      + extra_yaml, encoding="utf-8")
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": fake.token, "HAVEN_HOME": str(tmp_path / "home")}
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", "--config", str(config),
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)


async def test_haven_run_serves_telegram_and_drains_on_sigterm(fake: FakeTelegram, tmp_path: Path) -> None:
    proc = await spawn_haven_run(fake, tmp_path)
    log = bytearray()
    try:
        assert proc.stderr is not None
        await _read_until(proc.stderr, b"event=ready adapter=telegram", log, timeout=90)
        fake.push_text(ALICE, "I want to kill myself")
        reply = await fake.wait_call("sendMessage", lambda c: "Are you safe right now?" in str(c.params.get("text")),
                                     timeout=30)
        assert reply.params["chat_id"] == ALICE
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(proc.stderr.read(), 60) if proc.stderr else b""
        code = await asyncio.wait_for(proc.wait(), 60)
    log.extend(rest)
    assert code == 0, log.decode()
    text = log.decode()
    assert "event=stopping" in text
    assert fake.token not in text and "kill myself" not in text and str(ALICE) not in text
