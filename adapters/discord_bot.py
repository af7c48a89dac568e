"""The Discord adapter (discord.py 2.x): DMs, slash commands, buttons, and crisis watch in opted-in channels.

It translates and renders; it decides nothing about risk. Direct messages get the full conversation. In a
guild's monitored channels every message goes to the core as a GROUP message not addressed to the bot, and
only a crisis reply (recognised by its `crisis:*` buttons, never by its text) is acted on, always privately
(discord_monitor.py). Slash commands and buttons live in discord_commands.py; sending and error mapping in
discord_send.py; persistent buttons in discord_views.py; opt-outs and check-in limits in discord_store.py.

Lifecycle: `login()` (REST), one bulk PUT of the slash commands, then `connect()` in a supervised task. A bad
gateway payload raises inside discord.py's parser and would end `connect()` silently while the heartbeat
thread keeps the socket alive, so parsers are guarded (the event is logged as rejected and dropped) and the
task is watched and restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands

from adapters.discord_commands import DiscordInteractions
from adapters.discord_monitor import MEMBER_PREFIX, ChannelWatch, member_side
from adapters.discord_send import (NO_MENTIONS, channel_sender, delivery_error, is_dms_closed, is_permission_error,
                                   send_attachment, send_text)
from adapters.discord_store import DiscordStore
from adapters.discord_store_pg import PgDiscordStore
from bot.store.factory import is_postgres
from adapters.discord_text import DiscordText
from adapters.discord_views import HavenButton
from bot.config import DiscordGuildSettings, DiscordSettings
from bot.delivery import DeliveryError
from bot.events import (Attachment, Capabilities, ConversationKind, ConversationRef, IncomingMessage, Notify,
                        Outgoing, Reply, UserRef)

__all__ = ["DiscordAdapter", "intents_for", "member_side", "rest_base"]
log = logging.getLogger("haven.discord")
PLATFORM = "discord"
READY_TIMEOUT_S = 60.0
_RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


def intents_for(settings: DiscordSettings) -> discord.Intents:
    """Only what the features need. Message content (privileged) only when some guild monitors channels."""
    intents = discord.Intents.none()
    intents.guilds = True            # guilds, channels and roles: threads, permission checks, moderator channels
    intents.dm_messages = True       # the one-to-one conversation
    if any(guild.monitored_channels for guild in settings.guilds):
        intents.guild_messages = True
        intents.message_content = True
    return intents


def rest_base(api_base: str) -> str:
    base = api_base.rstrip("/")
    return base if re.search(r"/api/v\d+$", base) else f"{base}/api/v10"


def discord_store_for(app: Any) -> DiscordStore | PgDiscordStore:
    """Opt-outs and check-in limits where every worker sees them: the shared PostgreSQL database when the core
    uses one (several workers), else a file beside the core's SQLite database (one worker)."""
    if is_postgres(app.settings.storage.url):
        return PgDiscordStore(app.store)
    return DiscordStore(app.data_dir / "discord.sqlite3")


class _HavenClient(discord.Client):
    def __init__(self, adapter: DiscordAdapter, settings: DiscordSettings, **options: Any) -> None:
        # Haven never joins voice; discord.py would otherwise warn at every start that voice libraries are missing.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(intents=intents_for(settings), guild_ready_timeout=settings.guild_ready_timeout,
                         allowed_mentions=NO_MENTIONS, **options)
        self.haven = adapter
        self.tree: app_commands.CommandTree[_HavenClient] = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(HavenButton)
        _guard_parsers(self)

    async def on_message(self, message: discord.Message) -> None:
        await self.haven.on_message(message)


class _HavenShardedClient(_HavenClient, discord.AutoShardedClient):
    """The same client on discord.py's sharding: this process IDENTIFYs only `discord.shard_ids`, so several
    `haven run` workers can split a bot too large for one gateway connection (Discord: 2,500 servers each)."""

    async def on_shard_ready(self, shard_id: int) -> None:
        log.info("event=discord_shard_ready shard=%d", shard_id)


def _client_for(adapter: DiscordAdapter, settings: DiscordSettings) -> _HavenClient:
    """One plain connection unless `discord.shard_count` is set (the single-connection path stays as it was)."""
    if settings.shard_count is None:
        return _HavenClient(adapter, settings)
    return _HavenShardedClient(adapter, settings, shard_count=settings.shard_count, shard_ids=settings.shard_ids)


