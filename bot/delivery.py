"""Delivery outside a reply: staff notices, follow-ups and reminders go out through the adapter that owns the
target's platform. Durable jobs call this; a failure raises so the job is retried (or falls back)."""

from __future__ import annotations

from typing import Protocol

from bot.events import ConversationRef, Outgoing


class DeliveryError(Exception):
    """A send failed. `retryable` is False when retrying cannot help (the person blocked the bot, a channel is
    gone, the bot lacks permission): the job then falls back or stops instead of hammering the platform."""

    def __init__(self, reason: str, *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class Deliverer(Protocol):
    name: str

    async def deliver(self, target: ConversationRef, item: Outgoing) -> None: ...


class Outbox:
    """Routes an item to the adapter for its target's platform (possibly not the platform the person is on)."""

    def __init__(self) -> None:
        self._by_platform: dict[str, Deliverer] = {}

    def register(self, adapter: Deliverer) -> None:
        self._by_platform[adapter.name] = adapter

    def platforms(self) -> frozenset[str]:
        return frozenset(self._by_platform)

    async def deliver(self, target: ConversationRef, item: Outgoing) -> None:
        adapter = self._by_platform.get(target.platform)
        if adapter is None:
            raise DeliveryError(f"no running adapter for {target.platform}", retryable=True)
        await adapter.deliver(target, item)
