"""Message catalogs: reviewed wording lives in config/messages/<lang>.yaml, code only picks and fills it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.paths import CONFIG_DIR

FALLBACK_LANGUAGE = "en"


class _SafeFormat(dict[str, Any]):
    """Leave an unknown {placeholder} visible rather than crash mid-crisis-reply."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@lru_cache(maxsize=32)
def _load(directory: Path, lang: str) -> dict[str, Any]:
    path = directory / f"{lang}.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a message catalog must be a mapping")
    return data


def _lookup(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


class Catalog:
    """Looks a key up in the person's language, then English. A missing English key is a bug: it raises."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory or CONFIG_DIR / "messages"

    def languages(self) -> list[str]:
        return sorted(p.stem for p in self._directory.glob("*.yaml"))

    def raw(self, key: str, lang: str | None = None) -> Any:
        for candidate in (lang or FALLBACK_LANGUAGE, FALLBACK_LANGUAGE):
            value = _lookup(_load(self._directory, candidate), key)
            if value is not None:
                return value
        raise KeyError(f"message {key!r} missing from the {FALLBACK_LANGUAGE} catalog")

    def get(self, key: str, lang: str | None = None) -> str | None:
        """Optional text (e.g. a note only some platforms have): None instead of an error when absent."""
        try:
            value = self.raw(key, lang)
        except KeyError:
            return None
        return value if isinstance(value, str) else None

    def t(self, key: str, lang: str | None = None, **values: Any) -> str:
        template = self.raw(key, lang)
        if not isinstance(template, str):
            raise KeyError(f"message {key!r} is not text")
        return template.format_map(_SafeFormat(values))

    def has_language(self, lang: str) -> bool:
        return (self._directory / f"{lang}.yaml").exists()
