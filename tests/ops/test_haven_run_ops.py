"""`haven run` with `ops.enabled`, as operators start it: a real subprocess against the Telegram fake. /readyz and
/metrics answer over HTTP, the metrics move for a crisis message without carrying anything the person wrote or
any id, and SIGTERM drains and exits 0."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

from tests.adapters.test_haven_run import _read_until, fake, spawn_haven_run  # noqa: F401  (fake: fixture)
from tests.fakes.telegram_fake import FakeTelegram
from tests.ops.helpers import get, samples, value

ALICE = 4343
WORDS = "I want to kill myself quietlypinecone"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_haven_run_serves_ops_endpoints_and_drains_on_sigterm(fake: FakeTelegram, tmp_path: Path) -> None:
    port = free_port()
    proc = await spawn_haven_run(fake, tmp_path, f"ops:\n  enabled: true\n  port: {port}\n  drain_timeout_s: 5s\n")
    log = bytearray()
    try:
        assert proc.stderr is not None
        await _read_until(proc.stderr, f"event=ops_listening port={port}".encode(), log, timeout=90)
        await _read_until(proc.stderr, b"event=ready adapter=telegram", log, timeout=90)
        assert (await get(port, "/healthz"))[0] == 200
        status, _, body = await get(port, "/readyz")
        assert status == 200, body

        fake.push_text(ALICE, WORDS)
        await fake.wait_call("sendMessage", lambda c: "Are you safe right now?" in str(c.params.get("text")),
                             timeout=30)
        status, _, exposition = await get(port, "/metrics")
        assert status == 200
        parsed = samples(exposition)
        assert value(parsed, "haven_messages_received_total", platform="telegram", kind="message") == 1
        assert sum(value(parsed, "haven_crisis_assessments_total", level=level)
                   for level in ("moderate", "high", "imminent")) == 1
        assert value(parsed, "haven_handle_seconds_count", platform="telegram") == 1
        for secret in (str(ALICE), "quietlypinecone", "kill myself", fake.token):
            assert secret not in exposition
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(proc.stderr.read(), 60) if proc.stderr else b""
        code = await asyncio.wait_for(proc.wait(), 60)
    log.extend(rest)
    text = log.decode()
    assert code == 0, text
    assert "event=stopping" in text and "event=drained inflight=0" in text
    assert fake.token not in text and "quietlypinecone" not in text and str(ALICE) not in text
