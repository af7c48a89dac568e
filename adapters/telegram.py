"""The Telegram adapter: python-telegram-bot 22, polling or webhook, sharing the event loop with other adapters.

Why it is shaped this way:
- Manual lifecycle (initialize, start, updater.start_polling/start_webhook), never `run_polling`, which would
  own the event loop and install signal handlers that belong to `haven run`.
- `concurrent_updates(N)` with a connection pool just above N: one slow chat never blocks another, and the
  HTTP pool stays small (a large pool makes httpcore's scheduling dominate; see platform-notes). Order within a
  chat is kept by a per-chat lock held from before the core is called until the reply is sent.
- Private chats get the full conversation. In groups the bot answers only when addressed, and then moves the
  conversation to the private chat: the group sees a short neutral note, never what the person said or what
  Haven answered. The staff chat is where escalation notices and their Claim/Resolve buttons live.
- The update id is the event id the core dedupes on, so a redelivered update is answered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from telegram import BotCommand, BotCommandScopeAllPrivateChats, CallbackQuery, Message, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from adapters import telegram_text as words
from adapters import telegram_updates as tg
from adapters.telegram_render import ButtonCodec, TelegramSender
from adapters.telegram_webhook import WebhookServer
from bot.conversation import KeyedLocks
from bot.delivery import DeliveryError
from bot.events import (Attachment, ButtonPressed, Capabilities, ConversationRef, IncomingMessage, Notify, Outgoing,
                        Reply)

log = logging.getLogger("haven.telegram")

#: Update kinds Haven handles; everything else is not even fetched.
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
POLL_TIMEOUT = 25          # seconds a getUpdates long poll may be held open by Telegram
TYPING_DELAY = 0.3         # fast replies need no "typing…" (it would linger after the answer)
TYPING_REPEAT = 4.5        # Telegram shows the action for about 5 seconds
#: Buttons whose choice is final: after a press the keyboard is replaced by the choice made.
ONE_SHOT_ACTIONS = ("consent:", "forget:")
_GROUP_TYPES = {"group", "supergroup"}


class TelegramAdapter:
    name = "telegram"
    capabilities = Capabilities(ephemeral=False, buttons=True, threads=False, max_text=4096, max_buttons=10)

    def __init__(self, app: Any) -> None:
        self.app = app
        self.settings = app.settings.telegram
        self.codec = ButtonCodec()
        self._staff = tg.staff_chats(app.settings)
        self._order = KeyedLocks()
        self._seen_presses: OrderedDict[int, None] = OrderedDict()
        self._application: Application | None = None  # type: ignore[type-arg]
        self._sender: TelegramSender | None = None
        self._webhook: WebhookServer | None = None
        self.handled = 0   # updates fully handled (reply sent); read by the bench and by tests
        self._handled_changed = asyncio.Condition()

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings.token is None:
            raise RuntimeError("telegram.token is not set")
        root = self.settings.base_url.rstrip("/")
        size = self.settings.concurrency
        application = (Application.builder().token(self.settings.token.get_secret_value())
                       .base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
                       .concurrent_updates(size).connection_pool_size(size + 8).pool_timeout(30.0)
                       .get_updates_request(tg.SafeUpdatesRequest(connection_pool_size=1))
                       .build())
        application.add_handler(TypeHandler(Update, self._on_update))
        application.add_error_handler(self._on_error)
        self._application = application
        await self._initialize(application)
        self._sender = TelegramSender(application.bot, self.codec)
        await application.start()
        await self._register_commands()
        updater = application.updater
        assert updater is not None
        if self.settings.mode == "webhook":
            await self._start_webhook(application)
        else:
            await updater.start_polling(timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES,
                                        drop_pending_updates=False, bootstrap_retries=3,
                                        error_callback=self._on_poll_error)
        log.info("event=telegram_serving mode=%s", self.settings.mode)

    async def _start_webhook(self, application: Application) -> None:  # type: ignore[type-arg]
        """Our own endpoint (acknowledges only handled updates, see telegram_webhook), then register it.

        Every worker behind the load balancer registers the same public URL; Telegram keeps one webhook."""
        hook = self.settings.webhook
        secret = hook.secret_token.get_secret_value() if hook.secret_token else None
        self._webhook = WebhookServer(application, listen=hook.listen, port=hook.port, path=hook.path,
                                      secret=secret)
        await self._webhook.start()
        url = hook.url or f"http://{hook.listen}:{self._webhook.port}/{hook.path.strip('/')}"
        await self.sender.call("set_webhook", application.bot.set_webhook, url=url, secret_token=secret,
                               allowed_updates=ALLOWED_UPDATES, max_connections=hook.max_connections,
                               drop_pending_updates=False, attempts=3)

    async def _initialize(self, application: Application) -> None:  # type: ignore[type-arg]
        """getMe with a few retries on network errors; a rejected token stops startup with a clear message."""
        for attempt in range(1, 4):
            try:
                await application.initialize()
                return
            except InvalidToken:
                log.error("event=token_rejected hint=check_telegram.token")
                raise RuntimeError("telegram.token was rejected by the Bot API") from None
            except NetworkError as exc:
                log.warning("event=connect_failed exc=%s attempt=%d", type(exc).__name__, attempt)
                if attempt == 3:
                    raise RuntimeError("cannot reach the Telegram Bot API at telegram.base_url") from None
                await asyncio.sleep(attempt)

    @property
    def ready(self) -> bool:
        """Connected and taking updates (read by /readyz): started, and polling or the webhook endpoint is up."""
        application = self._application
        if application is None or not application.running:
            return False
        if self._webhook is not None:
            return True
        return application.updater is not None and application.updater.running

    async def stop_receiving(self) -> None:
        """Stop taking updates; handlers already running finish and reply. `stop()` does the rest.

        In webhook mode the endpoint closes: Telegram's next POSTs fail and are retried, reaching another worker
        behind the balancer (or this one after its restart); requests in flight are answered once handled."""
        webhook, self._webhook = self._webhook, None
        if webhook is not None:
            with contextlib.suppress(Exception):
                await webhook.stop()
        application = self._application
        if application is not None and application.updater is not None and application.updater.running:
            await application.updater.stop()

    async def stop(self) -> None:
        """Stop fetching, let in-flight handlers finish (PTB's stop awaits them), then disconnect."""
        application, self._application = self._application, None
        if application is None:
            return
        webhook, self._webhook = self._webhook, None
        if webhook is not None:   # first stop taking updates; those being handled finish and are acknowledged
            with contextlib.suppress(Exception):
                await webhook.stop()
        with contextlib.suppress(Exception):
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
        with contextlib.suppress(Exception):
            if application.running:
                await application.stop()
        with contextlib.suppress(Exception):
            await application.shutdown()
        with contextlib.suppress(Exception):   # after a failed start the app never initialised; close the HTTP pools
            await application.bot.shutdown()

    async def _register_commands(self) -> None:
        """The command menu in private chats, per language. A failure is logged: the bot works without it."""
        scope = BotCommandScopeAllPrivateChats()
        languages = [lang for lang in words.COMMAND_DESCRIPTIONS
                     if lang == "en" or self.app.core.catalog.has_language(lang)]
        for lang in languages:
            described = words.COMMAND_DESCRIPTIONS[lang]
            commands = [BotCommand(name, described[name]) for name in words.COMMANDS]
            try:
                await self.sender.call("set_my_commands", self.sender.bot.set_my_commands, commands=commands,
                                       scope=scope, language_code=None if lang == "en" else lang, attempts=2)
            except DeliveryError:
                log.warning("event=set_commands_failed lang=%s", lang)

    @property
    def _username(self) -> str | None:
        return self._application.bot.username if self._application else None

    @property
    def sender(self) -> TelegramSender:
        assert self._sender is not None, "TelegramAdapter.start() has not run"
        return self._sender

    # --- outside a reply -------------------------------------------------------------------------------------

    async def deliver(self, target: ConversationRef, item: Outgoing) -> None:
        """Staff notices and follow-ups. Raises DeliveryError (retryable False when blocked/not allowed)."""
        try:
            chat_id = int(target.chat_id)
            thread = int(target.thread_id) if target.thread_id else None
        except ValueError:
            raise DeliveryError("not a Telegram chat id", retryable=False) from None
        if self._sender is None:
            raise DeliveryError("telegram adapter not running", retryable=True)
        if isinstance(item, (Reply, Notify)):
            await self.sender.send_text(chat_id, item.text, item.buttons, thread_id=thread)
        elif isinstance(item, Attachment):
            await self.sender.send_document(chat_id, item, thread_id=thread)

    # --- updates ---------------------------------------------------------------------------------------------

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            if update.callback_query is not None:
                await self._on_press(update, update.callback_query)
            elif update.message is not None:
                await self._on_message(update, update.message)
            elif update.my_chat_member is not None:
                self._on_membership(update)
            else:
                log.info("event=update_ignored kind=%s", tg.kind(update))
        except Exception as exc:   # one bad update must never stop the others
            log.warning("event=update_failed exc=%s", type(exc).__name__)
        finally:
            self.handled += 1
            async with self._handled_changed:
                self._handled_changed.notify_all()

    async def wait_handled(self, count: int, timeout: float = 10.0) -> None:
        """Wait until `count` updates have been handled in total (for tests and the bench; no polling)."""
        async with self._handled_changed:
            await asyncio.wait_for(self._handled_changed.wait_for(lambda: self.handled >= count), timeout)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.warning("event=update_failed exc=%s", type(context.error).__name__)

    def _on_poll_error(self, error: TelegramError) -> None:
        log.warning("event=poll_failed exc=%s", type(error).__name__)

    def _on_membership(self, update: Update) -> None:
        change = update.my_chat_member
        assert change is not None
        if change.chat.type == "private":
            status = change.new_chat_member.status
            log.info("event=%s source=member_update", "blocked" if status == "kicked" else "unblocked")

    async def _on_message(self, update: Update, message: Message) -> None:
        user = message.from_user
        if user is None or user.is_bot:
            log.info("event=update_ignored kind=no_person")
            return
        text = message.text if message.text is not None else (message.caption or "")
        if message.chat.type == "private":
            event = IncomingMessage(tg.direct(message.chat.id), tg.person(user),
                                    tg.strip_command(text, self._username), str(update.update_id))
            async with self._in_order(str(message.chat.id)):
                items = await self._handle(event, message.chat.id, confirm=True)
                if await self._render(message.chat.id, items):
                    await self.app.core.delivered(event)
        elif message.chat.type in _GROUP_TYPES:
            if not tg.addressed(message, self.sender.bot.id, self._username or ""):
                log.info("event=group_ignored")
                return
            text = tg.strip_mention(tg.strip_command(text, self._username), self._username)
            await self._on_group_message(update, message, text)
        else:
            log.info("event=update_ignored kind=%s", tg.chat_kind(message.chat.type))

    async def _on_group_message(self, update: Update, message: Message, text: str) -> None:
        """Addressed in a group: continue privately if we can write to the person, else offer a deep link.

        Nothing personal goes into the group. When the person has never opened a private chat (the bot may not
        start one), the core still sees the message so escalation can happen; only its replies are withheld.
        """
        user = message.from_user
        assert user is not None
        locale = user.language_code
        if await self.sender.typing(user.id):
            event = IncomingMessage(tg.direct(user.id), tg.person(user), text, str(update.update_id))
            async with self._in_order(str(user.id)):
                items = await self._handle(event, None)
                await self._render(user.id, items)
            note = words.sent_privately(locale)
        else:
            event = IncomingMessage(tg.group(message.chat.id), tg.person(user), text, str(update.update_id),
                                    addressed_to_bot=True)
            async with self._in_order(str(message.chat.id)):
                items = await self._handle(event, None)
            withheld = sum(1 for item in items if not isinstance(item, Notify))
            await self._notify_all([item for item in items if isinstance(item, Notify)])
            log.info("event=group_reply_withheld items=%d", withheld)
            note = words.open_private(locale, f"https://t.me/{self.sender.bot.username}?start=help")
        thread = message.message_thread_id if message.is_topic_message else None
        try:
            await self.sender.send_text(message.chat.id, note, thread_id=thread, reply_to=message.message_id)
        except DeliveryError as exc:
            log.warning("event=group_note_failed retryable=%s", exc.retryable)

    async def _on_press(self, update: Update, query: CallbackQuery) -> None:
        user, message = query.from_user, query.message
        decoded = self.codec.decode(query.data)
        locale = user.language_code
        if not isinstance(message, Message) or decoded is None:
            await self.sender.answer(query.id, words.expired(locale))
            log.info("event=press_ignored reason=%s", "unknown_data" if message else "no_message")
            return
        if self._already_seen(update.update_id):
            log.info("event=duplicate platform=telegram kind=press")
            return
        action, value = decoded
        chat = message.chat
        staff = chat.id in self._staff
        if action.startswith("case:") and not staff:
            await self.sender.answer(query.id, words.not_allowed(locale), alert=True)
            log.info("event=case_press_refused")
            return
        if chat.type != "private" and not staff:
            await self.sender.answer(query.id)
            log.info("event=press_ignored reason=group")
            return
        await self.sender.answer(query.id)
        if staff:
            conversation, sender = tg.group(chat.id), tg.staff_member(user)
        else:
            conversation, sender = tg.direct(chat.id), tg.person(user)
        if not staff and action.startswith(ONE_SHOT_ACTIONS):
            await self.sender.mark_chosen(message, tg.button_label(message, query.data) or "")
        event = ButtonPressed(conversation, sender, action, value, interaction_id=query.id)
        async with self._in_order(str(chat.id)):
            items = await self._handle(event, chat.id, confirm=not staff)
            sent = await self._render(chat.id, items, private_to=user.id if staff else None,
                                      thread=message.message_thread_id if staff and message.is_topic_message else None)
            if sent and not staff:
                await self.app.core.delivered(event)

    # --- core and rendering ----------------------------------------------------------------------------------

    async def _handle(self, event: IncomingMessage | ButtonPressed, typing_chat: int | None, *,
                      confirm: bool = False) -> list[Outgoing]:
        """Ask the core, showing "typing…" in `typing_chat` if the answer takes longer than a moment.

        `confirm`: the caller reports delivery (`core.delivered`), so a crash before the answer went out has the
        stored answer sent when Telegram redelivers the update."""
        if typing_chat is None:
            return await self.app.core.handle(event, confirm_delivery=confirm)
        task = asyncio.create_task(self._keep_typing(typing_chat))
        try:
            return await self.app.core.handle(event, confirm_delivery=confirm)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _keep_typing(self, chat_id: int) -> None:
        await asyncio.sleep(TYPING_DELAY)
        while await self.sender.typing(chat_id):
            await asyncio.sleep(TYPING_REPEAT)

    async def _render(self, chat_id: int, items: list[Outgoing], *, private_to: int | None = None,
                      thread: int | None = None) -> bool:
        """Send the core's answer in order; True when all of it went out. A non-retryable failure (blocked)
        stops the rest for this chat."""
        await self._notify_all([item for item in items if isinstance(item, Notify)])
        complete = True
        for item in items:
            try:
                if isinstance(item, Reply):
                    if item.private and private_to is not None and await self._send_private(private_to, item):
                        continue
                    await self.sender.send_text(chat_id, item.text, item.buttons, thread_id=thread)
                elif isinstance(item, Attachment):
                    await self.sender.send_document(chat_id, item, thread_id=thread)
            except DeliveryError as exc:
                log.warning("event=reply_failed retryable=%s", exc.retryable)
                complete = False
                if not exc.retryable:
                    return complete
        return complete

    async def _send_private(self, user_id: int, reply: Reply) -> bool:
        """A private reply to someone pressing in the staff chat goes to their DM when the bot may write there."""
        try:
            await self.sender.send_text(user_id, reply.text, reply.buttons)
        except DeliveryError:
            return False
        return True

    async def _notify_all(self, notices: list[Notify]) -> None:
        for notice in notices:
            try:
                await self.app.outbox.deliver(notice.target, notice)
            except DeliveryError as exc:
                log.warning("event=notify_failed platform=%s retryable=%s", notice.target.platform, exc.retryable)
            except Exception as exc:
                log.warning("event=notify_failed platform=%s exc=%s", notice.target.platform, type(exc).__name__)

    # --- helpers ---------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _in_order(self, key: str) -> AsyncIterator[None]:
        async with self._order.hold(key):
            yield

    def _already_seen(self, update_id: int) -> bool:
        """Presses have no durable dedupe in the core yet: remember recent update ids (bounded)."""
        if update_id in self._seen_presses:
            return True
        self._seen_presses[update_id] = None
        while len(self._seen_presses) > 4096:
            self._seen_presses.popitem(last=False)
        return False
