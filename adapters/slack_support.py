"""Small pieces the Slack adapter leans on: Slack errors as DeliveryErrors, payload field checks, a locale cache.

Slack reports most failures as HTTP 200 with `{"ok": false, "error": "<code>"}` (the SDK raises SlackApiError);
rate limits are HTTP 429 with a `Retry-After` header. Which codes are worth retrying is decided here, once.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.delivery import DeliveryError

log = logging.getLogger("haven.slack")

#: The token is wrong, revoked or the app was removed: retrying cannot help and an operator must act.
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                         "no_permission", "team_access_not_granted"})
#: The target or the message itself is the problem (channel gone, bot not invited, blocks rejected).
PERMANENT_ERRORS = AUTH_ERRORS | frozenset({
    "not_in_channel", "channel_not_found", "is_archived", "user_not_found", "user_not_in_channel",
    "cannot_dm_bot", "missing_scope", "not_allowed_token_type", "restricted_action", "msg_too_long", "no_text",
    "invalid_blocks", "invalid_arguments", "user_disabled", "messages_tab_disabled", "ekm_access_denied",
    "message_not_found", "cant_update_message", "edit_window_closed", "not_found",
})


def error_code(exc: SlackApiError) -> str:
    data = getattr(exc.response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    if not code and getattr(exc.response, "status_code", 200) == 429:
        return "ratelimited"
    return str(code or "unknown_error")


def retry_after(exc: SlackApiError) -> float | None:
    headers = getattr(exc.response, "headers", None) or {}
    for key, value in dict(headers).items():
        if str(key).lower() == "retry-after":
            value = value[0] if isinstance(value, (list, tuple)) and value else value
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def report_auth_failure(code: str, which: str = "slack.bot_token") -> None:
    """Say plainly which setting to fix. Never the token itself: only the error code and the key name."""
    log.error("event=slack_auth_failed error=%s hint=check_%s", code, which)


def delivery_error(exc: SlackApiError) -> DeliveryError:
    code = error_code(exc)
    if code in AUTH_ERRORS:
        report_auth_failure(code)
    if code == "ratelimited" or getattr(exc.response, "status_code", 200) == 429:
        return DeliveryError(f"slack: {code}", retryable=True, retry_after=retry_after(exc))
    return DeliveryError(f"slack: {code}", retryable=code not in PERMANENT_ERRORS)


def text_field(payload: Any, key: str, *, max_len: int = 64) -> str | None:
    """A short string field (ids, timestamps) or None: Slack ids are short, anything else is not Slack's. Also None
    when `payload` is not an object at all (a forged or broken request can put a string where Slack nests one)."""
    value = payload.get(key) if isinstance(payload, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= max_len else None


def thread_of(message: dict[str, Any]) -> str | None:
    """The thread a message is in, if any. A thread's parent carries `thread_ts == ts`: it is not "in" one."""
    thread_ts, ts = text_field(message, "thread_ts"), text_field(message, "ts")
    return thread_ts if thread_ts and thread_ts != ts else None


class Seen:
    """Event ids already handled by the adapter itself (mentions, Home), so a Slack retry is answered once.
    Messages are deduped by the core; these events never reach it."""

    def __init__(self, size: int = 4096) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def first_time(self, event_id: str | None) -> bool:
        if not event_id:
            return True
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


class LocaleCache:
    """A person's Slack locale (`en-GB`), so the core picks their language and country's helplines.

    One `users.info` per person per `ttl_s`; a failure is cached briefly as "unknown" and never blocks a reply.
    Held in memory only: it is platform metadata, not something Haven stores.
    """

    def __init__(self, fetch: Callable[[str], Awaitable[str | None]], *, ttl_s: float = 3600.0, size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._ttl = ttl_s
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, str | None]] = OrderedDict()

    async def get(self, user_id: str) -> str | None:
        now = self._clock()
        hit = self._entries.get(user_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            locale = await self._fetch(user_id)
            expires = now + self._ttl
        except Exception:
            locale, expires = None, now + 60.0
        self._entries[user_id] = (expires, locale)
        self._entries.move_to_end(user_id)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return locale
