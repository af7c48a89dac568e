"""The crisis reply: deterministic text from the reviewed catalog plus numbers from the reviewed directory.

Nothing here calls a model, the network or the database, so the reply goes out even when all three are down.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.crisis.levels import Assessment, RiskLevel
from bot.events import Button, Reply
from bot.i18n import Catalog
from bot.resources import Resource, ResourceDirectory

CRISIS_BUTTONS = (("crisis.button_safe", "crisis:safe"), ("crisis.button_person", "crisis:person"),
                  ("crisis.button_plan", "crisis:plan"), ("crisis.button_grounding", "crisis:grounding"))


@dataclass(frozen=True, slots=True)
class Helplines:
    lines: list[Resource]
    emergency: str | None
    country_known: bool


def emergency_number(directory: ResourceDirectory, country: str | None) -> str | None:
    if not country:
        return None
    for entry in directory.search(country=country, kind="emergency"):
        for contact in entry.contacts:
            if contact.type == "phone":
                return contact.value
    return None


def helplines_for(directory: ResourceDirectory, country: str | None, lang: str | None,
                  youth: bool = False) -> Helplines:
    """The lines for a crisis reply. For someone who said they are a minor, youth services come first."""
    lines = [r for r in directory.crisis_lines(country, lang, limit=3) if r.kind != "emergency"]
    if youth and country:
        young = [r for r in directory.search(country=country, topic="youth", lang=lang, limit=2)
                 if r.kind != "emergency" and not r.is_international]
        lines = (young + [r for r in lines if r not in young])[:3]
    known = bool(country) and any(not r.is_international for r in lines)
    return Helplines(lines=lines, emergency=emergency_number(directory, country), country_known=known)


class CrisisResponder:
    def __init__(self, catalog: Catalog, directory: ResourceDirectory) -> None:
        self._catalog = catalog
        self._directory = directory

    def helplines(self, country: str | None, lang: str | None, youth: bool = False) -> Helplines:
        return helplines_for(self._directory, country, lang, youth)

    def reply(self, assessment: Assessment, country: str | None, lang: str, youth: bool = False) -> Reply:
        t = self._catalog.t
        help_ = self.helplines(country, lang, youth)
        parts = [t("crisis.opening", lang), t("crisis.safety_question", lang)]
        if assessment.level >= RiskLevel.IMMINENT and help_.emergency:
            # Danger may be immediate: the emergency number comes first, before anything else to read.
            parts.insert(0, t("crisis.imminent_first", lang, emergency=help_.emergency))
        listing = "\n".join(f"• {line.format_line()}" for line in help_.lines)
        if help_.country_known:
            parts.append(f"{t('crisis.helplines_intro', lang)}\n{listing}")
        else:
            parts.append(f"{t('crisis.unknown_country', lang)}\n{listing}")
        if help_.emergency:
            parts.append(t("crisis.emergency_line", lang, emergency=help_.emergency))
        parts.append(t("crisis.ai_reminder", lang))
        buttons = tuple(Button(t(label, lang), action) for label, action in CRISIS_BUTTONS)
        return Reply(text="\n\n".join(parts), buttons=buttons)

    def third_party_reply(self, country: str | None, lang: str) -> Reply:
        t = self._catalog.t
        help_ = self.helplines(country, lang)
        listing = "\n".join(f"• {line.format_line()}" for line in help_.lines)
        parts = [t("third_party.opening", lang), t("third_party.advice", lang),
                 f"{t('third_party.helplines_intro', lang)}\n{listing}"]
        if help_.emergency:
            parts.append(t("crisis.emergency_line", lang, emergency=help_.emergency))
        return Reply(text="\n\n".join(parts))
