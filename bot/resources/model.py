"""The directory's value types: :class:`Contact`, :class:`Resource` and the error every loader raises.

They are frozen and slotted because one loaded directory is shared by every conversation at once and
must never be changed by one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.resources.hours import Hours

KINDS = frozenset({"crisis_line", "text_line", "chat", "warmline", "emergency", "service", "eap", "directory"})
TOPICS = frozenset(
    {
        "suicide", "self_harm", "mental_health", "youth", "lgbtq", "veterans", "domestic_violence",
        "sexual_assault", "eating_disorders", "substance_use", "grief", "general",
    }
)
CONTACT_TYPES = frozenset({"phone", "sms", "chat", "web", "email"})
COSTS = frozenset({"free", "free_from_mobile", "standard_rate", "paid", "unknown"})
INTERNATIONAL = "international"

#: Kinds a person in crisis can reach right now and talk to a human.
CRISIS_KINDS = frozenset({"crisis_line", "text_line", "chat"})
FREE_COSTS = frozenset({"free", "free_from_mobile"})

_COST_TEXT = {"free": "free", "free_from_mobile": "free from mobiles", "standard_rate": "standard rate", "paid": "charges apply"}


class ResourceError(ValueError):
    """A directory file is wrong. ``str()`` is ``FILE:LINE: key.path: message`` like ``haven check-config``,
    so an editor or CI log jumps straight to the offending line."""

    def __init__(self, file: str, line: int, keypath: str, message: str) -> None:
        self.file = file
        self.line = line
        self.keypath = keypath
        self.message = message
        super().__init__(f"{file}:{line}: {keypath}: {message}")


@dataclass(frozen=True, slots=True)
class Contact:
    """One way to reach a service. ``value`` is written as dialled inside the country (or a URL/e-mail);
    ``keyword`` is the word to text, when the service asks for one."""

    type: str
    value: str
    keyword: str | None = None

    def phrase(self) -> str:
        """How a person uses this contact, in plain words: ``call 116 123``, ``text SHOUT to 85258``."""
        if self.type == "phone":
            return f"call {self.value}"
        if self.type == "sms":
            return f"text {self.keyword} to {self.value}" if self.keyword else f"text {self.value}"
        if self.type == "chat":
            return f"chat at {self.value}"
        if self.type == "email":
            return f"email {self.value}"
        return self.value

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "value": self.value}
        if self.keyword is not None:
            data["keyword"] = self.keyword
        return data


@dataclass(frozen=True, slots=True)
class Resource:
    """A helpline or service, as reviewed in a directory file. ``origin`` is ``file:line`` for messages."""

    id: str
    name: str
    country: str
    region: str | None
    kind: str
    topics: tuple[str, ...]
    languages: tuple[str, ...]
    contacts: tuple[Contact, ...]
    hours: Hours
    cost: str
    audience: str
    pair: str | None
    source: str
    verified_at: date
    notes: str | None = None
    operator: bool = False
    origin: str = field(default="", compare=False)

    def is_open(self, at: datetime) -> bool:
        """Open at ``at`` in the service's own time zone (24/7 services always are)."""
        return self.hours.is_open(at)

    @property
    def is_international(self) -> bool:
        return self.country == INTERNATIONAL

    @property
    def is_crisis_247_free(self) -> bool:
        """A line someone in crisis can use now at no cost: the top tier of every ranking."""
        return self.kind in CRISIS_KINDS and self.hours.always and self.cost in FREE_COSTS

    def format_line(self) -> str:
        """One plain-text line for a chat message (no markdown: every adapter can show it as is).

        Shows the ways to reach a person now (phone, text; chat only when there is neither); web addresses
        and e-mail only when nothing else exists, so a crisis reply stays short.
        """
        direct = [c for c in self.contacts if c.type in ("phone", "sms")]
        if not direct:
            direct = [c for c in self.contacts if c.type == "chat"]
        if not direct:
            direct = [c for c in self.contacts if c.type == "web"] or list(self.contacts[:1])
        how = " or ".join(c.phrase() for c in direct)
        details = [self.hours.describe()] if self.kind != "directory" else []
        if self.cost in _COST_TEXT:
            details.append(_COST_TEXT[self.cost])
        suffix = f" ({', '.join(details)})" if details else ""
        return f"{self.name} — {how}{suffix}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``haven resources --json``."""
        return {
            "id": self.id,
            "name": self.name,
            "country": self.country,
            "region": self.region,
            "kind": self.kind,
            "topics": list(self.topics),
            "languages": list(self.languages),
            "contacts": [c.to_dict() for c in self.contacts],
            "hours": self.hours.spec,
            "cost": self.cost,
            "audience": self.audience,
            "pair": self.pair,
            "source": self.source,
            "verified_at": self.verified_at.isoformat(),
            "notes": self.notes,
            "operator": self.operator,
        }
