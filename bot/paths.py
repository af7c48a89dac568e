"""Where Haven finds its reviewed data (config/) and where it keeps per-user state (the data dir)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

#: The reviewed data that ships with Haven: resources, crisis lexicons, message catalogs, questionnaires.
CONFIG_DIR = Path(os.environ.get("HAVEN_CONFIG_DIR") or Path(__file__).resolve().parent.parent / "config")


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--data-dir`, else `HAVEN_HOME`, else the platform's user data dir (design.md §3). Created if absent."""
    chosen = explicit or os.environ.get("HAVEN_HOME") or platformdirs.user_data_dir("haven", appauthor=False)
    path = Path(chosen).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
