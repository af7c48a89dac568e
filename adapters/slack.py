"""The Slack adapter: slack-bolt's AsyncApp over Socket Mode or the Events API (HTTP), translating to core events.

What goes where (a workplace Slack is not a private space, so personal content stays in direct messages):
- `message.im` (a DM with Haven): the full conversation; threads are kept (`thread_ts` is the thread id).
- `app_mention` in a channel: assessed for risk like any message; a crisis gets the crisis reply as an ephemeral
  message (and the escalation), anything else an ephemeral nudge to continue in a DM. Nothing personal is ever
  posted in a channel.
- `/haven <sub> [args]` maps onto the core's commands (`/haven resources gb` -> "/resources gb"). It is answered
  in the person's DM (with an ephemeral pointer when typed elsewhere), or in place in a staff channel.
- `app_home_opened`: the Home tab lists support (the organisation's own services first) and short notes.
- Block Kit buttons carry the core's `action_id|value`; one action listener matches `haven:<n>`.
- Acks: bolt acknowledges before the listener runs (`process_before_response=False`), so Slack gets its answer
  well inside 3 seconds whatever the core does. Signed-request checks (bad signature, timestamp older than
  5 minutes) are bolt's `RequestVerification` middleware, on by default in HTTP mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import traceback
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_blocks as blocks
from adapters.slack_send import SlackSender
from adapters.slack_support import (AUTH_ERRORS, LocaleCache, Seen, error_code, report_auth_failure, text_field,
                                    thread_of)
from adapters.slack_texts import SlackTexts
from bot.delivery import DeliveryError
from bot.events import (ButtonPressed, Capabilities, ConversationKind, ConversationRef, IncomingMessage, Notify,
                        Outgoing, Reply, UserRef)

if TYPE_CHECKING:
    from bot.app import HavenApp

log = logging.getLogger("haven.slack")

PLATFORM = "slack"
DRAIN_TIMEOUT_S = 15.0
#: Commands people can type after `/haven`; anything else is passed on so the core can say it doesn't know it.
SUBCOMMANDS = ("resources", "safetyplan", "skills", "mood", "screen", "screenings", "ideas", "book", "appointments",
               "settings", "about", "mydata", "forget", "help", "start")
_MESSAGE_SUBTYPES = (None, "file_share", "thread_broadcast")
_MAX_INBOUND_CHARS = 100_000   # Slack caps messages at 40k; anything longer is not Slack's


class SlackStartError(RuntimeError):
    """Slack refused to start (bad token, app not configured for Socket Mode). The message names the setting."""


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def _bolt_logger() -> logging.Logger:
    """Bolt copies its base logger's level onto every logger it makes (otherwise the root's, often INFO).
    WARNING keeps its per-request chatter out; its messages never carry tokens, but can carry ids."""
    logger = logging.getLogger("slack_bolt.haven")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
    return logger


def _api_base(url: str | None) -> str:
    base = url or "https://slack.com/api/"
    return base if base.endswith("/") else base + "/"


class SlackAdapter:
    name = PLATFORM
    capabilities = Capabilities(ephemeral=True, buttons=True, threads=True, max_text=blocks.SECTION_LIMIT,
                                max_buttons=blocks.ACTIONS_PER_BLOCK)

    def __init__(self, app: HavenApp) -> None:
        self._app = app
        self._cfg = app.settings.slack
        self.client = AsyncWebClient(token=_secret(self._cfg.bot_token), base_url=_api_base(self._cfg.api_url))
        # Honour 429 Retry-After once; Slack's default handlers only retry connection errors.
        self.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
        socket = self._cfg.mode == "socket"
        self.bolt = AsyncApp(name="haven-slack", logger=_bolt_logger(), client=self.client,
                             process_before_response=False,
                             signing_secret=_secret(self._cfg.signing_secret) or "",
                             # Socket Mode envelopes arrive over the app-token socket: nothing to sign.
                             request_verification_enabled=not socket,
                             # Bolt's own "Unhandled request (...)" warning quotes parts of the payload (action
                             # ids, typed suggestion values); ours says only that it was ignored.
                             raise_error_for_unhandled_request=True)
        self.bolt.error(self._on_bolt_error)
        self.bolt.event("message")(self._on_message)
        self.bolt.event("app_mention")(self._on_mention)
        self.bolt.event("app_home_opened")(self._on_home)
        self.bolt.event("tokens_revoked")(self._on_revoked)
        self.bolt.event("app_uninstalled")(self._on_revoked)
        self.bolt.action(blocks.ACTION_PATTERN)(self._on_action)
        self.bolt.command("/haven")(self._on_command)
        self._locales = LocaleCache(self._fetch_locale)
        self._texts = SlackTexts(app)
        self._send = SlackSender(app, self.client, self._texts)
        self._seen = Seen()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.bot_user_id: str | None = None

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the bot token, then connect (Socket Mode) or listen (HTTP). Returns once serving."""
        try:
            identity = await self.client.auth_test()
        except SlackApiError as exc:
            code = error_code(exc)
            if code in AUTH_ERRORS:
                report_auth_failure(code)
            raise SlackStartError(f"Slack rejected slack.bot_token ({code})") from None
        self.bot_user_id = identity.get("user_id")
        if self._cfg.mode == "socket":
            await self._start_socket()
        else:
            await self._start_http()

    async def _start_socket(self) -> None:
        handler = AsyncSocketModeHandler(self.bolt, app_token=_secret(self._cfg.app_token), web_client=self.client)
        try:
            # Ask for the socket URL ourselves so a bad app token fails now, loudly, instead of the SDK's
            # reconnect loop retrying it forever.
            handler.client.wss_uri = await handler.client.issue_new_wss_url()
        except SlackApiError as exc:
            code = error_code(exc)
            report_auth_failure(code, "slack.app_token")
            await handler.client.close()
            raise SlackStartError(f"Slack refused Socket Mode for slack.app_token ({code})") from None
        await handler.connect_async()
        self._socket = handler
        log.info("event=slack_connected mode=socket")

    async def _start_http(self) -> None:
        server = AsyncSlackAppServer(port=self._cfg.port, path=self._cfg.path, app=self.bolt, host=self._cfg.listen)
        server.web_app.middlewares.append(_refuse_unreadable)
        runner = web.AppRunner(server.web_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self._cfg.listen, self._cfg.port).start()
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        log.info("event=slack_listening mode=http port=%s", self.port)

    @property
    def ready(self) -> bool:
        """Socket Mode connected, or the HTTP endpoint listening (read by /readyz); false once stopping."""
        if self._runner is not None:
            return True
        client = self._socket.client if self._socket is not None else None
        session = getattr(client, "current_session", None)
        return client is not None and not client.closed and session is not None and not session.closed

    async def stop_receiving(self) -> None:
        """Stop taking events (Slack redelivers what was not acked); handlers in flight carry on."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def stop(self) -> None:
        """Stop taking events, finish what is in flight, then close."""
        await self.stop_receiving()
        try:
            await asyncio.wait_for(self.idle(), DRAIN_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("event=slack_drain_timeout pending=%d", len(self._inflight))
        log.info("event=slack_stopped")

    async def idle(self) -> None:
        """Return once no event handler is in flight (used by stop() to drain, and by tests)."""
        while True:
            pending = {t for t in self._inflight if not t.done() and t is not asyncio.current_task()}
            if not pending:
                return
            await asyncio.wait(pending)

    @contextlib.asynccontextmanager
    async def _tracked(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            yield
        except SlackApiError as exc:
            code = error_code(exc)
            if code in AUTH_ERRORS:
                report_auth_failure(code)
            log.warning("event=slack_send_failed error=%s", code)
        except DeliveryError as exc:
            log.warning("event=slack_send_failed error=%s", exc.reason)
        except Exception:
            # Logged here rather than by bolt, whose message would quote the exception text (which can quote
            # the payload); our formatter keeps only the exception type and where it happened.
            log.exception("event=slack_handler_failed")
        finally:
            if task is not None:
                self._inflight.discard(task)

    # --- inbound ---------------------------------------------------------------------------------------------

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """A direct message to Haven. Edits, deletions, bot posts and channel messages are not conversation."""
        if event.get("channel_type") != "im" or event.get("subtype") not in _MESSAGE_SUBTYPES \
                or event.get("bot_id"):
            log.info("event=slack_ignored kind=message")
            return
        user, channel, text = text_field(event, "user"), text_field(event, "channel"), event.get("text", "")
        if user is None or channel is None or not isinstance(text, str) or len(text) > _MAX_INBOUND_CHARS:
            log.warning("event=slack_rejected kind=message reason=bad_fields")
            return
        event_id = text_field(body, "event_id") or _fallback_id(channel, event.get("ts"))
        conversation = ConversationRef(PLATFORM, channel, ConversationKind.DIRECT, thread_id=thread_of(event))
        async with self._tracked():
            sender = await self._sender(user)
            items = await self._app.core.handle(IncomingMessage(conversation, sender, text, event_id))
            await self._send.render(conversation, sender, items)

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """A mention in a channel: a private nudge to continue in a DM. Nothing personal goes into the channel."""
        user, channel = text_field(event, "user"), text_field(event, "channel")
        if user is None or channel is None:
            log.warning("event=slack_rejected kind=app_mention reason=bad_fields")
            return
        if not self._seen.first_time(text_field(body, "event_id")):
            return
        async with self._tracked():
            # The mention is still assessed for risk (safety first): a crisis gets the crisis reply privately
            # (ephemeral) and the escalation; anything else gets only the nudge to a DM.
            conversation = ConversationRef(PLATFORM, channel, ConversationKind.GROUP, thread_id=f"member:{user}")
            incoming = IncomingMessage(conversation, UserRef(PLATFORM, user), text_field(event, "text") or "",
                                       f"mention:{text_field(body, 'event_id') or uuid.uuid4()}")
            items = await self._app.core.handle(incoming)
            for item in items:
                if isinstance(item, Notify):
                    await self._app.outbox.deliver(item.target, item)
            crisis = next((item for item in items if isinstance(item, Reply)
                           and any(b.action_id.startswith("crisis:") for b in item.buttons)), None)
            if crisis is not None:
                await self._send.post_ephemeral(channel, user, crisis.text, crisis.buttons, thread_ts=thread_of(event))
                log.info("event=slack_mention_crisis_private")
                return
            text = self._texts.mention_nudge(await self._locales.get(user))
            await self._send.post_ephemeral(channel, user, text, thread_ts=thread_of(event))
            log.info("event=slack_mention_nudged")

    async def _on_home(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        user = text_field(event, "user")
        if user is None:
            log.warning("event=slack_rejected kind=app_home_opened reason=bad_fields")
            return
        async with self._tracked():
            title, sections = self._texts.home(await self._locales.get(user))
            await self.client.views_publish(user_id=user, view=blocks.home_view(title, sections))
            log.info("event=slack_home_published")

    async def _on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        decoded = blocks.decode_value(action.get("value"))
        user = text_field(body.get("user"), "id")
        container = body.get("container") if isinstance(body.get("container"), dict) else {}
        channel = text_field(body.get("channel"), "id") or text_field(container, "channel_id")
        if decoded is None or user is None or channel is None:
            log.warning("event=slack_rejected kind=block_actions reason=bad_fields")
            return
        message = body.get("message") if isinstance(body.get("message"), dict) else {}
        kind = ConversationKind.DIRECT if channel.startswith("D") else ConversationKind.GROUP
        conversation = ConversationRef(PLATFORM, channel, kind, thread_id=thread_of(message))
        async with self._tracked():
            if kind is ConversationKind.DIRECT and text_field(message, "ts") and not container.get("is_ephemeral"):
                # One press per question: swap the buttons for a note of the choice. Staff messages keep theirs
                # (Claim, then Resolve).
                label = str(text_field(action.get("text"), "text", max_len=10_000) or "")[:blocks.LABEL_LIMIT]
                await self.client.chat_update(
                    channel=channel, ts=message["ts"], text=str(message.get("text") or label),
                    blocks=blocks.chosen_blocks(list(message.get("blocks") or []),
                                                self._texts.t("slack_button_chosen", label=label)))
            sender = await self._sender(user)
            action_id, value = decoded
            items = await self._app.core.handle(ButtonPressed(conversation, sender, action_id, value,
                                                              interaction_id=text_field(body, "trigger_id")))
            await self._send.render(conversation, sender, items)

    async def _on_command(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        user, channel = text_field(body, "user_id"), text_field(body, "channel_id")
        raw = body.get("text", "")
        if user is None or channel is None or not isinstance(raw, str) or len(raw) > 4000:
            log.warning("event=slack_rejected kind=command reason=bad_fields")
            return
        sub, _, rest = raw.strip().partition(" ")
        sub = (sub.lower() or "help")[:32]
        text = f"/{sub} {rest.strip()}".strip()
        message_id = text_field(body, "trigger_id", max_len=128) or f"cmd:{uuid.uuid4().hex}"
        async with self._tracked():
            sender = await self._sender(user)
            if self._is_staff_channel(channel):
                conversation = ConversationRef(PLATFORM, channel, ConversationKind.GROUP)
            else:
                opened = await self.client.conversations_open(users=user)
                dm = text_field(opened.get("channel") or {}, "id")
                if dm is None:
                    log.warning("event=slack_rejected kind=command reason=no_dm")
                    return
                conversation = ConversationRef(PLATFORM, dm, ConversationKind.DIRECT)
                if dm != channel:
                    await respond(text=self._texts.t("slack_answered_in_dm"), response_type="ephemeral")
            log.info("event=slack_command name=%s", sub if sub in SUBCOMMANDS else "other")
            items = await self._app.core.handle(IncomingMessage(conversation, sender, text, message_id))
            await self._send.render(conversation, sender, items)

    async def _on_bolt_error(self, error: Exception) -> None:
        """Bolt's global error handler. Its default one logs the exception's text, which can quote the payload;
        ours logs the kind of failure, and for our own bugs the exception's type and place (not its message)."""
        if isinstance(error, BoltUnhandledRequestError):
            log.info("event=slack_ignored kind=unhandled")
            return
        if not _raised_in_haven(error):
            # Bolt itself could not make sense of a request (a field of the wrong type where it looks for ids):
            # a malformed payload, refused, not a failure of Haven's.
            log.warning("event=slack_rejected kind=payload reason=malformed exc=%s", type(error).__name__)
            return
        log.error("event=slack_handler_failed exc=%s", type(error).__name__, exc_info=error)

    async def _on_revoked(self, event: dict[str, Any]) -> None:
        report_auth_failure(str(event.get("type", "tokens_revoked")))

    # --- outbound and helpers -------------------------------------------------------------------------------

    async def deliver(self, target: ConversationRef, item: Outgoing) -> None:
        """Staff notices and follow-ups. Raises DeliveryError (retryable or not) so the job can decide."""
        await self._send.deliver(target, item)

    async def _sender(self, user_id: str) -> UserRef:
        return UserRef(PLATFORM, user_id, locale=await self._locales.get(user_id))

    async def _fetch_locale(self, user_id: str) -> str | None:
        try:
            response = await self.client.users_info(user=user_id, include_locale=True)
        except SlackApiError as exc:
            log.warning("event=slack_users_info_failed error=%s", error_code(exc))
            raise
        locale = (response.get("user") or {}).get("locale")
        return locale if isinstance(locale, str) and len(locale) <= 16 else None

    def _is_staff_channel(self, channel: str) -> bool:
        return any(d.platform == PLATFORM and d.target == channel
                   for d in self._app.settings.crisis.escalation.destinations)


def _raised_in_haven(error: BaseException) -> bool:
    frames = traceback.walk_tb(error.__traceback__)
    return any(str(frame.f_globals.get("__name__", "")).startswith(("adapters.", "bot.")) for frame, _ in frames)


@web.middleware
async def _refuse_unreadable(request: web.Request, handler: Any) -> web.StreamResponse:
    """Bolt reads and parses the body before it checks the signature, so a body that is not UTF-8 or not the JSON
    or form its content type claims raised inside bolt's aiohttp handler: a 500 and an ERROR with a traceback for
    anyone who can reach the port. Such a request is answered 400 with a one-line warning instead."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:   # noqa: BLE001 - whatever the body was, it was not a Slack request
        log.warning("event=slack_rejected kind=http reason=unreadable exc=%s", type(exc).__name__)
        return web.Response(status=400)


def _fallback_id(channel: str, ts: object) -> str:
    """A dedupe id when Slack sent no `event_id`: the message's own (channel, ts), hashed because the core
    stores dedupe ids and a DM channel id points at a person."""
    return "msg:" + hashlib.sha256(f"{channel}:{ts}".encode()).hexdigest()[:32]
