"""Hostile traffic against the real Slack adapter (slack-bolt and slack_sdk) and a real HavenApp: signed Events API
requests with odd content, forged and missing signatures, stale and future timestamps, retries of the same
event_id, url_verification with odd challenges, interactions and slash commands with bad form encoding, bodies
that are not what they claim, and garbage Socket Mode frames. See tests/reliability/campaign.py.

`HAVEN_FUZZ_EXAMPLES` (default 300) and `HAVEN_FUZZ_SEED` as in test_fuzz_telegram.py.
"""

from __future__ import annotations

import copy
from pathlib import Path

from tests.reliability import payloads
from tests.reliability.campaign import run_slack
from tests.reliability.settings import examples, fuzz_seed


async def test_slack_survives_hostile_requests_and_frames(tmp_path: Path) -> None:
    seed = fuzz_seed()
    requests = copy.deepcopy(payloads.SLACK_REGRESSIONS) + payloads.generate(payloads.slack_requests, examples(),
                                                                             seed_value=seed)
    report = await run_slack(requests, tmp_path, seed=seed)
    assert report.sent == len(requests)
    assert report.ok, report.summary()
    assert report.answered == report.expected_answers > 0
    assert report.rejected["http_401"] > 0 and report.rejected["slack_rejected:unreadable"] > 0
