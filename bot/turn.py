"""What one handled event knows about its person and conversation, passed to every step of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.crisis.levels import Assessment
from bot.events import IncomingEvent, Outgoing
from bot.store.base import UserRecord


@dataclass(slots=True)
class Turn:
    event: IncomingEvent
    now: datetime
    user_key: str
    conv_key: str
    lang: str
    country: str | None
    user: UserRecord | None
    #: Conversation state persisted as JSON (flows, rolling risk, responder memory). None when the store is down.
    state: dict[str, Any] | None
    assessment: Assessment | None = None
    #: The cleaned message text, kept only to be stored (after consent) at the end of the turn.
    text: str = ""
    outgoing: list[Outgoing] = field(default_factory=list)
    #: Whether the person has agreed to their message text being stored.
    consented: bool = False
    first_contact: bool = False
    #: The disclosure went out in this turn already (so /start does not repeat it).
    disclosed: bool = False
    #: Set by /forget: nothing about this person may be written after the erase.
    erased: bool = False
    #: The adapter will confirm delivery (Core.delivered): keep the reply with the event until it does.
    confirm_delivery: bool = False
    #: A handled event redelivered before its reply was confirmed: these items are sent again, nothing is redone.
    replay: list[Outgoing] | None = None

    @property
    def degraded(self) -> bool:
        """The store could not be reached: answer from memory and deterministic code only."""
        return self.state is None

    def personal(self) -> dict[str, Any] | None:
        """Where this person's risk and crisis state live: the conversation in a DM, a per-member slot in a
        group, so one member's crisis never follows another member who writes "hello" next."""
        if self.state is None:
            return None
        if self.event.conversation.is_direct:
            return self.state
        return self.state.setdefault("members", {}).setdefault(self.user_key, {})

    def flow(self) -> dict[str, Any]:
        if self.state is None:
            return {}
        return self.state.setdefault("flow", {})
