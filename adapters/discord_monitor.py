"""Crisis watch in a guild's monitored channels: translate, then act only on a crisis reply, always privately.

Every message in a monitored channel (and threads under it) goes to the core as a GROUP message not addressed
to the bot, in the author's own conversation (`member_side`). The only thing acted on is a crisis reply,
recognised by its `crisis:*` button action ids, never by parsing text: it goes to the author by DM; if their DMs
are closed, into a private help thread when the guild enables `help_threads`, else moderators are told that a
private message could not be delivered. Nothing about a person is ever posted in the channel, and ordinary
messages get no reply at all. Also here: the adapter's own notes to moderators (DM failures, missing
permissions, each reported once).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from adapters.discord_send import channel_sender, is_dms_closed, is_permission_error, send_text
from bot.config import DiscordGuildSettings
from bot.events import ConversationKind, ConversationRef, IncomingMessage, Reply

if TYPE_CHECKING:
    from adapters.discord_bot import DiscordAdapter

log = logging.getLogger("haven.discord")
MEMBER_PREFIX = "member:"


def member_side(channel_id: int, member_id: int) -> ConversationRef:
    """One member's private side of a monitored channel: the conversation a monitored message belongs to.

    A channel is many people, and the core keeps risk and flow state per conversation, so keying monitored
    messages by channel alone would let one member's crisis colour the next member's "hello" (observed: a
    bystander got the crisis follow-up). `thread_id="member:<id>"` gives each member their own state, and as a
    delivery target it means "this member, privately": deliver() sends it by DM, never into the channel.
    """
    return ConversationRef("discord", str(channel_id), ConversationKind.GROUP,
                           thread_id=f"{MEMBER_PREFIX}{member_id}")


class ChannelWatch:
    def __init__(self, adapter: DiscordAdapter) -> None:
        self.adapter = adapter
        #: (monitored channel, member) -> the private help thread opened for them (this process's lifetime).
        self._help_threads: dict[tuple[int, int], int] = {}
        self._reported: set[tuple[int, str]] = set()

    def help_thread(self, channel_id: int, member_id: int) -> int | None:
        return self._help_threads.get((channel_id, member_id))

    def is_monitored(self, channel: Any, guild: DiscordGuildSettings) -> bool:
        parent = getattr(channel, "parent_id", None)
        return channel.id in guild.monitored_channels or (parent is not None and parent in guild.monitored_channels)

    async def on_message(self, message: discord.Message, guild: DiscordGuildSettings) -> None:
        if await self.adapter.store.monitoring_opted_out(self.adapter.subject("monitoring", message.author.id)):
            return
        conversation = member_side(message.channel.id, message.author.id)
        event = IncomingMessage(conversation, self.adapter.user_ref(message.author, guild.id), message.content,
                                str(message.id), addressed_to_bot=False)
        items = await self.adapter.core.handle(event)       # no typing indicator: it would be public
        await self.adapter.deliver_notices(items)
        replies = [item for item in items if isinstance(item, Reply)]
        crisis = next((r for r in replies if any(b.action_id.startswith("crisis:") for b in r.buttons)), None)
        if crisis is None:
            return                                   # ordinary messages in a monitored channel: no reply at all
        log.info("event=crisis_in_monitored_channel")
        ordered = [crisis] + [reply for reply in replies if reply is not crisis]
        await self._reach_privately(message, guild, ordered)

    async def _reach_privately(self, message: discord.Message, guild: DiscordGuildSettings,
                               replies: list[Reply]) -> None:
        """DM first; if DMs are closed, a private help thread (when the guild allows) or a note to moderators."""
        delivered = False
        try:
            dm = await message.author.create_dm()
            for reply in replies:
                await send_text(channel_sender(dm), reply.text, reply.buttons)
            delivered = True
            log.info("event=crisis_reply_sent via=dm")
        except discord.HTTPException as exc:
            log.warning("event=crisis_dm_failed dms_closed=%s status=%s", is_dms_closed(exc), exc.status)
        thread = None
        if guild.help_threads:
            thread = await self._open_help_thread(message, guild, [] if delivered else replies)
        if not delivered and thread is None:
            await self.moderator_note(guild, self.adapter.text(
                "dm_failed_notice", moderators=_role_mention(guild.moderator_role_id),
                channel=getattr(message.channel, "mention", "a monitored channel"), link=message.jump_url))

    async def _open_help_thread(self, message: discord.Message, guild: DiscordGuildSettings,
                                replies: list[Reply]) -> discord.Thread | None:
        channel = message.channel
        parent = getattr(channel, "parent", None) or channel
        if not isinstance(parent, discord.TextChannel):
            return None
        try:
            thread = await parent.create_thread(name=self.adapter.text("help_thread_name"), invitable=False,
                                                type=discord.ChannelType.private_thread,
                                                auto_archive_duration=1440)
            self._help_threads[(parent.id, message.author.id)] = thread.id
            self._help_threads[(channel.id, message.author.id)] = thread.id
            await thread.add_user(message.author)
            mentions = discord.AllowedMentions(everyone=False, users=[message.author], replied_user=False,
                                               roles=[discord.Object(guild.helper_role_id)] if guild.helper_role_id
                                               else False)
            intro = self.adapter.text("help_thread_intro", member=message.author.mention,
                              helpers=_role_mention(guild.helper_role_id))
            await send_text(channel_sender(thread, mentions), intro)
            for reply in replies:
                await send_text(channel_sender(thread), reply.text, reply.buttons)
        except discord.HTTPException as exc:
            log.warning("event=help_thread_failed status=%s code=%s", exc.status, exc.code)
            if is_permission_error(exc):
                await self.report_permission(guild, parent.id, "Create Private Threads")
            return None
        log.info("event=help_thread_opened with_crisis_reply=%s", bool(replies))
        return thread

    # --- rendering and delivery ------------------------------------------------------------------------------

    async def moderator_note(self, guild: DiscordGuildSettings, text: str) -> bool:
        """Adapter housekeeping for moderators (a DM that could not be delivered, a missing permission)."""
        if not guild.moderator_channel_id or self.adapter.client is None:
            log.warning("event=moderator_note_dropped reason=no_moderator_channel")
            return False
        channel = self.adapter.client.get_partial_messageable(guild.moderator_channel_id)
        roles = [discord.Object(guild.moderator_role_id)] if guild.moderator_role_id else False
        try:
            await send_text(channel_sender(channel, discord.AllowedMentions(everyone=False, users=False, roles=roles)),
                            text)
        except discord.HTTPException as exc:
            log.error("event=moderator_note_failed status=%s code=%s", exc.status, exc.code)
            return False
        return True

    async def report_permission(self, guild: DiscordGuildSettings, channel_id: int, what: str) -> None:
        """Tell moderators once per channel and permission, not on every failed send."""
        key = (channel_id, what)
        if key in self._reported:
            return
        self._reported.add(key)
        log.warning("event=missing_permission what=%s", what.replace(" ", "_"))
        if channel_id != guild.moderator_channel_id:
            note = self.adapter.text("permission_notice", channel=f"<#{channel_id}>", what=what)
            await self.moderator_note(guild, note)


def _role_mention(role_id: int | None) -> str:
    return f"<@&{role_id}>" if role_id else ""
