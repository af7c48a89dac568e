"""`/ideas`: a few skills and services picked for this person, now.

Ranked by the topics they chose, how their recent check-ins went, what they found helpful before
(`profile["skill_feedback"][id]` from the skills library, `profile["idea_feedback"]` for the built-in ideas) and
the time of day in their own zone. Anything they marked unhelpful is never suggested again. The skills library
(config/skills/*.yaml, bot/flows/skills.py) is used when its feature runs; without it, a small built-in set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import mean
from typing import TYPE_CHECKING, Any

from bot.events import Button, ButtonPressed, Reply
from bot.flows.profile import profile_of, save, zone_of
from bot.flows.registry import Feature
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core

#: Built-in ideas (wording in the catalog under ideas.builtin.<id>): id -> (topics, coping style, times of day).
#: Topics are the skills library's concern ids, styles its coping-style ids (config/skills/README.md).
BUILTIN: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "box_breathing": (("anxiety", "stress", "sleep"), "breathing", ()),
    "grounding": (("anxiety", "stress"), "senses", ()),
    "short_walk": (("low_mood", "stress"), "movement", ("morning", "afternoon")),
    "reach_out": (("loneliness", "low_mood", "relationships", "grief"), "social", ("afternoon", "evening")),
    "three_lines": (("stress", "low_mood", "self_esteem", "grief"), "writing", ("evening",)),
    "wind_down": (("sleep", "stress"), "routine", ("evening", "night")),
    "kind_words": (("self_esteem", "low_mood"), "kindness", ()),
    "worry_time": (("anxiety", "stress"), "planning", ("morning", "afternoon")),
}
#: Profile topics -> resource directory topics.
RESOURCE_TOPICS = {"grief": "grief", "low_mood": "mental_health", "anxiety": "mental_health",
                   "loneliness": "mental_health", "stress": "mental_health"}
LOW_MOOD_TOPICS = {"low_mood", "stress", "anxiety", "loneliness"}
SKILL_PREFIX = "skill:"


@dataclass(frozen=True, slots=True)
class Idea:
    id: str
    title: str
    summary: str
    topics: tuple[str, ...]
    styles: tuple[str, ...]
    times: tuple[str, ...]
    from_library: bool


def part_of_day(hour: int) -> str:
    return "night" if hour >= 22 or hour < 6 else "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"


def _library_ideas(core: Core, lang: str) -> list[Idea]:
    """The skills library's exercises, when its feature is running (so their `skill:` buttons work)."""
    if core.features.button(SKILL_PREFIX) is None:
        return []
    try:
        from bot.llm.offline_skills import load_library
        skills = load_library().skills
    except (ImportError, OSError, ValueError):
        return []
    ideas = []
    for skill in skills:
        times = ("evening", "night") if "sleep" in skill.concerns[:1] else \
            ("morning", "afternoon", "evening") if {"movement", "activity"} & set(skill.styles) else ()
        text = skill.text(lang)
        ideas.append(Idea(skill.id, text.name, core.catalog.t("ideas.minutes", lang, minutes=skill.minutes),
                          tuple(skill.concerns), tuple(skill.styles), times, True))
    return ideas


def library(core: Core, lang: str) -> list[Idea]:
    """The skills library (bot/flows/skills.py, config/skills/) when it runs; else a small built-in set."""
    ideas = _library_ideas(core, lang)
    if ideas:
        return ideas
    t = core.catalog.t
    return [Idea(key, t(f"ideas.builtin.{key}.title", lang), t(f"ideas.builtin.{key}.text", lang), topics, (style,),
                 times, False) for key, (topics, style, times) in BUILTIN.items()]


def recent_mood(moods: list[Any], now: datetime) -> float | None:
    recent = [m.score for m in moods if m.at >= now - timedelta(days=7)]
    return mean(recent) if recent else None


def rank(ideas: list[Idea], profile: dict[str, Any], mood: float | None, part: str) -> list[Idea]:
    """Best first; anything marked unhelpful is left out."""
    feedback = {**(profile.get("idea_feedback") or {}), **(profile.get("skill_feedback") or {})}
    topics = set(profile.get("topics") or [])
    styles = set(profile.get("coping_styles") or [])
    scored: list[tuple[float, str, Idea]] = []
    for idea in ideas:
        if feedback.get(idea.id) == "down":
            continue
        score = 2.0 * len(topics & set(idea.topics)) + 1.5 * bool(styles & set(idea.styles))
        if mood is not None and mood <= 2.5:
            score += 1.0 * bool(LOW_MOOD_TOPICS & set(idea.topics))
        if idea.times:
            score += 1.0 if part in idea.times else -1.0
        score += 2.0 if feedback.get(idea.id) == "up" else 0.0
        scored.append((-score, idea.id, idea))
    return [idea for _, _, idea in sorted(scored, key=lambda item: (item[0], item[1]))]


class IdeasFlow:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.t = core.catalog.t

    async def suggestions(self, turn: Turn, limit: int = 3) -> list[Idea]:
        profile = profile_of(turn)
        moods = [] if turn.degraded else await self.core.store.moods(turn.user_key, turn.now - timedelta(days=7))
        part = part_of_day(turn.now.astimezone(zone_of(profile)).hour)
        return rank(library(self.core, turn.lang), profile, recent_mood(moods, turn.now), part)[:limit]

    def button(self, idea: Idea) -> Button:
        if idea.from_library:   # the skills feature's own "offer" button: `skill:offer:<id>` (bot/llm/offline_buttons.py)
            return Button(idea.title, f"{SKILL_PREFIX}offer:{idea.id}")
        return Button(idea.title, "ideas:show", idea.id)

    async def command(self, turn: Turn, argument: str) -> None:
        ideas = await self.suggestions(turn)
        profile = profile_of(turn)
        lines = [self.t("ideas.header", turn.lang)]
        lines += [f"• {idea.title} – {idea.summary}" if idea.summary else f"• {idea.title}" for idea in ideas]
        wanted = [RESOURCE_TOPICS[t] for t in profile.get("topics") or [] if t in RESOURCE_TOPICS]
        services = self.core.directory.search(country=turn.country, topic=(wanted or ["mental_health"])[0],
                                              lang=turn.lang, limit=2)
        if services:
            lines.append(self.t("ideas.services", turn.lang))
            lines += [f"• {entry.format_line()}" for entry in services]
        if not profile.get("topics"):
            lines.append(self.t("ideas.personalise", turn.lang))
        turn.outgoing.append(Reply("\n".join(lines), buttons=tuple(self.button(i) for i in ideas)))

    async def on_button(self, turn: Turn, event: ButtonPressed) -> None:
        idea_id = event.value
        if idea_id not in BUILTIN:
            return
        if event.action_id == "ideas:show":
            turn.outgoing.append(Reply(self.t(f"ideas.builtin.{idea_id}.how", turn.lang), buttons=(
                Button(self.t("ideas.helped", turn.lang), "ideas:up", idea_id),
                Button(self.t("ideas.not_helpful", turn.lang), "ideas:down", idea_id))))
        elif event.action_id in ("ideas:up", "ideas:down"):
            feedback = dict(profile_of(turn).get("idea_feedback") or {})
            feedback[idea_id] = event.action_id.removeprefix("ideas:")
            await save(self.core, turn, idea_feedback=feedback)
            turn.outgoing.append(Reply(self.t(f"ideas.thanks_{feedback[idea_id]}", turn.lang)))


def feature(core: Core) -> Feature:
    flow = IdeasFlow(core)
    return Feature(name="ideas", commands={"ideas": flow.command}, buttons={"ideas:": flow.on_button})
