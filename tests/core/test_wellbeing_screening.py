"""Screening questionnaires: data-driven PHQ-9 / GAD-7 / WHO-5, bands, the PHQ-9 item 9 crisis rule, history."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter, buttons, texts
from bot.config import Settings
from bot.events import Outgoing
from bot.flows.questionnaires import QuestionnaireError, load_all, parse
from bot.privacy import FieldCipher, generate_key
from bot.resources import ResourceDirectory
from bot.store.sqlite import SqliteStore
from tests.conftest import make_core
from tests.core.test_crisis_response import consented
from tests.core.test_escalation import build, escalation_settings

PHQ9 = load_all()["phq9"]


@pytest.mark.parametrize(("total", "band"), [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"),
                                             (10, "moderate"), (14, "moderate"), (15, "moderately_severe"),
                                             (19, "moderately_severe"), (20, "severe"), (27, "severe")])
def test_phq9_bands(total: int, band: str) -> None:
    assert PHQ9.band(total).id == band


def test_questionnaires_are_complete_data() -> None:
    questionnaires = load_all()
    assert set(questionnaires) >= {"phq9", "gad7", "who5"}
    assert len(PHQ9.items) == 9 and PHQ9.max_score == 27
    assert [s for s, _ in PHQ9.options] == [0, 1, 2, 3]
    assert PHQ9.items[8].crisis_above == 0 and PHQ9.crisis(8, 1) and not PHQ9.crisis(8, 0)
    assert not any(PHQ9.crisis(i, 3) for i in range(8))
    gad7, who5 = questionnaires["gad7"], questionnaires["who5"]
    assert gad7.max_score == 21 and gad7.band(10).id == "moderate" and gad7.band(15).id == "severe"
    assert who5.score([3, 2, 2, 2, 3]) == 48 and who5.band(48).id == "low" and who5.band(28).id == "very_low"
    assert who5.band(52).id == "good" and who5.max_score == 100
    assert PHQ9.items[0].text["de"] == "Wenig Interesse oder Freude an Ihren Tätigkeiten"


def test_a_clinic_questionnaire_with_overlapping_bands_is_rejected() -> None:
    data = {"id": "x", "name": "X", "intro": "Last week:", "options": [{"score": 0, "text": "No"},
                                                                      {"score": 1, "text": "Yes"}],
            "items": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}],
            "bands": [{"id": "low", "min": 0, "max": 1, "label": "low", "meaning": "m", "next": "n"},
                      {"id": "high", "min": 1, "max": 2, "label": "high", "meaning": "m", "next": "n"}]}
    with pytest.raises(QuestionnaireError, match="score 1 falls in 2 bands"):
        parse(data, "x.yaml")
    data["bands"][1]["min"] = 2
    assert parse(data, "x.yaml").band(2).id == "high"


async def answer_all(adapter: MemoryAdapter, qid: str, scores: list[int], start: int = 0) -> list[Outgoing]:
    out: list[Outgoing] = []
    for index, score in enumerate(scores, start=start):
        out = await adapter.press("scr:a", value=f"{qid}:{index}:{score}")
    return out


async def test_screen_lists_and_starts_and_a_result_explains_itself(memory: MemoryAdapter,
                                                                    store: SqliteStore) -> None:
    await consented(memory)
    listing = await memory.send("/screen")
    assert [b.value for b in buttons(listing)] == ["gad7", "phq9", "who5"]
    assert "not a diagnosis" in texts(listing)
    first = await memory.send("/screen phq9")
    assert "Question 1 of 9" in texts(first) and "Little interest or pleasure in doing things" in texts(first)
    assert [b.label for b in buttons(first)][:4] == ["Not at all", "Several days", "More than half the days",
                                                     "Nearly every day"]
    await memory.press("scr:a", value="phq9:0:2")
    await memory.press("scr:a", value="phq9:0:3")   # a stale button from question 1 is not counted again
    out = await memory.send("3")                    # typing the option's number works too (-> 2 points)
    assert "Question 3 of 9" in texts(out)
    out = await memory.send("nearly every day")     # ...and so does typing the option (-> 3 points)
    assert "Question 4 of 9" in texts(out)
    out = await answer_all(memory, "phq9", [0] * 6, start=3)
    assert "score is 7 out of 27: mild" in texts(out)
    [record] = await store.screenings(memory.core.ids.user_key("memory", "user-1"))
    assert record.answers == (2, 2, 3, 0, 0, 0, 0, 0, 0)


async def test_phq9_result_band_next_steps_and_history(memory: MemoryAdapter, store: SqliteStore) -> None:
    await consented(memory)
    await memory.send("/screen phq9")
    out = await answer_all(memory, "phq9", [2, 2, 1, 1, 1, 1, 1, 2, 0])
    text = texts(out)
    assert "score is 11 out of 27: moderate" in text
    assert "not a diagnosis" in text and "doctor" in text and "988" in text
    [record] = await store.screenings(memory.core.ids.user_key("memory", "user-1"))
    assert (record.score, record.band, record.answers) == (11, "moderate", (2, 2, 1, 1, 1, 1, 1, 2, 0))
    history = texts(await memory.send("/screenings"))
    assert "PHQ-9" in history and "11/27 moderate" in history


async def test_phq9_item9_goes_straight_to_the_crisis_reply_and_escalation(store: SqliteStore,
                                                                           directory: ResourceDirectory) -> None:
    person, runner, _, desk, _ = build(store, directory, escalation_settings())
    await consented(person)
    await person.send("/screen phq9")
    out = await answer_all(person, "phq9", [0, 0, 0, 0, 0, 0, 0, 0, 1])   # total 1: "minimal", item 9 "several days"
    text = texts(out)
    assert "Are you safe right now?" in text and "988" in text
    assert "score is" not in text and "minimal" not in text
    assert [b.action_id for b in buttons(out)][:2] == ["crisis:safe", "crisis:person"]
    await runner.run_until_idle()
    [notice] = desk.notices
    assert "phq9_item9" in notice.text and "HIGH" in notice.text
    # The crisis state holds: the next "I'm fine" is checked again, not taken as a questionnaire answer.
    assert "check once more" in texts(await person.send("I'm fine"))


async def test_stop_and_talking_instead_pause_the_questionnaire(memory: MemoryAdapter) -> None:
    await consented(memory)
    await memory.send("/screen gad7")
    out = await memory.send("actually I'd rather just talk about my week")
    assert "put the questionnaire aside" in texts(out)
    assert "Question 2" not in texts(await memory.send("it was long"))
    await memory.send("/screen who5")
    assert "stopped" in texts(await memory.press("scr:stop"))


async def test_answers_are_encrypted_at_rest(tmp_path: Path, settings: Settings, directory: ResourceDirectory) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3", FieldCipher(generate_key()))
    await store.open()
    adapter = MemoryAdapter(make_core(settings, store, directory))
    await consented(adapter)
    await adapter.send("/screen who5")
    await answer_all(adapter, "who5", [5, 4, 3, 2, 1])
    exported = await store.export_user(adapter.core.ids.user_key("memory", "user-1"))
    assert exported["screenings"][0]["answers"] == [5, 4, 3, 2, 1] and exported["screenings"][0]["score"] == 60
    await store.close()
    raw = sqlite3.connect(tmp_path / "s.sqlite3").execute("SELECT answers FROM screenings").fetchone()[0]
    assert raw.startswith("enc1:")


async def test_illinois_profile_shows_scores_without_interpretation(store, directory) -> None:  # type: ignore[no-untyped-def]
    from adapters.memory import MemoryAdapter, texts
    from bot.config import Settings
    from tests.conftest import make_core

    adapter = MemoryAdapter(make_core(Settings.model_validate({"compliance": {"profile": ["us-il"]}}), store,
                                      directory))
    await adapter.send("hi")
    await adapter.send("/screen gad7")
    out: list = []
    for index in range(7):
        out = await adapter.press("scr:a", value=f"gad7:{index}:0")
    text = texts(out)
    assert "score is 0 out of 21" in text and "licensed professional" in text
    assert "What this means" not in text and "minimal" not in text.lower()
