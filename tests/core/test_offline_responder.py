"""The offline responder and guided skills, through the memory adapter with real SQLite, detector and catalog.

What a person should experience with no API key: their concern is recognised and reflected in other words, one
open question, a fitting skill offered (not forced), guided step by step with buttons, "did that help?" remembered
so an unhelpful skill is never offered again, no repeated replies, their name used now and then, and a crisis
message always answered by the crisis reply rather than an exercise.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from adapters.memory import MemoryAdapter, buttons, texts
from bot.events import Button, Reply
from bot.i18n import Catalog
from bot.llm.base import ResponderContext
from bot.llm.offline import OfflineResponder
from bot.llm.offline_lexicon import load_lexicon, normalize
from bot.llm.offline_skills import FORBIDDEN, load_library
from bot.store.sqlite import SqliteStore

#: The coping styles people can pick in /settings (bot/flows/settings.py COPING_STYLES).
SETTINGS_STYLES = ("breathing", "movement", "mindfulness", "senses", "writing", "social", "kindness", "activity")
CATALOG = Catalog()
LEXICON = load_lexicon()
LIBRARY = load_library(concern_ids=LEXICON.concern_ids)
CONCERNS = LEXICON.concern_ids

#: One example message per concern, in the person's own words (none of them is a crisis message).
EXAMPLES = {
    "stress": "Everything is piling up and I feel completely overwhelmed",
    "anxiety": "I get so anxious before meetings, my heart is pounding",
    "low_mood": "I've been feeling really down and empty for weeks",
    "loneliness": "I moved to a new city and I feel so lonely here",
    "sleep": "I can't sleep, my mind races every night",
    "grief": "My grandmother passed away last month and I keep thinking about her",
    "anger": "I'm furious, I snapped at everyone today",
    "relationships": "My girlfriend and I keep arguing about everything",
    "work_study": "My exams start next week and I haven't revised enough",
    "self_esteem": "I feel worthless, like I'm never good enough compared to everyone",
}
OTHER_LANGUAGES = [
    ("es", "stress", "estoy muy estresada con todo"),
    ("es", "low_mood", "me siento muy triste últimamente"),
    ("es", "loneliness", "me siento sola desde que me mudé"),
    ("es", "sleep", "no puedo dormir por las noches"),
    ("de", "anxiety", "ich habe solche Angst vor morgen"),
    ("de", "loneliness", "ich fühle mich so einsam"),
    ("de", "work_study", "meine Prüfung ist nächste Woche"),
    ("de", "grief", "meine Oma ist gestorben und die Trauer ist groß"),
]


def options(key: str) -> list[str]:
    return [str(o) for o in CATALOG.raw(key, "en")]


def reply_with_buttons(out: list[Any]) -> Reply:
    return next(item for item in out if isinstance(item, Reply) and item.buttons)


def skill_buttons(out: list[Any]) -> list[Button]:
    return [b for b in buttons(out) if b.action_id.startswith("skill:")]


def parrots(message: str, reply: str, window: int = 4) -> bool:
    """True when `window` consecutive words of the message appear verbatim in the reply."""
    said, answered = normalize(message), " ".join(normalize(reply))
    return any(" ".join(said[i:i + window]) in answered for i in range(len(said) - window + 1))


async def consented(memory: MemoryAdapter, **kwargs: Any) -> None:
    await memory.send("hi", **kwargs)
    await memory.press("consent:yes", **{k: v for k, v in kwargs.items() if k in ("user", "chat")})


async def profile_of(memory: MemoryAdapter, store: SqliteStore, user: str = "user-1") -> dict[str, Any]:
    record = await store.get_user(memory.core.ids.user_key("memory", user))
    assert record is not None
    return record.profile


# --- recognising concerns --------------------------------------------------------------------------------------


@pytest.mark.parametrize("concern", CONCERNS)
async def test_each_concern_is_recognised_reflected_and_asked_about(memory: MemoryAdapter, concern: str) -> None:
    await consented(memory)
    message = EXAMPLES[concern]
    out = await memory.send(message)
    text = texts(out)
    assert LEXICON.read(message, "en").concern == concern
    assert text.startswith(tuple(options(f"offline.reflections.{concern}")))
    assert text.endswith(tuple(options(f"offline.questions.{concern}")))
    assert text.count("?") == 1                     # exactly one open question
    assert not parrots(message, text)                # paraphrased by concern, never echoed
    assert "Are you safe right now?" not in text     # none of these is a crisis message


@pytest.mark.parametrize(("lang", "concern", "message"), OTHER_LANGUAGES)
def test_spanish_and_german_keywords(lang: str, concern: str, message: str) -> None:
    assert LEXICON.read(message, lang).concern == concern
    assert LEXICON.read(message, "en").concern == concern      # found even when the locale says English


def test_every_language_lists_every_concern() -> None:
    assert {"en", "es", "de"} <= set(LEXICON.languages)
    for code, language in LEXICON.languages.items():
        assert set(language.concerns) == set(CONCERNS), code
        assert all(len(patterns) >= 3 for patterns in language.concerns.values()), code


@pytest.mark.parametrize(("message", "expected"), [
    ("I'm not anxious, just curious", None),
    ("I'm not sleeping well at all", "sleep"),
    ("I have no motivation to do anything", "low_mood"),
    ("stressed about work", "stress"),                        # the feeling outranks the setting
    ("my dad passed away in spring", "grief"),               # not "relationships" because of "dad"
    ("I've had a rough week at work", "work_study"),
])
def test_negation_and_weighting(message: str, expected: str | None) -> None:
    assert LEXICON.read(message, "en").concern == expected


@pytest.mark.parametrize(("message", "kind"), [
    ("hi", "greeting"), ("Hello there!", "greeting"), ("thanks", "thanks"), ("ok thanks so much", "thanks"),
    ("ok", "ack"), ("bye!", "bye"), ("how are you?", "howareyou"), ("gracias", "thanks"), ("danke", "thanks"),
])
def test_small_talk_is_recognised(message: str, kind: str) -> None:
    assert LEXICON.read(message, "en").smalltalk == kind


async def test_small_talk_gets_a_brief_natural_answer_without_a_skill(memory: MemoryAdapter) -> None:
    await consented(memory)
    await memory.send(EXAMPLES["stress"])
    for message in ("thanks", "ok", "bye"):
        out = await memory.send(message)
        text = texts(out)
        assert not skill_buttons(out) and text.endswith("?") and len(text) < 140
    assert texts(await memory.send("thank you")).startswith(tuple(
        line.replace("{name_part}", "") for line in options("offline.smalltalk.thanks")))


# --- skills: offer, guide, feedback ----------------------------------------------------------------------------


async def test_skill_offered_then_guided_to_the_end_and_feedback_remembered(memory: MemoryAdapter,
                                                                             store: SqliteStore) -> None:
    await consented(memory)
    first = await memory.send("I can't sleep, my mind races")
    assert not skill_buttons(first)                       # listen first
    offer = await memory.send("it has been like this every night for weeks")
    assert [b.action_id for b in buttons(offer)] == ["skill:try:sleep_wind_down", "skill:no:sleep_wind_down"]
    assert [b.label for b in buttons(offer)] == ["Try it", "Not now"]
    assert texts(offer).endswith("?") and "Sleep wind-down plan" in texts(offer)

    skill = LIBRARY.get("sleep_wind_down")
    assert skill is not None
    steps = skill.text("en").steps
    out = await memory.press("skill:try:sleep_wind_down")
    for index, step in enumerate(steps):
        assert f"Step {index + 1} of {len(steps)}: {step}" in texts(out)
        next_button, stop_button = buttons(out)
        assert (next_button.label, stop_button.label) == ("Next", "Stop")
        assert next_button.action_id == "skill:next:sleep_wind_down" and next_button.value == str(index + 1)
        out = await memory.press(next_button.action_id, value=next_button.value)
    assert "Did that help?" in texts(out)
    assert [(b.action_id, b.value) for b in buttons(out)] == [("skill:fb:sleep_wind_down", "up"),
                                                                ("skill:fb:sleep_wind_down", "down")]
    assert buttons(out)[0].label.startswith("👍") and buttons(out)[1].label.startswith("👎")
    thanks = await memory.press("skill:fb:sleep_wind_down", value="up")
    assert "glad" in texts(thanks)
    assert (await profile_of(memory, store))["skill_feedback"] == {"sleep_wind_down": "up"}


async def test_a_thumbs_down_skill_is_never_offered_again(memory: MemoryAdapter, store: SqliteStore) -> None:
    await consented(memory)
    await memory.press("skill:try:grounding_54321")
    await memory.press("skill:next:grounding_54321", value="99")          # past the last step: feedback
    reply = await memory.press("skill:fb:grounding_54321", value="down")
    assert "won't suggest" in texts(reply)
    assert (await profile_of(memory, store))["skill_feedback"] == {"grounding_54321": "down"}
    # Many anxious messages, in this conversation and a new one: other skills, never grounding.
    offered: list[str] = []
    for chat in ("dm-user-1", "second-chat"):
        for message in ["I'm so anxious", "I'm scared about tomorrow", "what can I do about the worry?",
                        "I'm having a panic attack", "my anxiety is bad", "I keep worrying", "any tips?"]:
            out = await memory.send(message, chat=chat)
            offered += [b.action_id for b in skill_buttons(out)]
    assert offered and not any("grounding_54321" in action for action in offered)
    listing = await memory.send("/skills")
    assert not any(b.action_id.endswith("grounding_54321") for b in buttons(listing))
    assert "hidden" in texts(listing)
    everything = [b.action_id for b in buttons(await memory.send("/skills all"))]
    everything += [b.action_id for b in buttons(await memory.press("skill:list", value="all:1"))]
    assert "skill:offer:grounding_54321" in everything


async def test_not_now_and_stop_are_respected(memory: MemoryAdapter) -> None:
    await consented(memory)
    await memory.send("I feel so lonely")
    offer = await memory.send("nobody ever calls me")
    [try_button, not_now] = skill_buttons(offer)
    assert "keep talking" in texts(await memory.press(not_now.action_id))
    started = await memory.press("skill:try:box_breathing")
    assert "Step 1 of" in texts(started)
    assert "stop here" in texts(await memory.press("skill:stop:box_breathing"))
    # The declined skill is not offered again in this conversation.
    later = []
    for message in ["still lonely", "I feel isolated", "I have no one to talk to", "so alone tonight"]:
        later += [b.action_id for b in skill_buttons(await memory.send(message))]
    assert try_button.action_id not in later


async def test_a_skill_walked_away_from_does_not_block_later_offers(memory: MemoryAdapter) -> None:
    await consented(memory)
    await memory.press("skill:try:box_breathing")
    assert not skill_buttons(await memory.send("I feel so lonely"))        # may be answering a step: no offer
    offers = []
    for message in ["nobody calls me", "I'm isolated", "no one to talk to", "all alone again"]:
        offers += skill_buttons(await memory.send(message))
    assert offers


async def test_skills_command_lists_skills_as_buttons_with_pages(memory: MemoryAdapter) -> None:
    await consented(memory)
    first = await memory.send("/skills")
    actions = [b.action_id for b in buttons(first)]
    assert len(actions) <= 7 and actions[-1] == "skill:list"
    second = await memory.press("skill:list", value=buttons(first)[-1].value)
    listed = {a for a in actions + [b.action_id for b in buttons(second)] if a.startswith("skill:offer:")}
    assert listed == {f"skill:offer:{s.id}" for s in LIBRARY.skills}
    intro = await memory.press("skill:offer:worry_time")
    assert "Worry time (about 15 min)" in texts(intro)
    assert [b.action_id for b in buttons(intro)] == ["skill:try:worry_time", "skill:no:worry_time"]
    assert "couldn't find" in texts(await memory.press("skill:try:no_such_skill"))


async def test_asking_for_help_offers_a_skill_straight_away(memory: MemoryAdapter) -> None:
    await consented(memory)
    out = await memory.send("I'm really stressed, what can I do?")
    assert skill_buttons(out) and texts(out).endswith("?")
    menu = await memory.send("/skills")   # unrelated to the offer: still works
    assert buttons(menu)


# --- conversation quality --------------------------------------------------------------------------------------


async def test_no_repeated_reply_over_ten_turns(memory: MemoryAdapter) -> None:
    await consented(memory)
    said = []
    for message in ["work is so stressful", "my boss keeps adding deadlines", "I don't know", "it's just a lot",
                    "I'm stressed", "I'm stressed", "I'm stressed", "and I can't sleep", "ok", "ok"]:
        said.append(texts(await memory.send(message)))
    assert len(set(said)) == len(said)
    same = [texts(await memory.send("I feel stressed", chat="same-message")) for _ in range(10)]
    assert len(set(same)) == len(same)


async def test_name_from_profile_is_used(memory: MemoryAdapter, store: SqliteStore) -> None:
    await consented(memory)
    await store.update_user(memory.core.ids.user_key("memory", "user-1"),
                            profile={"preferred_name": "Sam", "coping_styles": ["writing"]})
    greeting = texts(await memory.send("hello", chat="new-chat"))
    assert "Sam" in greeting
    replies = [texts(await memory.send(m, chat="new-chat"))
               for m in ["I'm so anxious lately", "it's about my job", "it keeps me up", "yes", "hmm"]]
    assert 1 <= sum("Sam" in r for r in replies) <= 2        # now and then, not in every line
    # Coping styles: someone who likes writing things down is offered a writing skill for worry first.
    assert LIBRARY.choose("anxiety", {"coping_styles": ["writing"]}, {}).id in {"worry_time", "thought_record"}
    assert LIBRARY.choose("anxiety", {}, {}).id == "grounding_54321"


async def test_a_name_given_in_conversation_is_used(memory: MemoryAdapter) -> None:
    await consented(memory)
    assert "Nice to meet you, Lucía" in texts(await memory.send("Hola, me llamo Lucía"))


async def test_crisis_message_gets_the_crisis_reply_never_a_skill(memory: MemoryAdapter) -> None:
    await consented(memory)
    await memory.send("I feel so low")
    await memory.send("nothing helps")
    await memory.press("skill:try:small_activity")                      # mid-skill
    out = await memory.send("I want to kill myself")
    assert "Are you safe right now?" in texts(out)
    assert not skill_buttons(out)
    assert all(b.action_id.startswith("crisis:") for b in buttons(out))


# --- reviewed data ---------------------------------------------------------------------------------------------


def test_skills_library_is_complete_and_safely_worded() -> None:
    ids = {skill.id for skill in LIBRARY.skills}
    assert {"box_breathing", "grounding_54321", "small_activity", "thought_record", "worry_time",
            "sleep_wind_down", "self_compassion", "muscle_relaxation"} <= ids and 10 <= len(ids) <= 12
    for skill in LIBRARY.skills:
        text = skill.text("en")
        assert text.why.startswith("Many people find"), skill.id
        assert not any(FORBIDDEN.search(line) for line in (text.name, text.why, *text.steps)), skill.id
        assert len(f"skill:no:{skill.id}|") <= 64                     # Telegram callback data
        assert set(skill.styles) & set(SETTINGS_STYLES), skill.id    # reachable from /settings choices
    for concern in CONCERNS:
        assert len(LIBRARY.for_concern(concern)) >= 3, concern


def test_catalog_questions_are_single_open_questions() -> None:
    for concern in CONCERNS:
        assert all(q.endswith("?") and q.count("?") == 1 for q in options(f"offline.questions.{concern}"))
        assert all("?" not in r for r in options(f"offline.reflections.{concern}"))
        assert len(options(f"offline.reflections.{concern}")) >= 4 and len(options(f"offline.questions.{concern}")) >= 4
    for key in ("offline.continuations", "offline.offers", "offline.name_leads"):
        assert all("?" not in line for line in options(key))
    assert not re.search(r"\b(cure|diagnos|medication|guarantee)", str(CATALOG.raw("offline", "en")), re.I)


# --- never fails -----------------------------------------------------------------------------------------------


_RESPONDER = OfflineResponder(CATALOG)
_SHARED_MEMORY: dict[str, Any] = {}


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(max_size=400), st.sampled_from(list(EXAMPLES.values()) + ["hi", "ok", "thanks", "",
                                                                                         "what can I do?"])),
       lang=st.sampled_from(["en", "es", "de", "fr", "xx"]), shared=st.booleans(),
       profile=st.sampled_from([{}, {"preferred_name": "Sam"}, {"preferred_name": 5, "coping_styles": "oops"},
                                {"skill_feedback": {"box_breathing": "down"}}, {"skill_feedback": ["bad"]},
                                {"skill_feedback": {s.id: "down" for s in LIBRARY.skills}}]))
def test_responder_never_raises_and_always_answers(text: str, lang: str, shared: bool,
                                                   profile: dict[str, Any]) -> None:
    memory = _SHARED_MEMORY if shared else {}
    reply = asyncio.run(_RESPONDER.reply(text, ResponderContext(lang=lang, profile=profile, memory=memory)))
    assert reply.text.strip()
    assert reply.text.endswith("?") or reply.buttons
    assert reply.source == "offline" and _RESPONDER.name == "offline" and _RESPONDER.uses_history is False
