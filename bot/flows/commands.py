"""Commands and the small flows behind them (consent, erase). Platform-neutral: adapters map their own
command syntax (`/help`, Slack `/haven help`, Discord slash commands) onto these names."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import json
from datetime import datetime

from bot.events import Attachment, Button, ButtonPressed, IncomingEvent, IncomingMessage, Outgoing, Reply
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger("haven.flows")
CONSENT_VERSION = "2026-11-1"
#: Topic buttons under /resources, most asked-for first.
TOPIC_ORDER = ("suicide", "mental_health", "youth", "domestic_violence", "sexual_assault", "lgbtq", "veterans",
               "eating_disorders", "substance_use", "grief")


class CommandFlows:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.t = core.catalog.t

    # --- first contact ---------------------------------------------------------------------------------------

    async def disclose(self, turn: Turn) -> None:
        """The AI disclosure on first contact (and on /start). Consent is asked, never assumed."""
        settings = self.core.settings
        cipher_note = self.t("encryption_note", turn.lang) if settings.privacy.encryption_key else ""
        text = self.t("disclosure", turn.lang, bot_name=settings.bot.name,
                      retention_days=settings.privacy.retention_days, encryption_note=cipher_note,
                      emergency=self._emergency(turn), crisis_line=self.core._crisis_line_text(turn.country, turn.lang))
        note = self.core.catalog.get(f"platform_note.{turn.event.conversation.platform}", turn.lang)
        if note:
            text += "\n" + note
        turn.outgoing.append(Reply(text))
        if not turn.consented:
            turn.outgoing.append(Reply(self.t("consent_question", turn.lang), buttons=(
                Button(self.t("consent_agree", turn.lang), "consent:yes"),
                Button(self.t("consent_decline", turn.lang), "consent:no"))))
        turn.disclosed = True
        if not turn.degraded:
            await self.core.store.update_user(turn.user_key, disclosed_at=turn.now)
            await self.core.store.audit("disclosure_shown", turn.now, turn.user_key, {"version": CONSENT_VERSION})

    def _emergency(self, turn: Turn) -> str:
        from bot.crisis.respond import emergency_number
        return emergency_number(self.core.directory, turn.country) or "your local emergency number"

    # --- commands --------------------------------------------------------------------------------------------

    async def dispatch(self, turn: Turn, text: str) -> bool:
        """Handle `text` if it is a command or answers a pending flow; False lets the responder answer."""
        if not text.startswith("/"):
            return False
        name, _, argument = text[1:].partition(" ")
        name = name.split("@", 1)[0].lower()   # Telegram appends @botname in groups
        handler = {
            "start": self._start, "help": self._help, "about": self._about,
            "resources": self._resources, "forget": self._forget, "safetyplan": self._safetyplan,
            "mydata": self._mydata,
        }.get(name) or self.core.features.commands.get(name)
        if handler is None:
            turn.outgoing.append(Reply(self.t("unknown_command", turn.lang, command="/" + name[:32])))
        else:
            await handler(turn, argument.strip())
        return True

    async def _start(self, turn: Turn, argument: str) -> None:
        if not turn.disclosed:
            await self.disclose(turn)

    async def _help(self, turn: Turn, argument: str) -> None:
        text = self.t("help", turn.lang)
        if turn.event.conversation.platform == "console":
            text += "\n" + self.t("help_console_extra", turn.lang)
        turn.outgoing.append(Reply(text))

    async def _about(self, turn: Turn, argument: str) -> None:
        responder = "responder_anthropic" if self.core.responder.name == "anthropic" else "responder_offline"
        turn.outgoing.append(Reply(self.t(
            "about", turn.lang, bot_name=self.core.settings.bot.name, responder=self.t(responder, turn.lang),
            retention_days=self.core.settings.privacy.retention_days, emergency=self._emergency(turn))))

    async def _resources(self, turn: Turn, argument: str) -> None:
        """Helplines for the person's country, with buttons to narrow by topic (`/resources youth` works too)."""
        directory = self.core.directory
        topic = argument.lower().strip() or None
        found = directory.search(country=turn.country, topic=topic, lang=turn.lang, limit=6)
        if found and not all(r.is_international for r in found):
            header = self.t("resources_header", turn.lang, country=turn.country)
        elif found:
            header = self.t("resources_international", turn.lang)
        else:
            turn.outgoing.append(Reply(self.t("resources_none", turn.lang)))
            return
        listing = "\n".join(f"• {entry.format_line()}" for entry in found)
        topics = sorted({t for entry in directory.search(country=turn.country) if not entry.is_international
                         for t in entry.topics} - {"general", topic or ""})
        buttons = tuple(Button(self.t(f"topics.{name}", turn.lang), "res:topic", name)
                        for name in TOPIC_ORDER if name in topics)[:6]
        turn.outgoing.append(Reply(f"{header}\n{listing}", buttons=buttons))

    async def _safetyplan(self, turn: Turn, argument: str) -> None:
        await self.core.safety_plan.start(turn)

    async def _mydata(self, turn: Turn, argument: str) -> None:
        """Everything stored about the person, as a JSON file (the right of access)."""
        data = {} if turn.degraded else await self.core.store.export_user(turn.user_key)
        if not data:
            turn.outgoing.append(Reply(self.t("mydata_empty", turn.lang)))
            return
        export = {"exported_at": turn.now.isoformat(), "service": self.core.settings.bot.name, **data}
        content = json.dumps(export, ensure_ascii=False, indent=2, default=str).encode("utf-8")
        turn.outgoing.append(Attachment(f"haven-export-{turn.now:%Y%m%d}.json", content, "application/json",
                                        caption=self.t("mydata_caption", turn.lang)))
        await self.core.store.audit("data_exported", turn.now, turn.user_key, {})

    async def _forget(self, turn: Turn, argument: str) -> None:
        turn.flow()["pending"] = "forget"
        turn.outgoing.append(Reply(self.t("forget_confirm", turn.lang), buttons=(
            Button(self.t("forget_yes", turn.lang), "forget:yes"),
            Button(self.t("forget_no", turn.lang), "forget:no"))))

    # --- staff destinations --------------------------------------------------------------------------------

    async def staff_event(self, event: IncomingEvent, now: datetime) -> list[Outgoing]:
        """Events from a configured staff chat: Claim/Resolve buttons and /claim, /resolve, /reply commands.
        Staff chats never enter the person pipeline (no disclosure, no profile, nothing stored about staff)."""
        escalator = self.core.escalator
        sender = event.sender
        if isinstance(event, ButtonPressed) and event.action_id in ("case:claim", "case:resolve"):
            return list(await escalator.staff_action(conversation=event.conversation, staff_id=sender.user_id,
                                                     staff_name=sender.display_name,
                                                     action=event.action_id.split(":", 1)[1], case_id=event.value,
                                                     now=now))
        if isinstance(event, IncomingMessage) and event.text.startswith("/"):
            name, _, rest = event.text[1:].partition(" ")
            name = name.split("@", 1)[0].lower()
            if name in ("claim", "resolve"):
                return list(await escalator.staff_action(conversation=event.conversation, staff_id=sender.user_id,
                                                         staff_name=sender.display_name, action=name,
                                                         case_id=rest.strip(), now=now))
            if name == "reply":
                case_id, _, text = rest.strip().partition(" ")
                return list(await escalator.staff_relay(conversation=event.conversation, case_id=case_id,
                                                        text=text, now=now))
        return []

    # --- buttons ---------------------------------------------------------------------------------------------

    async def on_button(self, turn: Turn, event: ButtonPressed) -> None:
        action = event.action_id
        if action == "consent:yes":
            turn.consented = True
            if not turn.degraded:
                await self.core.store.update_user(turn.user_key, consent_version=CONSENT_VERSION, consent_at=turn.now)
                await self.core.store.audit("consent_given", turn.now, turn.user_key, {"version": CONSENT_VERSION})
            turn.outgoing.append(Reply(self.t("consent_thanks", turn.lang)))
        elif action == "consent:no":
            if not turn.degraded:
                await self.core.store.audit("consent_declined", turn.now, turn.user_key, {"version": CONSENT_VERSION})
            turn.outgoing.append(Reply(self.t("consent_declined", turn.lang)))
        elif action == "forget:yes" and turn.flow().get("pending") == "forget":
            await self.core.store.erase_user(turn.user_key)
            turn.erased = True
            log.info("event=user_erased")
            turn.outgoing.append(Reply(self.t("forget_done", turn.lang)))
        elif action == "forget:no" or action == "forget:yes":
            turn.flow().pop("pending", None)
            turn.outgoing.append(Reply(self.t("forget_cancelled", turn.lang)))
        elif action.startswith(("crisis:", "esc:", "followup:")):
            await self.core.crisis_flow.on_button(turn, action)
        elif (feature := self.core.features.button(action)) is not None:
            await feature(turn, event)
        elif action == "res:topic":
            await self._resources(turn, event.value)
        elif action.startswith("plan:"):
            await self.core.safety_plan.on_button(turn, action)
        else:
            log.info("event=unknown_button")
