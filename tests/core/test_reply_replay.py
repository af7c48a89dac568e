"""A worker that dies after saving a turn but before its answer went out: the platform redelivers the event and
the stored answer is sent, not nothing (the event is already "done") and not a second handling of it."""

from __future__ import annotations

from bot.core import Core
from bot.events import ConversationRef, IncomingMessage, Reply, UserRef
from bot.store.base import Store

DM = ConversationRef("memory", "dm-ada")
ADA = UserRef("memory", "ada", locale="en")


def crisis(message_id: str = "m1") -> IncomingMessage:
    return IncomingMessage(DM, ADA, "I want to kill myself tonight", message_id)


async def test_an_unconfirmed_answer_is_sent_again_on_redelivery_and_not_after_confirmation(core: Core) -> None:
    first = await core.handle(crisis(), confirm_delivery=True)
    assert any("Are you safe right now?" in item.text for item in first if isinstance(item, Reply))
    # The worker died before sending: Telegram redelivers; the same answer comes back, nothing is handled again.
    again = await core.handle(crisis(), confirm_delivery=True)
    assert again == first
    await core.delivered(crisis())
    assert await core.handle(crisis(), confirm_delivery=True) == []


async def test_without_confirmation_a_redelivery_is_a_plain_duplicate(core: Core) -> None:
    assert await core.handle(crisis("m2"))
    assert await core.handle(crisis("m2")) == []


async def test_erasure_removes_answers_kept_for_redelivery(core: Core, store: Store) -> None:
    await core.handle(IncomingMessage(DM, ADA, "hello", "m3"), confirm_delivery=True)
    await core.handle(crisis("m4"), confirm_delivery=True)       # not confirmed: its answer is kept
    user_key = core.ids.user_key("memory", "ada")
    conv_key = core.ids.conversation_key(DM.key)
    assert await store.pending_reply("memory", f"{conv_key}:m4") is not None
    await store.erase_user(user_key)
    assert await store.pending_reply("memory", f"{conv_key}:m4") is None
