"""The person's profile as the wellbeing features see it: read, change, save, and where to reach them later.

The profile is one JSON document per person that the store encrypts at rest. Every change goes through `save`,
which updates both the store and the turn's copy, so a later step of the same turn (a reply in the new language,
/resources in the new country) already sees it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.events import ConversationKind, ConversationRef, Reply
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core

#: Check-ins and reminders never arrive in these local hours unless the person chooses others.
DEFAULT_QUIET = ("22:00", "08:00")
#: A question left unanswered this long no longer captures the next message (someone back a day later and
#: writing "hi" is not answering "what should I call you?").
ANSWER_WINDOW = timedelta(minutes=30)


def profile_of(turn: Turn) -> dict[str, Any]:
    return dict(turn.user.profile) if turn.user else {}


async def save(core: Core, turn: Turn, **changes: Any) -> dict[str, Any]:
    """Merge `changes` into the profile (None removes a key), store it, and refresh the turn's locale."""
    profile = profile_of(turn)
    for key, value in changes.items():
        if value is None:
            profile.pop(key, None)
        else:
            profile[key] = value
    if turn.user is not None:
        turn.user = replace(turn.user, profile=profile)
        if not turn.degraded:
            await core.store.update_user(turn.user_key, profile=profile)
    turn.lang, turn.country = core._locale(turn)
    return profile


def zone_of(profile: dict[str, Any]) -> ZoneInfo:
    """The person's IANA time zone; UTC until they choose one (never a guess that could wake them at night)."""
    try:
        return ZoneInfo(str(profile.get("timezone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def private_only(core: Core, turn: Turn) -> bool:
    """Moods, screenings and settings are personal: in a group they are offered in a direct message instead.
    Returns True (and answers) when the turn is in a group."""
    if turn.event.conversation.is_direct:
        return False
    turn.outgoing.append(Reply(core.catalog.t("settings.private_only", turn.lang), private=True))
    return True


def remember_address(turn: Turn) -> None:
    """Where durable jobs (check-ins) reach the person: kept in the encrypted conversation state, like the crisis
    follow-up's, never in a job payload."""
    if turn.state is None or not turn.event.conversation.is_direct:
        return
    ref = turn.event.conversation
    turn.state["address"] = {"platform": ref.platform, "chat_id": ref.chat_id, "kind": ref.kind.value,
                             "thread_id": ref.thread_id, "space_id": ref.space_id, "lang": turn.lang,
                             "country": turn.country}


def target_of(address: dict[str, Any]) -> ConversationRef:
    return ConversationRef(address["platform"], address["chat_id"], ConversationKind(address["kind"]),
                           address.get("thread_id"), address.get("space_id"))


async def yield_to_crisis(core: Core, turn: Turn, text: str) -> bool:
    """Inside a guided flow, a conversation in crisis state comes first: the flow steps aside and the message
    gets what it would have got without the flow (the crisis flow's follow-up, or a reply with help close).

    The core assesses every message before a flow sees it; this covers the message *after* a crisis reply, which
    would otherwise be taken as the flow's answer (a mood note, a screening answer). A question asked while the
    crisis state was already active (the person chose to record a mood then) is still answered."""
    if not core.crisis_flow.active(turn) or turn.flow().get("asked_in_crisis"):
        return False
    turn.flow().pop("pending", None)
    if not await core.crisis_flow.on_message(turn, text):
        await core.respond(turn, text)
        core.crisis_flow.keep_help_close(turn)
    return True


def expect_answer(core: Core, turn: Turn, pending: str) -> None:
    """Mark the next typed message as this flow's answer, for ANSWER_WINDOW."""
    flow = turn.flow()
    flow["pending"] = pending
    flow["asked_at"] = turn.now.isoformat()
    flow["asked_in_crisis"] = core.crisis_flow.active(turn)


def answer_expired(turn: Turn) -> bool:
    asked = turn.flow().get("asked_at")
    try:
        return asked is None or turn.now - datetime.fromisoformat(asked) > ANSWER_WINDOW
    except (TypeError, ValueError):
        return True


async def release(core: Core, turn: Turn, text: str) -> None:
    """The message was not an answer after all: end the question and let the responder answer it as usual."""
    turn.flow().pop("pending", None)
    await core.respond(turn, text)
    if core.crisis_flow.active(turn):
        core.crisis_flow.keep_help_close(turn)


def looks_like_chat(text: str, max_words: int = 3) -> bool:
    """Longer than a short answer: someone talking, not filling in a field."""
    return len(text.split()) > max_words
