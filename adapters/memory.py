"""An in-memory adapter: drives the core in tests and records everything it would have sent.

It is the collecting output channel design.md §6 describes: a production-shaped adapter with no platform behind
it, so core tests exercise the same code paths as real adapters.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.core import Core
from bot.events import (Button, ButtonPressed, Capabilities, ConversationKind, ConversationRef, ConversationStarted,
                        IncomingMessage, Outgoing, Reply, UserRef)


@dataclass
class MemoryAdapter:
    core: Core
    name: str = "memory"
    capabilities: Capabilities = Capabilities(ephemeral=True, buttons=True, threads=True, max_text=4000)
    delivered: list[tuple[ConversationRef, Outgoing]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def conversation(self, chat: str = "chat-1", kind: ConversationKind = ConversationKind.DIRECT) -> ConversationRef:
        return ConversationRef(self.name, chat, kind)

    def user(self, user: str = "user-1", locale: str | None = None) -> UserRef:
        return UserRef(self.name, user, locale=locale)

    async def send(self, text: str, *, user: str = "user-1", chat: str | None = None, message_id: str | None = None,
                   locale: str | None = None) -> list[Outgoing]:
        event = IncomingMessage(self.conversation(chat or f"dm-{user}"), self.user(user, locale), text,
                                message_id or f"m{next(self._ids)}")
        return await self.core.handle(event)

    async def press(self, action_id: str, *, user: str = "user-1", chat: str | None = None,
                    value: str = "") -> list[Outgoing]:
        event = ButtonPressed(self.conversation(chat or f"dm-{user}"), self.user(user), action_id, value)
        return await self.core.handle(event)

    async def start_conversation(self, *, user: str = "user-1") -> list[Outgoing]:
        return await self.core.handle(ConversationStarted(self.conversation(f"dm-{user}"), self.user(user)))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def deliver(self, target: ConversationRef, item: Outgoing) -> None:
        self.delivered.append((target, item))


def texts(items: list[Outgoing]) -> str:
    """All reply text in one string, for assertions."""
    return "\n".join(item.text for item in items if isinstance(item, Reply))


def buttons(items: list[Outgoing]) -> list[Button]:
    return [button for item in items if isinstance(item, Reply) for button in item.buttons]
