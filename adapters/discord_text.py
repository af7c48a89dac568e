"""Wording for what only the Discord adapter says (check-in notes, opt-outs, moderator housekeeping).

The message catalog wins: a `discord.<key>` entry in config/messages/<lang>.yaml replaces the English default
here, so translators can take these over without a code change. Everything here is deliberately free of
names and ids: a check-in note never says who asked for it.
"""

from __future__ import annotations

from typing import Any

from bot.i18n import Catalog

DEFAULTS: dict[str, str] = {
    "checkon_note": (
        "Hi. Someone in {server} cares about you and asked me to check in. They chose to stay anonymous, and "
        "nobody will be told whether you read this or reply.\n\n"
        "How are you doing? If you'd like to talk, you can write to me here, any time. I'm an AI, not a person, "
        "and I'm here to listen.\n\n"
        "If things are hard right now, these people can help:\n{helplines}"),
    "checkon_optout_button": "Don't send me these notes",
    "checkon_optout_done": "Understood. You won't receive check-in notes from me again. You can still write to "
                           "me any time.",
    "checkon_sent": "I've sent them a kind, anonymous note with some places to find support. Thank you for "
                    "looking out for them.",
    "checkon_refused": "I can't send them a note right now: each person gets at most one check-in note a day, "
                       "and people can choose not to receive them. If you're worried they're in danger, contact "
                       "emergency services or tell a moderator.",
    "checkon_sender_limit": "You've sent as many check-in notes as you can for today. If you're worried about "
                            "someone's safety, please tell a moderator.",
    "checkon_undeliverable": "I couldn't reach them: they don't accept direct messages from me. If you're "
                             "worried about them, you could reach out yourself or tell a moderator.",
    "checkon_not_here": "Check-in notes can only be sent from inside a server, to a member of it.",
    "checkon_bot": "That's a bot; check-in notes are for people.",
    "optout_monitoring_done": "Done. I won't look at your messages in this server's monitored channels. You can "
                              "still talk to me in direct messages, and /resources always works.",
    "optout_monitoring_undo": "Turn monitoring back on",
    "optin_monitoring_done": "Monitoring is back on for you: if you post something that worries me in a "
                             "monitored channel, I'll reach out privately.",
    "optout_checkon_done": "Done. You won't receive check-in notes from other members.",
    "optout_checkon_undo": "Accept check-in notes again",
    "optin_checkon_done": "You can receive check-in notes again.",
    "help_thread_name": "Private support",
    "help_thread_intro": "{member} this is a private thread. Only you, this server's helpers {helpers} and its "
                         "moderators can see it. Nothing you posted has been copied here. A helper will join you "
                         "when they can; you don't have to say anything you don't want to.",
    "dm_failed_notice": "{moderators} A member posted something in {channel} that suggests they may be in "
                        "crisis, and I could not reach them privately (they don't accept direct messages from "
                        "me). I have not replied publicly. Message: {link}",
    "permission_notice": "I'm missing a permission I need in {channel} ({what}). Please check the role and "
                         "channel permissions described in Haven's Discord guide. This notice is shown once.",
    "buttons_as_text": "Options: {labels}",
}


class DiscordText:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __call__(self, key: str, lang: str | None = None, **values: Any) -> str:
        try:
            return self._catalog.t(f"discord.{key}", lang, **values)
        except KeyError:
            return DEFAULTS[key].format(**values)