def _gateway_open(client: discord.Client) -> bool:
    """A sharded client has no single `ws`: it is open when every shard this worker runs is."""
    if isinstance(client, discord.AutoShardedClient):
        shards = client.shards
        return bool(shards) and not any(shard.is_closed() for shard in shards.values())
    return client.ws is not None and client.ws.open


def _guard_parsers(client: discord.Client) -> None:
    """Drop (and log) a gateway event whose payload discord.py cannot parse, instead of losing the connection."""
    parsers: dict[str, Callable[[Any], Any]] | None = getattr(getattr(client, "_connection", None), "parsers", None)
    if not isinstance(parsers, dict):
        return
    for name, parser in list(parsers.items()):
        def guarded(data: Any, _parser: Callable[[Any], Any] = parser, _name: str = name) -> Any:
            try:
                return _parser(data)
            except Exception as exc:   # noqa: BLE001 - any malformed payload is dropped, never fatal
                log.warning("event=rejected reason=bad_payload dispatch=%s error=%s", _name, type(exc).__name__)
                return None
        parsers[name] = guarded


class DiscordAdapter:
    name = PLATFORM
    capabilities = Capabilities(ephemeral=True, buttons=True, threads=True, max_text=2000, max_buttons=25)

    def __init__(self, app: Any) -> None:
        self.app = app
        self.settings: DiscordSettings = app.settings.discord
        self.core = app.core
        self.text = DiscordText(app.core.catalog)
        self.store = discord_store_for(app)
        self.guilds = {guild.id: guild for guild in self.settings.guilds}
        self.client: _HavenClient | None = None
        self.interactions = DiscordInteractions(self)
        self.watch = ChannelWatch(self)
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._saved_endpoints: tuple[str, Any] | None = None
        self._stopping = False

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        token = self.settings.token.get_secret_value() if self.settings.token else ""
        self._point_at_endpoints()
        await self.store.open()
        client = self.client = _client_for(self, self.settings)
        self.interactions.register(client.tree)
        await client.login(token)
        if self.settings.sync_commands:
            try:
                await client.tree.sync()
            except discord.HTTPException as exc:
                log.error("event=command_sync_failed status=%s code=%s", exc.status, exc.code)
        self._task = asyncio.create_task(self._run_gateway(), name="haven-discord-gateway")
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({self._task, ready}, timeout=READY_TIMEOUT_S,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if self._task in done:
                self._task.result()          # re-raise why the gateway stopped (bad token: 4004)
            raise TimeoutError("the Discord gateway did not become ready")
        log.info("event=connected guilds=%d monitoring=%s", len(client.guilds),
                 bool(client.intents.message_content))

    async def _run_gateway(self) -> None:
        """Keep `connect()` running; fatal closes (bad token, disallowed intents) end it, anything else restarts."""
        assert self.client is not None
        attempt = 0
        while not (self.client.is_closed() and self._stopping):
            try:
                if self.client.is_closed():
                    await self._replace_client()
                await self.client.connect(reconnect=True)
                return
            except (discord.LoginFailure, discord.PrivilegedIntentsRequired, discord.ConnectionClosed):
                log.error("event=gateway_closed fatal=true")
                raise
            except asyncio.CancelledError:
                raise
            except Exception as exc:   # noqa: BLE001 - keep serving whatever one payload did
                delay = _RESTART_DELAYS[min(attempt, len(_RESTART_DELAYS) - 1)]
                attempt += 1
                log.error("event=gateway_crashed error=%s restart_in=%.0fs", type(exc).__name__, delay)
                if self.client.ws is not None:
                    with contextlib.suppress(Exception):
                        await self.client.ws.close(code=4000)
                await asyncio.sleep(delay)

    async def _replace_client(self) -> None:
        """A fresh, logged-in client for one that closed itself. discord.py's sharded client closes when a shard
        hits an unexpected error (a plain Client leaves that to us, and is restarted above), which would leave
        a sharded worker deaf for good. The old client stays in place until the new one has logged in, so a
        failed login is retried by the loop like any other crash."""
        client = _client_for(self, self.settings)
        self.interactions.register(client.tree)
        try:
            await client.login(self.settings.token.get_secret_value() if self.settings.token else "")
        except BaseException:
            await client.close()
            raise
        self.client = client
        log.warning("event=gateway_client_replaced")

    @property
    def ready(self) -> bool:
        """Gateway connected and serving (read by /readyz); false while it reconnects and once stopping."""
        client = self.client
        return (client is not None and not self._stopping and client.is_ready() and not client.is_closed()
                and _gateway_open(client))

    async def stop_receiving(self) -> None:
        """Ignore new messages from now on; handlers in flight finish (stop() waits for them)."""
        self._stopping = True

    async def stop(self) -> None:
        self._stopping = True
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=10.0)
        if self.client is not None:
            await self.client.close()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=10.0)
        await self.store.close()
        self._restore_endpoints()

    def _point_at_endpoints(self) -> None:
        """`discord.api_base` / `discord.gateway_url`: the two class attributes discord.py reads its URLs from."""
        self._saved_endpoints = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        if self.settings.api_base:
            discord.http.Route.BASE = rest_base(self.settings.api_base)
        if self.settings.gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.settings.gateway_url)

    def _restore_endpoints(self) -> None:
        if self._saved_endpoints is not None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved_endpoints
            self._saved_endpoints = None

    @contextlib.asynccontextmanager
    async def tracked(self) -> AsyncIterator[None]:
        """Mark the current handler in flight so stop() can drain it."""
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._inflight.discard(task)

    # --- translation helpers ---------------------------------------------------------------------------------

    def user_ref(self, user: discord.abc.User, guild_id: int | None = None, locale: str | None = None) -> UserRef:
        return UserRef(PLATFORM, str(user.id), display_name=user.display_name, locale=self.locale(guild_id, locale))

    def locale(self, guild_id: int | None, client_locale: str | None = None) -> str | None:
        """The guild's configured country rides in the locale's region (`en-GB`), which is how the core reads a
        country. A DM, which carries no locale, uses the country of the only configured guild if there is one."""
        guild = self.guilds.get(guild_id) if guild_id else None
        if guild is None and not client_locale and len(self.settings.guilds) == 1:
            guild = self.settings.guilds[0]
        language = (client_locale or self.app.settings.bot.default_language).split("-")[0]
        if guild is not None and guild.country:
            return f"{language}-{guild.country}"
        return client_locale

    def staff_channels(self) -> dict[int, int | None]:
        """Moderator channels and Discord escalation destinations, with the role to mention in each."""
        channels: dict[int, int | None] = {}
        for guild in self.settings.guilds:
            if guild.moderator_channel_id:
                channels[guild.moderator_channel_id] = guild.moderator_role_id
        for destination in self.app.settings.crisis.escalation.destinations:
            if destination.platform == PLATFORM and destination.channel_id and destination.channel_id.isdigit():
                role = int(destination.role_id) if destination.role_id and destination.role_id.isdigit() else None
                channels[int(destination.channel_id)] = role or channels.get(int(destination.channel_id))
        return channels

    # --- incoming messages -----------------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        # discord.py copies `content` from the payload unchecked, and leaves `author` unset when there is none.
        if not isinstance(message.content, str) or getattr(message, "author", None) is None:
            log.warning("event=rejected reason=bad_payload dispatch=MESSAGE_CREATE")
            return
        if self._stopping or message.author.bot or message.type not in (discord.MessageType.default,
                                                                       discord.MessageType.reply):
            return
        async with self.tracked():
            try:
                if message.guild is None:
                    await self._on_direct(message)
                else:
                    guild = self.guilds.get(message.guild.id)
                    if guild is not None and self.watch.is_monitored(message.channel, guild):
                        await self.watch.on_message(message, guild)
            except Exception:
                log.exception("event=message_failed")

    async def _on_direct(self, message: discord.Message) -> None:
        conversation = ConversationRef(PLATFORM, str(message.channel.id), ConversationKind.DIRECT)
        event = IncomingMessage(conversation, self.user_ref(message.author), message.content, str(message.id))
        async with _typing(message.channel):
            items = await self.core.handle(event)
        try:
            await self.render(channel_sender(message.channel), items)
        except (discord.HTTPException, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            # DMs closed since, a channel Discord does not know, or Discord failing after discord.py's own retries:
            # a delivery problem, logged as one (its reason), not as a crash with a traceback.
            error = delivery_error(exc)
            log.warning("event=reply_failed reason=%s retryable=%s", error.reason, error.retryable)

    async def render(self, send: Any, items: list[Outgoing]) -> None:
        """Replies and attachments into the conversation; Notify items through the outbox."""
        for item in items:
            if isinstance(item, Reply):
                await send_text(send, item.text, item.buttons)
            elif isinstance(item, Attachment):
                await send_attachment(send, item)
        await self.deliver_notices(items)

    async def deliver_notices(self, items: list[Outgoing]) -> None:
        for item in items:
            if isinstance(item, Notify):
                try:
                    await self.app.outbox.deliver(item.target, item)
                except Exception as exc:   # noqa: BLE001 - a failed notice must not lose the person's reply
                    log.error("event=notify_failed platform=%s error=%s", item.target.platform, type(exc).__name__)

    async def deliver(self, target: ConversationRef, item: Outgoing) -> None:
        """Staff notices and follow-ups. Raises DeliveryError (retryable or not) when Discord refuses.

        A monitored member's address (`member_side`) goes to their DM, or to the help thread opened for them
        when their DMs are closed; a monitored channel itself is never a destination.
        """
        if self.client is None:
            raise DeliveryError("not_started", retryable=True)
        if not target.chat_id.isdigit():
            raise DeliveryError("channel_not_found", retryable=False)
        channel_id = int(target.chat_id)
        staff = self.staff_channels()
        member = (target.thread_id or "").removeprefix(MEMBER_PREFIX)
        is_member = bool(target.thread_id and target.thread_id.startswith(MEMBER_PREFIX) and member.isdigit())
        if not is_member and channel_id not in staff and self._monitored_anywhere(channel_id):
            log.warning("event=deliver_refused reason=public_monitored_channel")
            raise DeliveryError("public_monitored_channel", retryable=False)
        mention = getattr(item, "mention", None)
        role = int(mention) if isinstance(mention, str) and mention.isdigit() else staff.get(channel_id)
        text = getattr(item, "text", "")
        if isinstance(item, Notify) and role and f"<@&{role}>" not in text:
            text = f"{_role_mention(role)} {text}"
        mentions = discord.AllowedMentions(everyone=False, users=False, roles=[discord.Object(role)]) if role \
            else NO_MENTIONS
        channel: Any = self.client.get_channel(channel_id) or self.client.get_partial_messageable(channel_id)
        try:
            if is_member:
                channel = await self.client.create_dm(discord.Object(int(member)))
            try:
                await self._send_item(channel, item, text, mentions)
            except discord.Forbidden as exc:
                thread_id = self.watch.help_thread(channel_id, int(member)) if is_member else None
                if not is_dms_closed(exc) or thread_id is None:
                    raise
                channel = self.client.get_partial_messageable(thread_id)
                await self._send_item(channel, item, text, mentions)
        except (discord.HTTPException, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            if is_permission_error(exc):
                guild = self._guild_of(channel)
                if guild is not None:
                    await self.watch.report_permission(guild, channel_id, "View Channel / Send Messages")
            error = delivery_error(exc)
            log.warning("event=deliver_failed reason=%s retryable=%s", error.reason, error.retryable)
            raise error from None

    @staticmethod
    async def _send_item(channel: Any, item: Outgoing, text: str, mentions: discord.AllowedMentions) -> None:
        if isinstance(item, Attachment):
            await send_attachment(channel_sender(channel), item)
        elif isinstance(item, (Reply, Notify)):
            await send_text(channel_sender(channel, mentions), text, item.buttons)

    def _monitored_anywhere(self, channel_id: int) -> bool:
        """Haven never posts into a monitored channel: what it says there is always about someone."""
        return any(channel_id in guild.monitored_channels for guild in self.settings.guilds)

    def _guild_of(self, channel: Any) -> DiscordGuildSettings | None:
        guild = getattr(channel, "guild", None)
        return self.guilds.get(guild.id) if guild is not None else None

    async def on_button(self, interaction: discord.Interaction[Any], action_id: str, value: str) -> None:
        await self.interactions.on_button(interaction, action_id, value)

    def subject(self, purpose: str, user_id: int) -> str:
        """A pseudonymous key for a Discord member, for the adapter's own table."""
        return self.core.ids.key(PLATFORM, purpose, str(user_id))


def _role_mention(role_id: int | None) -> str:
    return f"<@&{role_id}>" if role_id else ""


@contextlib.asynccontextmanager
async def _typing(channel: discord.abc.Messageable) -> AsyncIterator[None]:
    """Show typing while the core works; a failure to show it never blocks the reply."""
    typing = channel.typing()
    entered = False
    try:
        await typing.__aenter__()
        entered = True
    except (discord.HTTPException, aiohttp.ClientError, asyncio.TimeoutError):
        log.debug("event=typing_failed")
    try:
        yield
    finally:
        if entered:
            await typing.__aexit__(None, None, None)
