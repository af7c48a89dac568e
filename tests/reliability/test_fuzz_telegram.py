"""Hostile webhook traffic against the real Telegram adapter (python-telegram-bot 22 parsing, Haven's webhook
endpoint and handler) and a real HavenApp: forged secrets, non-JSON bodies, wrong types, unknown update kinds,
forged button data, odd unicode and redelivered updates. See tests/reliability/campaign.py for what is judged.

`HAVEN_FUZZ_EXAMPLES` (default 300) sets how many payloads; `HAVEN_FUZZ_SEED` makes a run reproducible (the
report names the seed it used). bench/fuzz.py runs the same campaign with 10,000.
"""

from __future__ import annotations

import copy
from pathlib import Path

from tests.reliability import payloads
from tests.reliability.campaign import run_telegram
from tests.reliability.settings import examples, fuzz_seed


async def test_telegram_survives_hostile_webhook_traffic(tmp_path: Path) -> None:
    seed = fuzz_seed()
    posts = copy.deepcopy(payloads.TELEGRAM_REGRESSIONS) + payloads.generate(payloads.telegram_posts, examples(),
                                                                             seed_value=seed)
    report = await run_telegram(posts, tmp_path, seed=seed)
    assert report.sent == len(posts)
    assert report.ok, report.summary()
    assert report.answered == report.expected_answers > 0
    assert sum(report.rejected.values()) > 0
