"""Hostile gateway traffic against the real Discord adapter (discord.py 2.x over the fake's websocket) and a real
HavenApp: MESSAGE_CREATE and INTERACTION_CREATE with wrong types, missing fields and huge content, unknown event
names and opcodes, replayed sequence numbers and events, button presses with forged custom_ids on live and on
expired interactions. See tests/reliability/campaign.py.

`HAVEN_FUZZ_EXAMPLES` (default 300) and `HAVEN_FUZZ_SEED` as in test_fuzz_telegram.py.
"""

from __future__ import annotations

import copy
from pathlib import Path

from tests.reliability import payloads
from tests.reliability.campaign import run_discord
from tests.reliability.settings import examples, fuzz_seed


async def test_discord_survives_hostile_gateway_traffic(tmp_path: Path) -> None:
    seed = fuzz_seed()
    frames = copy.deepcopy(payloads.DISCORD_REGRESSIONS) + payloads.generate(payloads.discord_frames, examples(),
                                                                             seed_value=seed)
    report = await run_discord(frames, tmp_path, seed=seed)
    assert report.sent == len(frames)
    assert report.ok, report.summary()
    assert report.answered == report.expected_answers > 0
    assert report.rejected["rejected:bad_payload"] > 0
