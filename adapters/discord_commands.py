"""Slash commands and button presses for the Discord adapter.

Every interaction is acknowledged first (a defer, well inside Discord's 3-second window) and answered with
follow-ups once the core has spoken. Anything said to a person in a server is ephemeral: even `/resources` in a
public channel says something about whoever ran it. Commands map onto the core's own command names (`/about`,
`/resources topic`...) in the person's private conversation (their DM channel), so a flow started with a slash
command in a server (such as `/forget`'s confirmation) continues the same way from a DM.

Two things belong to the adapter alone, because they are Discord features rather than conversation: `/checkon`
(an anonymous check-in note to a member, at most one per recipient per 24 hours) and opting out of monitoring
or of check-in notes. Their buttons use the `discord:` action namespace and never reach the core.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from adapters.discord_send import followup_sender, is_dms_closed, channel_sender, send_text
from adapters.discord_store import CheckonClaim
from bot.events import Button, ButtonPressed, ConversationKind, ConversationRef, IncomingMessage, Reply

if TYPE_CHECKING:
    from adapters.discord_bot import DiscordAdapter

log = logging.getLogger("haven.discord")

#: Slash command -> the core's command it runs (the core answers unknown ones with its own help).
CORE_COMMANDS = {
    "resources": "Helplines and services near you (optionally for a topic)",
    "safetyplan": "Your personal safety plan",
    "skills": "Short exercises for stress, worry, sleep and low mood",
    "mood": "Note how you feel and see your last 30 days",
    "screen": "A short wellbeing questionnaire (PHQ-9, GAD-7, WHO-5)",
    "ideas": "Suggestions that fit you",
    "book": "Book a session with a counsellor",
    "appointments": "Your appointments",
    "settings": "Your language, country and other preferences",
    "about": "What Haven is, what it stores, and who runs it",
    "mydata": "See or export what Haven has stored about you",
    "forget": "Erase everything Haven has stored about you",
}
OWN_ACTIONS = ("discord:checkon_optout", "discord:checkon_optin", "discord:monitoring_optin",
               "discord:monitoring_optout")


async def acknowledged(interaction: discord.Interaction[Any], **options: Any) -> bool:
    """Defer the interaction; False when Discord refuses. Discord takes an acknowledgement only within 3 seconds
    and only for an interaction it issued: a late, replayed or forged one gets 404 (10062 Unknown interaction),
    and there is then no way to answer through it. Such a press or command is dropped with a log line instead of
    an exception (which discord.py would log as an error with a traceback)."""
    try:
        await interaction.response.defer(**options)
    except discord.HTTPException as exc:
        log.warning("event=interaction_dropped reason=%s", "expired" if exc.status == 404 else f"http_{exc.status}")
        return False
    return True


class DiscordInteractions:
    def __init__(self, adapter: DiscordAdapter) -> None:
        self.adapter = adapter

    # --- registration ----------------------------------------------------------------------------------------

    def register(self, tree: app_commands.CommandTree[Any]) -> None:
        for name, description in CORE_COMMANDS.items():
            tree.add_command(self._core_command(name, description))

        @tree.command(name="checkon", description="Privately send a member a kind, anonymous check-in note")
        @app_commands.guild_only()
        @app_commands.describe(member="The member you are worried about (they won't be told who asked)")
        async def checkon(interaction: discord.Interaction[Any], member: discord.Member) -> None:
            await self.checkon(interaction, member)

        @tree.command(name="claim", description="Staff: take a Haven case (moderator channel only)")
        @app_commands.guild_only()
        @app_commands.describe(case="The case id from the notice, such as HC-1A2B3C4D")
        async def claim(interaction: discord.Interaction[Any], case: str) -> None:
            await self.run_staff_command(interaction, f"/claim {case[:40]}")

        @tree.command(name="resolve", description="Staff: close a Haven case (moderator channel only)")
        @app_commands.guild_only()
        @app_commands.describe(case="The case id from the notice")
        async def resolve(interaction: discord.Interaction[Any], case: str) -> None:
            await self.run_staff_command(interaction, f"/resolve {case[:40]}")

        @tree.command(name="reply", description="Staff: write to the person in a case, without learning who they are")
        @app_commands.guild_only()
        @app_commands.describe(case="The case id from the notice", message="What Haven should pass on")
        async def reply(interaction: discord.Interaction[Any], case: str, message: str) -> None:
            await self.run_staff_command(interaction, f"/reply {case[:40]} {message[:1500]}")

        @tree.command(name="optout", description="Stop Haven watching your messages, or stop check-in notes")
        @app_commands.describe(what="What to opt out of (default: monitoring of your messages)")
        @app_commands.choices(what=[app_commands.Choice(name="monitoring of my messages", value="monitoring"),
                                    app_commands.Choice(name="check-in notes from members", value="checkon")])
        async def optout(interaction: discord.Interaction[Any],
                         what: app_commands.Choice[str] | None = None) -> None:
            await self.optout(interaction, what.value if what else "monitoring")

    def _core_command(self, name: str, description: str) -> app_commands.Command[Any, Any, None]:
        if name == "resources":
            @app_commands.describe(topic="A topic such as anxiety, grief or lgbtq (optional)")
            async def with_topic(interaction: discord.Interaction[Any], topic: str | None = None) -> None:
                await self.run_core_command(interaction, name, (topic or "")[:100])
            return app_commands.Command(name=name, description=description, callback=with_topic)

        async def plain(interaction: discord.Interaction[Any]) -> None:
            await self.run_core_command(interaction, name, "")
        return app_commands.Command(name=name, description=description, callback=plain)

    # --- core commands and buttons ---------------------------------------------------------------------------

    async def run_core_command(self, interaction: discord.Interaction[Any], name: str, argument: str) -> None:
        private = interaction.guild is not None
        if not await acknowledged(interaction, ephemeral=private, thinking=True):
            return
        async with self.adapter.tracked():
            conversation = await self._personal_conversation(interaction)
            sender = self._sender(interaction)
            event = IncomingMessage(conversation, sender, f"/{name} {argument}".strip(), f"i{interaction.id}")
            items = await self.adapter.core.handle(event)
            await self._answer(interaction, items, private)

    async def run_staff_command(self, interaction: discord.Interaction[Any], text: str) -> None:
        """`/claim`, `/resolve`, `/reply` in a staff channel; the core refuses them anywhere else."""
        staff = interaction.channel_id is not None and interaction.channel_id in self.adapter.staff_channels()
        if not await acknowledged(interaction, ephemeral=not staff, thinking=True):
            return
        async with self.adapter.tracked():
            conversation = ConversationRef("discord", str(interaction.channel_id), ConversationKind.GROUP)
            event = IncomingMessage(conversation, self._sender(interaction), text, f"i{interaction.id}")
            items = await self.adapter.core.handle(event)
            await self._answer(interaction, items, private=not staff)

    async def on_button(self, interaction: discord.Interaction[Any], action_id: str, value: str) -> None:
        """A Haven button was pressed: acknowledge at once, then let the core (or the adapter) answer."""
        if not await acknowledged(interaction):
            return
        async with self.adapter.tracked():
            if action_id in OWN_ACTIONS:
                await self._own_action(interaction, action_id)
                return
            staff = interaction.channel_id is not None and interaction.channel_id in self.adapter.staff_channels()
            if staff:
                conversation = ConversationRef("discord", str(interaction.channel_id), ConversationKind.GROUP)
            else:
                conversation = await self._personal_conversation(interaction)
            event = ButtonPressed(conversation, self._sender(interaction), action_id, value,
                                  interaction_id=str(interaction.id))
            items = await self.adapter.core.handle(event)
            await self._answer(interaction, items, private=interaction.guild is not None and not staff)

    async def _answer(self, interaction: discord.Interaction[Any], items: list[Any], private: bool) -> None:
        send = followup_sender(interaction, private)
        for item in items:
            if isinstance(item, Reply):
                await send_text(followup_sender(interaction, private or item.private), item.text, item.buttons)
        await self.adapter.render(send, [item for item in items if not isinstance(item, Reply)])

    async def _personal_conversation(self, interaction: discord.Interaction[Any]) -> ConversationRef:
        """The person's DM channel: their one private conversation, whichever channel they used."""
        channel = interaction.channel
        if interaction.guild is None and channel is not None:
            return ConversationRef("discord", str(channel.id), ConversationKind.DIRECT)
        dm = interaction.user.dm_channel or await interaction.user.create_dm()
        return ConversationRef("discord", str(dm.id), ConversationKind.DIRECT)

    def _sender(self, interaction: discord.Interaction[Any]) -> Any:
        locale = interaction.locale.value if interaction.locale else None
        return self.adapter.user_ref(interaction.user, interaction.guild_id, locale)

    # --- opt-outs --------------------------------------------------------------------------------------------

    async def optout(self, interaction: discord.Interaction[Any], what: str) -> None:
        if not await acknowledged(interaction, ephemeral=True, thinking=True):
            return
        kind = "checkon" if what == "checkon" else "monitoring"
        await self._set(interaction, kind, True)

    async def _own_action(self, interaction: discord.Interaction[Any], action_id: str) -> None:
        kind = "checkon" if "checkon" in action_id else "monitoring"
        await self._set(interaction, kind, action_id.endswith("_optout"))

    async def _set(self, interaction: discord.Interaction[Any], kind: str, opted_out: bool) -> None:
        adapter = self.adapter
        await adapter.store.set_opt_out(adapter.subject(kind, interaction.user.id), kind, opted_out)
        log.info("event=opt_%s kind=%s", "out" if opted_out else "in", kind)
        lang = self._lang(interaction)
        if opted_out:
            undo = Button(adapter.text(f"optout_{kind}_undo", lang), f"discord:{kind}_optin")
            text = adapter.text(f"optout_{kind}_done", lang)
            await send_text(followup_sender(interaction, True), text, (undo,))
        else:
            await send_text(followup_sender(interaction, True), adapter.text(f"optin_{kind}_done", lang))

    # --- /checkon --------------------------------------------------------------------------------------------

    async def checkon(self, interaction: discord.Interaction[Any], member: discord.Member | discord.User) -> None:
        if not await acknowledged(interaction, ephemeral=True, thinking=True):
            return
        async with self.adapter.tracked():
            await self._checkon(interaction, member)

    async def _checkon(self, interaction: discord.Interaction[Any], member: discord.Member | discord.User) -> None:
        adapter = self.adapter
        lang = self._lang(interaction)
        reply = followup_sender(interaction, True)
        if interaction.guild is None:
            await send_text(reply, adapter.text("checkon_not_here", lang))
            return
        if member.bot:
            await send_text(reply, adapter.text("checkon_bot", lang))
            return
        now = datetime.now(timezone.utc)
        recipient = adapter.subject("checkon", member.id)
        sender = adapter.subject("checkon-sender", interaction.user.id)
        claim = await adapter.store.claim_checkon(recipient, sender, now, adapter.settings.checkon_per_sender_per_day)
        if claim is not CheckonClaim.OK:
            log.info("event=checkon_refused reason=%s", claim.value)
            key = "checkon_sender_limit" if claim is CheckonClaim.SENDER_LIMIT else "checkon_refused"
            await send_text(reply, adapter.text(key, lang))
            return
        note = self._note(interaction.guild, member)
        try:
            dm = await member.create_dm()
            optout = Button(adapter.text("checkon_optout_button"), "discord:checkon_optout")
            await send_text(channel_sender(dm), note, (optout,))
        except discord.HTTPException as exc:
            await adapter.store.release_checkon(recipient, sender, now)
            log.info("event=checkon_undeliverable dms_closed=%s", is_dms_closed(exc))
            await send_text(reply, adapter.text("checkon_undeliverable", lang))
            return
        log.info("event=checkon_sent")
        await self._count("discord_checkon_sent", now)
        await send_text(reply, adapter.text("checkon_sent", lang))

    def _note(self, guild: discord.Guild, member: discord.Member | discord.User) -> str:
        adapter = self.adapter
        settings = adapter.guilds.get(guild.id)
        country = (settings.country if settings else None) or adapter.app.settings.bot.default_country
        lang = adapter.app.settings.bot.default_language
        lines = adapter.core.crisis.helplines(country, lang).lines
        listing = "\n".join(f"• {line.format_line()}" for line in lines)
        return adapter.text("checkon_note", lang, server=guild.name, helplines=listing)

    async def _count(self, name: str, now: datetime) -> None:
        """Counted without identifiers, like every other referral (design.md §4)."""
        try:
            await self.adapter.app.store.bump_counter(name, now.strftime("%Y-%m"))
        except Exception:   # noqa: BLE001 - a counter never blocks the person
            log.warning("event=counter_failed name=%s", name)

    def _lang(self, interaction: discord.Interaction[Any]) -> str:
        locale = interaction.locale.value if interaction.locale else ""
        return locale.split("-")[0] or self.adapter.app.settings.bot.default_language
