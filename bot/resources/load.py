"""Read directory files and validate every entry, naming ``file:line: key.path`` on the first mistake.

Why hand-written validation instead of a schema library: the messages must point at the exact YAML line a
reviewer has to fix, and the rules are few. The YAML is composed once into nodes (for line numbers) and
constructed from the same nodes (for values), so both always agree.

Values that YAML would silently reinterpret are refused: phone numbers must be quoted strings (an unquoted
``0800`` is an octal integer in YAML 1.1), duplicate mapping keys are errors (YAML keeps the last one
quietly), and unknown entry keys are errors (a typo such as ``hour:`` must not drop the opening hours).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.resources.hours import HoursError, parse_hours
from bot.resources.model import (
    CONTACT_TYPES,
    COSTS,
    INTERNATIONAL,
    KINDS,
    TOPICS,
    Contact,
    Resource,
    ResourceError,
)

KeyPath = tuple[str | int, ...]

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)+$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_LANG_RE = re.compile(r"^[a-z]{2}$")
_AUDIENCE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIRED = ("id", "name", "country", "kind", "topics", "languages", "contacts", "hours", "cost", "source", "verified_at")
_OPTIONAL = ("region", "audience", "pair", "notes")
#: Required keys that may be written as ``null``: hours that could not be confirmed must be said so
#: explicitly (``hours: null``) rather than silently omitted.
_NULLABLE = frozenset({"hours"})


def format_keypath(path: KeyPath) -> str:
    """``("entries", 3, "contacts", 0, "value")`` -> ``entries[3].contacts[0].value``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


