"""The responder contract: given what the person said and some context, propose a reply (never sent unchecked)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.events import Button


@dataclass(slots=True)
class ResponderContext:
    lang: str
    #: Whose helplines fill `{helpline}` placeholders: the person's country, not the deployment default.
    country: str | None = None
    history: list[tuple[str, str]] = field(default_factory=list)   # (role, text), oldest first
    profile: dict[str, Any] = field(default_factory=dict)
    #: Responder-owned scratch space persisted with the conversation (e.g. what was already said).
    memory: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponderReply:
    text: str
    buttons: tuple[Button, ...] = ()
    source: str = "offline"


class Responder(Protocol):
    name: str

    async def reply(self, text: str, context: ResponderContext) -> ResponderReply: ...
