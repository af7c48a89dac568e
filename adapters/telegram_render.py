"""Sending to Telegram: text split within the limit, inline keyboards, and the Bot API's error rules.

Error policy (what the Bot API defines, mapped by PTB to exceptions):
- 429 `RetryAfter`: wait the given seconds and retry, a bounded number of times and never longer than
  `MAX_RETRY_AFTER` per wait; beyond that a retryable DeliveryError carrying `retry_after`.
- 403 `Forbidden` (the person blocked the bot, or never opened a chat with it): logged as `event=blocked`, a
  non-retryable DeliveryError; no retry, so no storm.
- 400 `BadRequest`: our request is wrong and repeating it cannot help: non-retryable. "message is too long" cannot
  happen: text is split to 4096 UTF-16 code units (how Telegram counts) before sending.
- `ChatMigrated` (a group became a supergroup): resend once to the new id and log it so the operator can update
  `telegram.staff_chat_id`.
- `TimedOut`/`NetworkError`: retried with exponential backoff, bounded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import (BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter,
                            TelegramError)

from bot.delivery import DeliveryError
from bot.events import Attachment, Button
from bot.text import split_message

log = logging.getLogger("haven.telegram")
T = TypeVar("T")

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_BYTES = 64
MAX_RETRY_AFTER = 30.0
ATTEMPTS = 4
_SLUG = re.compile(r"[^a-z0-9]+")


def split_for_telegram(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Sentence-boundary parts that Telegram accepts: at most `limit` UTF-16 code units each, none empty."""
    parts: list[str] = []
    for part in split_message(text, limit):
        size = _utf16_len(part)
        if size <= limit:
            parts.append(part)
        else:  # astral characters (emoji) count twice on Telegram: re-split this part tighter
            parts.extend(split_for_telegram(part, max(1, limit * len(part) // size - 1)))
    return [p for p in parts if p.strip()]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class ButtonCodec:
    """`action_id|value` in callback data; longer pairs get a short hashed token kept in a bounded map.

    A token does not survive a restart; a press of such a button is then answered as expired.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._long: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._capacity = capacity

    def encode(self, button: Button) -> str:
        data = f"{button.action_id}|{button.value}" if button.value else button.action_id
        if len(data.encode()) <= MAX_CALLBACK_BYTES and not data.startswith("~"):
            return data
        token = "~" + hashlib.blake2s(data.encode(), digest_size=16).hexdigest()
        self._long[token] = (button.action_id, button.value)
        self._long.move_to_end(token)
        while len(self._long) > self._capacity:
            self._long.popitem(last=False)
        return token

    def decode(self, data: str | None) -> tuple[str, str] | None:
        if not data:
            return None
        if data.startswith("~"):
            return self._long.get(data)
        action, _, value = data.partition("|")
        return (action, value) if action else None

    def keyboard(self, buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
        """One button per row: labels are sentences ("I'm safe right now") that need the width on a phone."""
        if not buttons:
            return None
        return InlineKeyboardMarkup([[InlineKeyboardButton(b.label[:64], callback_data=self.encode(b))]
                                     for b in buttons])


class TelegramSender:
    """Every outgoing Bot API call goes through `call`, which applies the error policy above."""

    def __init__(self, bot: Bot, codec: ButtonCodec, *, attempts: int = ATTEMPTS,
                 max_retry_after: float = MAX_RETRY_AFTER, backoff: float = 0.5) -> None:
        self.bot = bot
        self.codec = codec
        self.attempts = attempts
        self.max_retry_after = max_retry_after
        self.backoff = backoff

    async def send_text(self, chat_id: int, text: str, buttons: tuple[Button, ...] = (), *,
                        thread_id: int | None = None, reply_to: int | None = None) -> list[Message]:
        """Send `text` in parts; buttons go on the last part so they sit under the whole answer."""
        parts = split_for_telegram(text) or (["…"] if buttons else [])
        sent: list[Message] = []
        for index, part in enumerate(parts):
            markup = self.codec.keyboard(buttons) if index == len(parts) - 1 else None
            options: dict[str, Any] = {"reply_markup": markup, "message_thread_id": thread_id}
            if reply_to is not None and index == 0:
                options["reply_parameters"] = ReplyParameters(reply_to, allow_sending_without_reply=True)
            sent.append(await self.call("send_message", self.bot.send_message, chat_id=chat_id, text=part,
                                        **options))
        return sent

    async def send_document(self, chat_id: int, attachment: Attachment, *, thread_id: int | None = None) -> None:
        caption = split_for_telegram(attachment.caption, MAX_CAPTION)
        await self.call("send_document", self.bot.send_document, chat_id=chat_id,
                        document=InputFile(attachment.content, filename=attachment.filename),
                        caption=caption[0] if caption else None, message_thread_id=thread_id)
        for rest in caption[1:]:
            await self.send_text(chat_id, rest, thread_id=thread_id)

    async def typing(self, chat_id: int) -> bool:
        """Show "typing…". Doubles as a probe: False when the bot cannot write to that chat."""
        try:
            await self.call("send_chat_action", self.bot.send_chat_action, chat_id=chat_id,
                            action=ChatAction.TYPING, attempts=1)
        except DeliveryError:
            return False
        return True

    async def answer(self, query_id: str, text: str | None = None, *, alert: bool = False) -> None:
        """Acknowledge a button press (stops the client's spinner). A late answer is harmless: logged, dropped."""
        try:
            await self.call("answer_callback_query", self.bot.answer_callback_query, callback_query_id=query_id,
                            text=text, show_alert=alert, attempts=2)
        except DeliveryError:
            pass

    async def mark_chosen(self, message: Message, label: str) -> None:
        """Replace a one-shot keyboard with the choice made, so a decision cannot be pressed twice."""
        original = message.text or ""
        text = f"{original}\n\n✓ {label}".strip() if original else f"✓ {label}"
        if _utf16_len(text) > MAX_TEXT:
            text = original
        try:
            await self.call("edit_message_text", self.bot.edit_message_text, chat_id=message.chat_id,
                            message_id=message.message_id, text=text, reply_markup=None, attempts=2)
        except DeliveryError:
            pass

    async def call(self, what: str, method: Callable[..., Awaitable[T]], *, attempts: int | None = None,
                   **kwargs: Any) -> T:
        limit = attempts or self.attempts
        migrated = False
        for attempt in range(1, limit + 1):
            try:
                return await method(**kwargs)
            except RetryAfter as exc:
                wait = _retry_after_seconds(exc)
                if wait > self.max_retry_after or attempt == limit:
                    log.warning("event=rate_limited call=%s retry_after=%s gave_up=true", what, wait)
                    raise DeliveryError("telegram rate limit", retryable=True, retry_after=wait) from None
                log.info("event=rate_limited call=%s retry_after=%s attempt=%d", what, wait, attempt)
                await asyncio.sleep(wait)
            except Forbidden:
                log.info("event=blocked call=%s", what)
                raise DeliveryError("blocked by user or no access to the chat", retryable=False) from None
            except ChatMigrated as exc:
                if migrated or "chat_id" not in kwargs:
                    raise DeliveryError("chat migrated", retryable=False) from None
                log.warning("event=chat_migrated call=%s hint=update_telegram.staff_chat_id_if_this_is_staff", what)
                kwargs["chat_id"], migrated = exc.new_chat_id, True
            except InvalidToken:
                log.error("event=token_rejected call=%s", what)
                raise DeliveryError("telegram token rejected", retryable=False) from None
            except BadRequest as exc:
                reason = _SLUG.sub("_", exc.message.lower()).strip("_")[:60]
                log.warning("event=send_rejected call=%s reason=%s", what, reason)
                raise DeliveryError(f"telegram rejected the request: {reason}", retryable=False) from None
            except NetworkError as exc:   # includes TimedOut; BadRequest is caught above
                if attempt == limit:
                    log.warning("event=network_error call=%s exc=%s gave_up=true", what, type(exc).__name__)
                    raise DeliveryError("telegram unreachable", retryable=True) from None
                delay = min(self.backoff * 2 ** (attempt - 1), 8.0)
                log.info("event=network_error call=%s exc=%s attempt=%d", what, type(exc).__name__, attempt)
                await asyncio.sleep(delay)
            except TelegramError as exc:
                log.warning("event=send_failed call=%s exc=%s", what, type(exc).__name__)
                raise DeliveryError("telegram error", retryable=False) from None
        raise DeliveryError("telegram send failed", retryable=True)   # pragma: no cover (loop always returns)


def _retry_after_seconds(exc: RetryAfter) -> float:
    """PTB 22 warns when `retry_after` is read as an int (it becomes a timedelta later); accept both."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    return max(seconds, 0.0)
