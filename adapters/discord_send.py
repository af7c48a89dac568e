"""Putting Haven's outgoing items on Discord: 2,000-character parts, persistent buttons, files, and errors.

One place decides how a `Reply` becomes Discord messages, for every destination (a DM, a channel, a thread, an
interaction follow-up), and how discord.py's exceptions map to `DeliveryError`, so the adapter and the durable
jobs behind `deliver()` see one vocabulary: DMs closed, missing permission, gone, rate limited, transient.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord

from adapters.discord_views import build_view
from bot.delivery import DeliveryError
from bot.events import Attachment, Button
from bot.text import split_message

MAX_TEXT = 2000
#: Discord JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
DMS_CLOSED = 50007            # Cannot send messages to this user
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
NO_MENTIONS = discord.AllowedMentions.none()

#: Sends one message part: (content, view, file) -> None. Wraps channel.send or interaction.followup.send.
SendPart = Callable[[str, "discord.ui.View | None", "discord.File | None"], Awaitable[Any]]


def parts_for(text: str, buttons: tuple[Button, ...]) -> list[tuple[str, discord.ui.View | None]]:
    """The messages for one Reply: text split on sentence boundaries, the buttons under the last part."""
    view, left_over = build_view(buttons)
    if left_over:
        text = f"{text}\n" + "\n".join(f"• {button.label}" for button in left_over)
    chunks = split_message(text, MAX_TEXT) or ["…"]
    return [(chunk, view if index == len(chunks) - 1 else None) for index, chunk in enumerate(chunks)]


async def send_text(send: SendPart, text: str, buttons: tuple[Button, ...] = ()) -> None:
    for content, view in parts_for(text, buttons):
        await send(content, view, None)


async def send_attachment(send: SendPart, attachment: Attachment) -> None:
    file = discord.File(io.BytesIO(attachment.content), filename=attachment.filename)
    await send(attachment.caption[:MAX_TEXT], None, file)


def channel_sender(channel: discord.abc.Messageable,
                   mentions: discord.AllowedMentions = NO_MENTIONS) -> SendPart:
    async def send(content: str, view: discord.ui.View | None, file: discord.File | None) -> None:
        options: dict[str, Any] = {"allowed_mentions": mentions}
        if view is not None:
            options["view"] = view
        if file is not None:
            options["file"] = file
        await channel.send(content or None, **options)
    return send


def followup_sender(interaction: discord.Interaction[Any], ephemeral: bool) -> SendPart:
    async def send(content: str, view: discord.ui.View | None, file: discord.File | None) -> None:
        options: dict[str, Any] = {"ephemeral": ephemeral, "allowed_mentions": NO_MENTIONS}
        if view is not None:
            options["view"] = view
        if file is not None:
            options["file"] = file
        await interaction.followup.send(content or "…", **options)
    return send


def is_permission_error(exc: BaseException) -> bool:
    return isinstance(exc, discord.Forbidden) and exc.code in (MISSING_ACCESS, MISSING_PERMISSIONS)


def is_dms_closed(exc: BaseException) -> bool:
    return isinstance(exc, discord.Forbidden) and exc.code == DMS_CLOSED


def delivery_error(exc: BaseException) -> DeliveryError:
    """What a failed send means for a durable job: retrying helps only for rate limits and transient faults."""
    if is_dms_closed(exc):
        return DeliveryError("dms_closed", retryable=False)
    if isinstance(exc, discord.Forbidden):
        return DeliveryError("missing_permission", retryable=False)
    if isinstance(exc, discord.NotFound):
        return DeliveryError("channel_not_found", retryable=False)
    if isinstance(exc, discord.RateLimited):
        return DeliveryError("rate_limited", retryable=True, retry_after=exc.retry_after)
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429:
            return DeliveryError("rate_limited", retryable=True, retry_after=_retry_after(exc))
        return DeliveryError(f"http_{exc.status}", retryable=exc.status >= 500)
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, OSError)):
        return DeliveryError("network", retryable=True)
    return DeliveryError(type(exc).__name__, retryable=True)


def _retry_after(exc: discord.HTTPException) -> float | None:
    response = getattr(exc, "response", None)
    header = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(header) if header else None
    except ValueError:
        return None
