"""Screening questionnaires as data: config/questionnaires/<id>.yaml (format described in phq9.yaml).

Wording, answer options, scores and severity bands live in the files, so a clinic can add its own questionnaire
without code. Loading validates what scoring relies on: English text everywhere, bands that cover every
possible score exactly once, and crisis items that point at a real option score.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.paths import CONFIG_DIR

DIRECTORY = CONFIG_DIR / "questionnaires"
Text = dict[str, str]


def text(value: Text, lang: str) -> str:
    return value.get(lang) or value["en"]


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    text: Text
    #: An answer scoring above this goes straight to the crisis reply (PHQ-9 item 9: above 0).
    crisis_above: int | None = None


@dataclass(frozen=True, slots=True)
class Band:
    id: str
    min: int
    max: int
    label: Text
    meaning: Text
    next: Text
    services: bool


@dataclass(frozen=True, slots=True)
class Questionnaire:
    id: str
    name: Text
    intro: Text
    options: tuple[tuple[int, Text], ...]
    items: tuple[Item, ...]
    bands: tuple[Band, ...]
    multiplier: int = 1
    higher_is_better: bool = False

    @property
    def max_score(self) -> int:
        return max(score for score, _ in self.options) * len(self.items) * self.multiplier

    def score(self, answers: tuple[int, ...] | list[int]) -> int:
        """The reported score (the raw sum times the multiplier: WHO-5 reports a percentage)."""
        return sum(answers) * self.multiplier

    def band(self, score: int) -> Band:
        for band in self.bands:
            if band.min <= score <= band.max:
                return band
        raise ValueError(f"{self.id}: no band for score {score}")

    def crisis(self, item_index: int, answer: int) -> bool:
        limit = self.items[item_index].crisis_above
        return limit is not None and answer > limit


class QuestionnaireError(ValueError):
    pass


def _text(raw: Any, where: str) -> Text:
    if isinstance(raw, str):
        raw = {"en": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("en"), str) or not raw["en"].strip():
        raise QuestionnaireError(f"{where}: English text is required")
    return {str(k): str(v) for k, v in raw.items()}


def parse(data: dict[str, Any], source: str) -> Questionnaire:
    try:
        qid = str(data["id"])
        options = tuple((int(o["score"]), _text(o["text"], f"{source}: options")) for o in data["options"])
        items = tuple(Item(str(i["id"]), _text(i["text"], f"{source}: items.{i['id']}"),
                           None if i.get("crisis_above") is None else int(i["crisis_above"])) for i in data["items"])
        bands = tuple(Band(str(b["id"]), int(b["min"]), int(b["max"]), _text(b["label"], f"{source}: bands"),
                           _text(b["meaning"], f"{source}: bands"), _text(b["next"], f"{source}: bands"),
                           bool(b.get("services", False))) for b in data["bands"])
        questionnaire = Questionnaire(qid, _text(data["name"], f"{source}: name"),
                                      _text(data["intro"], f"{source}: intro"), options, items, bands,
                                      int(data.get("score_multiplier", 1)), bool(data.get("higher_is_better")))
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, QuestionnaireError):
            raise
        raise QuestionnaireError(f"{source}: malformed questionnaire ({error!r})") from None
    if not options or not items:
        raise QuestionnaireError(f"{source}: options and items are required")
    scores = [score for score, _ in options]
    possible = {total * questionnaire.multiplier for total in range(min(scores) * len(items),
                                                                    max(scores) * len(items) + 1)}
    for value in possible:
        matching = [b.id for b in bands if b.min <= value <= b.max]
        if len(matching) != 1:
            raise QuestionnaireError(f"{source}: score {value} falls in {len(matching)} bands")
    for item in items:
        if item.crisis_above is not None and item.crisis_above not in scores:
            raise QuestionnaireError(f"{source}: items.{item.id}.crisis_above is not an option score")
    return questionnaire


@lru_cache(maxsize=4)
def load_all(directory: Path = DIRECTORY) -> dict[str, Questionnaire]:
    """Every questionnaire in the directory, by id, in file-name order."""
    found: dict[str, Questionnaire] = {}
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise QuestionnaireError(f"{path.name}: a questionnaire must be a mapping")
        questionnaire = parse(data, path.name)
        found[questionnaire.id] = questionnaire
    return found
