"""How many payloads a fuzz test feeds, and with which seed: small and random by default in CI, fixed on demand.

`HAVEN_FUZZ_EXAMPLES` (default 300 per adapter keeps the three fuzz tests well under a minute together) and
`HAVEN_FUZZ_SEED` (default: a fresh random seed, printed in every report so a failure can be replayed).
"""

from __future__ import annotations

import os
import random

DEFAULT_EXAMPLES = 300


def examples() -> int:
    return int(os.environ.get("HAVEN_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))


def fuzz_seed() -> int:
    value = os.environ.get("HAVEN_FUZZ_SEED")
    return int(value) if value else random.SystemRandom().randrange(2**32)
