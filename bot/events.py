"""Types that cross the boundary between the core and the platform adapters.

Adapters turn platform payloads into the incoming types and render the outgoing ones; the core never sees a
platform object and never sends anything itself. Everything here is frozen so an event can be shared between
tasks without anyone changing it underneath another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path


class ConversationKind(str, Enum):
    DIRECT = "direct"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """Where a conversation happens. Replies go back to the same place; `key` orders and stores it."""

    platform: str
    chat_id: str
    kind: ConversationKind = ConversationKind.DIRECT
    thread_id: str | None = None
    space_id: str | None = None

    @property
    def key(self) -> str:
        parts = [self.platform, self.space_id or "", self.chat_id, self.thread_id or ""]
        return ":".join(parts)

    @property
    def is_direct(self) -> bool:
        return self.kind is ConversationKind.DIRECT


@dataclass(frozen=True, slots=True)
class UserRef:
    """A person on one platform. `user_id` is the platform's id and is never logged or stored in clear."""

    platform: str
    user_id: str
    display_name: str | None = None
    locale: str | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    conversation: ConversationRef
    sender: UserRef
    text: str
    message_id: str
    received_at: datetime = field(default_factory=_now)
    addressed_to_bot: bool = True


@dataclass(frozen=True, slots=True)
class ButtonPressed:
    conversation: ConversationRef
    sender: UserRef
    action_id: str
    value: str = ""
    interaction_id: str | None = None
    received_at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class ConversationStarted:
    conversation: ConversationRef
    sender: UserRef
    received_at: datetime = field(default_factory=_now)


IncomingEvent = IncomingMessage | ButtonPressed | ConversationStarted


@dataclass(frozen=True, slots=True)
class Button:
    """A choice offered to the person. `action_id` is short so it fits Telegram's 64-byte callback data."""

    label: str
    action_id: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer into the conversation the event came from. `private` asks for an only-you-can-see reply."""

    text: str
    buttons: tuple[Button, ...] = ()
    private: bool = False


@dataclass(frozen=True, slots=True)
class Notify:
    """A message to another place, such as a staff channel, possibly on another platform."""

    target: ConversationRef
    text: str
    buttons: tuple[Button, ...] = ()
    #: A group to alert with the notice (a Discord role id); the adapter renders it its own way.
    mention: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file for the person: a PNG chart, an .ics invitation, a JSON export."""

    filename: str
    content: bytes
    mime_type: str
    caption: str = ""
    path: Path | None = None


Outgoing = Reply | Notify | Attachment


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform can render; the adapter degrades anything beyond it (buttons become numbered text)."""

    ephemeral: bool = False
    buttons: bool = True
    threads: bool = False
    max_text: int = 4000
    max_buttons: int = 8
