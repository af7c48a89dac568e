"""/ideas: suggestions ranked by topics, recent moods, past feedback and time of day; never what didn't help."""

from __future__ import annotations

from datetime import datetime, timezone

from adapters.memory import MemoryAdapter, buttons, texts
from bot.config import Settings
from bot.flows.ideas import BUILTIN, Idea, part_of_day, rank
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from tests.core.test_crisis_response import consented, wired


def idea(key: str, topics: tuple[str, ...], style: str, times: tuple[str, ...] = ()) -> Idea:
    return Idea(key, key, "", topics, (style,), times, False)


IDEAS = [idea("breathe", ("anxiety",), "breathing"), idea("walk", ("low_mood",), "movement", ("morning",)),
         idea("sleep", ("sleep",), "routine", ("night",)), idea("call", ("loneliness",), "social")]


def ids(ideas: list[Idea]) -> list[str]:
    return [i.id for i in ideas]


def test_topics_styles_feedback_and_time_of_day_rank() -> None:
    assert ids(rank(IDEAS, {"topics": ["loneliness"]}, None, "afternoon"))[0] == "call"
    assert ids(rank(IDEAS, {"coping_styles": ["breathing"]}, None, "afternoon"))[0] == "breathe"
    assert ids(rank(IDEAS, {}, None, "night"))[0] == "sleep"
    assert ids(rank(IDEAS, {"skill_feedback": {"walk": "up"}}, None, "afternoon"))[0] == "walk"
    low = rank(IDEAS, {}, 1.5, "afternoon")
    assert ids(low)[:2] == ["breathe", "call"]   # low recent mood: mood-related ideas first
    assert "walk" not in ids(rank(IDEAS, {"skill_feedback": {"walk": "down"}}, None, "morning"))
    assert "call" not in ids(rank(IDEAS, {"idea_feedback": {"call": "down"}}, None, "morning"))
    assert [part_of_day(h) for h in (3, 9, 15, 20, 23)] == ["night", "morning", "afternoon", "evening", "night"]


async def test_ideas_use_the_skills_library_and_respect_unhelpful_marks(settings: Settings, store: SqliteStore,
                                                                        directory: ResourceDirectory) -> None:
    adapter, _, clock = wired(settings, store, directory)
    clock.now = datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc)
    await consented(adapter)
    await adapter.press("set:topic", value="loneliness")
    out = await adapter.send("/ideas")
    suggested = [b.action_id for b in buttons(out)]
    assert suggested and all(a.startswith("skill:offer:") for a in suggested)
    assert "988" in texts(out)   # and people they can reach
    first = suggested[0].removeprefix("skill:offer:")
    assert "loneliness" in _concerns(first)
    await adapter.press(f"skill:fb:{first}", value="down")   # the skills library's "didn't help"
    again = [b.action_id for b in buttons(await adapter.send("/ideas"))]
    assert f"skill:offer:{first}" not in again


def _concerns(skill_id: str) -> tuple[str, ...]:
    from bot.llm.offline_skills import load_library
    skill = load_library().get(skill_id)
    assert skill is not None
    return skill.concerns


async def test_built_in_ideas_without_the_skills_library(settings: Settings, store: SqliteStore,
                                                         directory: ResourceDirectory) -> None:
    adapter, _, _ = wired(settings, store, directory)
    adapter.core.features.buttons.pop("skill:", None)   # a deployment without the skills feature
    await consented(adapter)
    out = await adapter.send("/ideas")
    shown = [b.value for b in buttons(out) if b.action_id == "ideas:show"]
    assert shown and set(shown) <= set(BUILTIN)
    how = await adapter.press("ideas:show", value=shown[0])
    assert [b.action_id for b in buttons(how)] == ["ideas:up", "ideas:down"]
    assert "won't suggest it again" in texts(await adapter.press("ideas:down", value=shown[0]))
    assert shown[0] not in [b.value for b in buttons(await adapter.send("/ideas"))]


async def test_personal_tip_until_topics_are_chosen(memory: MemoryAdapter) -> None:
    await consented(memory)
    assert "/settings" in texts(await memory.send("/ideas"))