#: libyaml's C parser when PyYAML was built with it (the PyPI wheels are): same nodes and marks, ~10x faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlDoc:
    """A parsed YAML file: its plain value plus the line of every key path, for precise errors."""

    def __init__(self, path: Path) -> None:
        self.file = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ResourceError(self.file, 1, "(file)", f"cannot read: {exc}") from None
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            self.lines: dict[KeyPath, int] = {}
            if node is not None:
                self._index(node, ())
            self.data: Any = loader.construct_document(node) if node is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            raise ResourceError(self.file, line, "(yaml)", f"invalid YAML: {exc.problem or exc}") from None
        except yaml.YAMLError as exc:
            raise ResourceError(self.file, 1, "(yaml)", f"invalid YAML: {exc}") from None
        finally:
            loader.dispose()

    def _index(self, node: yaml.Node, path: KeyPath) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value
                if key in seen:
                    raise ResourceError(
                        self.file, key_node.start_mark.line + 1, format_keypath(path + (key,)),
                        f"duplicate key (first on line {seen[key]})",
                    )
                seen[key] = key_node.start_mark.line + 1
                self._index(value_node, path + (key,))
                self.lines[path + (key,)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._index(item, path + (i,))

    def line_of(self, path: KeyPath) -> int:
        """Line of ``path``, or of its nearest existing parent (a missing key is reported at its entry)."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def error(self, path: KeyPath, message: str) -> ResourceError:
        return ResourceError(self.file, self.line_of(path), format_keypath(path), message)


def iter_yaml_files(paths: Iterable[Path]) -> list[Path]:
    """Files given directly, plus every ``*.yaml``/``*.yml`` in given directories (sorted, so load order and
    therefore error messages are deterministic)."""
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif path.exists():
            files.append(path)
        else:
            raise ResourceError(str(path), 1, "(file)", "no such file or directory")
    return files


def load_entries(paths: Sequence[Path], *, operator: bool) -> list[Resource]:
    """Load and validate every entry of every file; entries from operator files get ``operator=True``."""
    out: list[Resource] = []
    for file in iter_yaml_files(paths):
        doc = YamlDoc(file)
        if doc.data is None:
            continue  # an empty file is allowed (e.g. a placeholder for a country being researched)
        if not isinstance(doc.data, dict) or "entries" not in doc.data:
            raise doc.error((), "top level must be a mapping with an 'entries:' list")
        extra = sorted(set(map(str, doc.data)) - {"entries"})
        if extra:
            raise doc.error((extra[0],), "unknown top-level key (only 'entries' is allowed)")
        entries = doc.data["entries"]
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise doc.error(("entries",), "must be a list of entries")
        for i, raw in enumerate(entries):
            out.append(_entry(doc, ("entries", i), raw, operator))
    return out


def _entry(doc: YamlDoc, at: KeyPath, raw: Any, operator: bool) -> Resource:
    if not isinstance(raw, dict):
        raise doc.error(at, "each entry must be a mapping")
    for key in raw:
        if key not in _REQUIRED and key not in _OPTIONAL:
            raise doc.error(at + (key,), f"unknown key (allowed: {', '.join(_REQUIRED + _OPTIONAL)})")
    for key in _REQUIRED:
        if key not in raw or (raw[key] is None and key not in _NULLABLE):
            raise doc.error(at, f"missing required key '{key}'")

    def text(key: str, *, optional: bool = False) -> str | None:
        value = raw.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise doc.error(at + (key,), "must be a non-empty quoted string")
        return value.strip()

    country = str(text("country"))
    if country != INTERNATIONAL and not _COUNTRY_RE.match(country):
        raise doc.error(at + ("country",), f"must be an upper-case ISO 3166-1 alpha-2 code or '{INTERNATIONAL}', not {country!r}")
    rid = str(text("id"))
    if not _ID_RE.match(rid):
        raise doc.error(at + ("id",), f"must be lowercase words joined by '-', not {rid!r}")
    if not rid.startswith(country.lower() + "-"):
        raise doc.error(at + ("id",), f"must start with '{country.lower()}-' (its country)")
    kind = str(text("kind"))
    if kind not in KINDS:
        raise doc.error(at + ("kind",), f"unknown kind {kind!r} (one of: {', '.join(sorted(KINDS))})")
    cost = str(text("cost"))
    if cost not in COSTS:
        raise doc.error(at + ("cost",), f"unknown cost {cost!r} (one of: {', '.join(sorted(COSTS))})")
    topics = _words(doc, at + ("topics",), raw["topics"], allowed=TOPICS)
    languages = _words(doc, at + ("languages",), raw["languages"], pattern=_LANG_RE, what="an ISO 639-1 code")
    audience = text("audience", optional=True) or "everyone"
    if not _AUDIENCE_RE.match(audience):
        raise doc.error(at + ("audience",), f"must be a lowercase word such as everyone, youth, veterans, not {audience!r}")
    try:
        hours = parse_hours(raw["hours"])
    except HoursError as exc:
        raise doc.error(at + ("hours",) + exc.subpath, exc.message) from None
    verified = raw["verified_at"]
    if isinstance(verified, str):
        try:
            verified = date.fromisoformat(verified)
        except ValueError:
            verified = None
    if not isinstance(verified, date):
        raise doc.error(at + ("verified_at",), "must be a date YYYY-MM-DD")
    return Resource(
        id=rid,
        name=str(text("name")),
        country=country,
        region=text("region", optional=True),
        kind=kind,
        topics=topics,
        languages=languages,
        contacts=_contacts(doc, at + ("contacts",), raw["contacts"]),
        hours=hours,
        cost=cost,
        audience=audience,
        pair=text("pair", optional=True),
        source=str(text("source")),
        verified_at=verified,
        notes=text("notes", optional=True),
        operator=operator,
        origin=f"{doc.file}:{doc.line_of(at)}",
    )


def _words(
    doc: YamlDoc, at: KeyPath, value: Any, *, allowed: frozenset[str] | None = None,
    pattern: re.Pattern[str] | None = None, what: str = "",
) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise doc.error(at, "must be a non-empty list")
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise doc.error(at + (i,), "must be a string")
        if allowed is not None and item not in allowed:
            raise doc.error(at + (i,), f"unknown value {item!r} (one of: {', '.join(sorted(allowed))})")
        if pattern is not None and not pattern.match(item):
            raise doc.error(at + (i,), f"must be {what}, not {item!r}")
        if item in out:
            raise doc.error(at + (i,), f"{item!r} is listed twice")
        out.append(item)
    return tuple(out)


def _contacts(doc: YamlDoc, at: KeyPath, value: Any) -> tuple[Contact, ...]:
    if not isinstance(value, list) or not value:
        raise doc.error(at, "must be a non-empty list (at least one way to reach the service)")
    out: list[Contact] = []
    for i, item in enumerate(value):
        here = at + (i,)
        if not isinstance(item, dict):
            raise doc.error(here, "must be a mapping like {type: phone, value: \"116 123\"}")
        for key in item:
            if key not in ("type", "value", "keyword"):
                raise doc.error(here + (key,), "unknown key (allowed: type, value, keyword)")
        ctype = item.get("type")
        if ctype not in CONTACT_TYPES:
            raise doc.error(here + ("type",), f"unknown contact type {ctype!r} (one of: {', '.join(sorted(CONTACT_TYPES))})")
        raw_value = item.get("value")
        if not isinstance(raw_value, str) or not raw_value.strip():
            raise doc.error(here + ("value",), "must be a non-empty quoted string (quote numbers: \"0800 1111\")")
        value_s = raw_value.strip()
        if ctype in ("phone", "sms") and not re.fullmatch(r"[+*#(]?[0-9][0-9 ().*#/-]*", value_s):
            raise doc.error(here + ("value",), f"must be digits as dialled (spaces and dashes allowed), not {value_s!r}")
        if ctype in ("web", "chat") and not value_s.startswith(("https://", "http://")):
            raise doc.error(here + ("value",), "must be a URL")
        if ctype == "email" and "@" not in value_s:
            raise doc.error(here + ("value",), "must be an e-mail address")
        keyword = item.get("keyword")
        if keyword is not None:
            if ctype != "sms":
                raise doc.error(here + ("keyword",), "only sms contacts take a keyword")
            if not isinstance(keyword, str) or not keyword.strip():
                raise doc.error(here + ("keyword",), "must be a non-empty string")
            keyword = keyword.strip()
        out.append(Contact(type=ctype, value=value_s, keyword=keyword))
    return tuple(out)
