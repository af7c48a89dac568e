"""What Haven says on Slack beyond the core's replies: the workplace note, the mention nudge, the Home tab.

All wording comes from the message catalog (`slack_*` keys); helplines come from the resource directory. Opening
the Home tab or mentioning Haven is not consent to anything, so nothing here reads or writes the store: language
and country come from the person's Slack locale, the way the core derives them for a new conversation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.crisis.respond import emergency_number, helplines_for
from bot.events import Attachment

if TYPE_CHECKING:
    from bot.app import HavenApp

HOME_RESOURCES = 6
INLINE_FILE_BYTES = 2500
_INLINE_TYPES = ("application/json", "text/plain", "text/calendar")


class SlackTexts:
    def __init__(self, app: HavenApp) -> None:
        self._app = app

    def t(self, key: str, lang: str | None = None, **values: Any) -> str:
        return self._app.core.catalog.t(key, lang or self._app.settings.bot.default_language, **values)

    def lang_country(self, locale: str | None) -> tuple[str, str]:
        """Language and country from a Slack locale such as `en-GB`, else the configured defaults."""
        bot = self._app.settings.bot
        lang_part, _, country_part = (locale or "").replace("_", "-").partition("-")
        lang = lang_part.lower()
        if not lang or not self._app.core.catalog.has_language(lang):
            lang = bot.default_language
        country = country_part.upper() if len(country_part) == 2 else bot.default_country
        return lang, country

    def workspace_note(self, locale: str | None) -> str:
        lang, _ = self.lang_country(locale)
        hint = self._app.settings.slack.private_channel_hint
        extra = self.t("slack_private_channel", lang, hint=hint) if hint else ""
        return self.t("slack_workspace_note", lang, private_channel=extra)

    def mention_nudge(self, locale: str | None) -> str:
        """The only answer to an @mention: continue in a DM, and here is help now. Nothing about the message."""
        lang, country = self.lang_country(locale)
        return self.t("slack_mention_nudge", lang, emergency=self._emergency(country),
                      crisis_line=self._crisis_line(country, lang))

    def home(self, locale: str | None) -> tuple[str, list[str]]:
        """The Home tab's title and paragraphs: support first (the organisation's own services rank first in the
        directory already), then short notes."""
        lang, country = self.lang_country(locale)

        def home_t(key: str, **values: Any) -> str:
            return self.t(f"slack_home.{key}", lang, **values)

        found = self._app.core.directory.search(country=country, lang=lang, limit=HOME_RESOURCES)
        if found:
            listing = "\n".join(f"• {entry.format_line()}" for entry in found)
            resources = f"{home_t('resources_header')}\n{listing}"
        else:
            resources = home_t("resources_none", emergency=self._emergency(country))
        # Placeholders: the settings, safety-plan and check-in notes are general text, not the person's own
        # status. Showing their status would mean reading the store for someone who may never have agreed to
        # anything, and those flows are still being built. Swap in read-only summaries once they exist.
        sections = [home_t("intro"), resources, home_t("settings"), home_t("safety_plan"), home_t("check_ins"),
                    home_t("privacy")]
        return home_t("title", bot_name=self._app.settings.bot.name), sections

    def attachment(self, item: Attachment) -> str:
        """Files need `files:write` and a three-step upload, not done yet: small text files go inline, the rest
        are described."""
        if item.mime_type in _INLINE_TYPES and len(item.content) <= INLINE_FILE_BYTES:
            body = item.content.decode("utf-8", errors="replace")
            return f"{item.caption}\n{item.filename}:\n{body}".strip()
        return self.t("slack_attachment_unavailable", filename=item.filename, caption=item.caption).strip()

    def _emergency(self, country: str) -> str:
        return emergency_number(self._app.core.directory, country) or "your local emergency number"

    def _crisis_line(self, country: str, lang: str) -> str:
        lines = helplines_for(self._app.core.directory, country, lang).lines
        return lines[0].format_line() if lines else "a local crisis line"
