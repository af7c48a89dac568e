"""Reading Telegram updates: who is writing, where, whether the bot was addressed, and malformed updates.

Pure translation helpers, kept apart from the adapter's lifecycle so each can be read on its own.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

from telegram import Message, MessageEntity, Update, User
from telegram.constants import ChatType
from telegram.request import HTTPXRequest

from bot.events import ConversationKind, ConversationRef, UserRef

log = logging.getLogger("haven.telegram")
PLATFORM = "telegram"


class SafeUpdatesRequest(HTTPXRequest):
    """The getUpdates connection, with malformed updates neutralised before PTB parses the batch.

    PTB parses a getUpdates batch as a whole: one update it cannot parse fails the batch, the offset never
    advances, and the updater re-fetches the same batch in a tight loop, logging the raw payload (message text)
    at CRITICAL each time. Replacing an unparsable update by its bare `update_id` lets the offset move past it;
    the adapter then sees an empty update and drops it with `event=update_ignored`.
    """

    def parse_json_payload(self, payload: bytes) -> dict[str, Any]:  # type: ignore[override]
        data: dict[str, Any] = HTTPXRequest.parse_json_payload(payload)
        result = data.get("result") if isinstance(data, dict) else None
        if isinstance(result, list):
            data["result"] = [u for u in (_checked(raw) for raw in result) if u is not None]
        return data


def _checked(raw: Any) -> dict[str, Any] | None:
    update_id = raw.get("update_id") if isinstance(raw, dict) else None
    if not isinstance(update_id, int):
        log.warning("event=update_rejected reason=no_update_id")
        return None
    try:
        update = Update.de_json(raw, None)
    except Exception as exc:
        log.warning("event=update_rejected reason=malformed exc=%s", type(exc).__name__)
        return {"update_id": update_id}
    if not sane(update):
        log.warning("event=update_rejected reason=malformed exc=ids")
        return {"update_id": update_id}
    return raw


def sane(update: Update) -> bool:
    """The chat and user ids are integers, as the Bot API promises; PTB does not check. An id of another type (a
    list, an object: a forged webhook call can send anything) made PTB's own bookkeeping, outside our handler,
    raise (per-chat data and error dispatch key dicts by these ids), and PTB logs the whole update, text and all,
    when building a context for it fails."""
    try:
        entities = (update.effective_chat, update.effective_user)
    except Exception:   # noqa: BLE001 - whatever a broken update does, it is not sane
        return False
    for entity in entities:
        if entity is None:
            continue
        ident = getattr(entity, "id", None)
        if not isinstance(ident, int) or isinstance(ident, bool):
            return False
    return True


def direct(chat_id: int) -> ConversationRef:
    return ConversationRef(PLATFORM, str(chat_id), ConversationKind.DIRECT)


def group(chat_id: int) -> ConversationRef:
    return ConversationRef(PLATFORM, str(chat_id), ConversationKind.GROUP)


def person(user: User) -> UserRef:
    """No display name: the core does not need it, and what is not passed cannot leak."""
    return UserRef(PLATFORM, str(user.id), None, language(user))


def staff_member(user: User) -> UserRef:
    """Staff are named in their own chat (who claimed a case); their names are theirs to show."""
    return UserRef(PLATFORM, str(user.id), user.full_name, language(user))


def language(user: User) -> str | None:
    """The user's language code if it is a short string (PTB passes the payload's value through unchecked; the
    core's locale handling raised on a number)."""
    code = user.language_code
    return code if isinstance(code, str) and len(code) <= 35 else None


def staff_chats(settings: Any) -> frozenset[int]:
    """`telegram.staff_chat_id` plus every Telegram escalation destination: where case buttons may be pressed."""
    ids: set[int] = set()
    if settings.telegram.staff_chat_id is not None:
        ids.add(int(settings.telegram.staff_chat_id))
    for destination in settings.crisis.escalation.destinations:
        if destination.platform == PLATFORM and destination.chat_id:
            with contextlib.suppress(ValueError):
                ids.add(int(destination.chat_id))
    return frozenset(ids)


def addressed(message: Message, bot_id: int, username: str) -> bool:
    """A mention of the bot, a reply to the bot, or a command (not one meant for another bot)."""
    username = username.lower()
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        return True
    entities = message.parse_entities() if message.text else message.parse_caption_entities()
    for entity, text in entities.items():
        if entity.type == MessageEntity.MENTION and text.lower() == f"@{username}":
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == bot_id:
            return True
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            _, _, target = text.partition("@")
            return not target or target.lower() == username
    return False


def strip_command(text: str, username: str | None) -> str:
    """`/help@haven_bot args` -> `/help args`: the core owns commands and knows nothing of bot names."""
    if not username or not text.startswith("/"):
        return text
    return re.sub(rf"^(/[A-Za-z0-9_]+)@{re.escape(username)}\b", r"\1", text, flags=re.IGNORECASE)


def strip_mention(text: str, username: str | None) -> str:
    """The @mention that addressed the bot is not part of what the person said."""
    if not username:
        return text
    stripped = re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]{2,}", " ", stripped).strip() or text


def button_label(message: Message, data: str | None) -> str | None:
    markup = message.reply_markup
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


#: Names we may log. An update's field names and a chat's type come from whoever sent the update (a forged webhook
#: call can put a person's words there), so anything not in the Bot API's own lists is logged as "other".
_KINDS = frozenset(str(kind) for kind in Update.ALL_TYPES)
_CHAT_TYPES = frozenset(str(kind) for kind in ChatType)


def kind(update: Update) -> str:
    return next((key for key in update.to_dict() if key != "update_id" and key in _KINDS), "other")


def chat_kind(chat_type: object) -> str:
    return str(chat_type) if chat_type in _CHAT_TYPES else "other"
