"""The reviewed skills library (config/skills/<id>.yaml) and the choice of which skill to offer.

Shared by the offline responder (which offers a skill) and bot/flows/skills.py (which guides it). What was offered
in a conversation lives in the responder's memory under `skills`; what the person thought of a skill lives in
their profile (`skill_feedback`), so a skill they marked unhelpful is never offered again, anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.paths import CONFIG_DIR

SKILLS_DIR = CONFIG_DIR / "skills"
LEXICON_FILE = "concerns.yaml"
MAX_ID = 24
_ID = re.compile(r"^[a-z0-9_]+$")
#: Wording a reviewed skill must never use: no treatment, diagnosis or medication talk, no promised outcomes.
FORBIDDEN = re.compile(r"\b(cure[sd]?|guarantee[sd]?|diagnos\w*|medication|medicine|prescri\w*|dose|dosage|"
                       r"therapy|therapist|treatment|treats?|heal[s]?|will (?:fix|stop|cure)|always works)\b",
                       re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SkillText:
    name: str
    why: str
    steps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Skill:
    id: str
    concerns: tuple[str, ...]
    styles: tuple[str, ...]
    minutes: int
    texts: dict[str, SkillText]

    def text(self, lang: str) -> SkillText:
        return self.texts.get(lang) or self.texts["en"]


def _skill(data: Any, path: Path) -> Skill:
    where = path.name
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping")
    skill_id = data.get("id")
    if skill_id != path.stem or not isinstance(skill_id, str) or not _ID.match(skill_id) or len(skill_id) > MAX_ID:
        raise ValueError(f"{where}: id must equal the file name, [a-z0-9_], at most {MAX_ID} characters")
    concerns = data.get("concerns")
    if not isinstance(concerns, list) or not concerns or not all(isinstance(c, str) for c in concerns):
        raise ValueError(f"{where}: concerns must be a non-empty list of concern ids")
    styles = data.get("styles") or []
    minutes = data.get("minutes")
    if not isinstance(minutes, int) or not 1 <= minutes <= 60:
        raise ValueError(f"{where}: minutes must be a whole number from 1 to 60")
    texts: dict[str, SkillText] = {}
    for lang, block in (data.get("text") or {}).items():
        if not isinstance(block, dict):
            raise ValueError(f"{where}: text.{lang} must be a mapping")
        name, why, steps = block.get("name"), block.get("why"), block.get("steps")
        if not isinstance(name, str) or not isinstance(why, str) or not name.strip() or not why.strip():
            raise ValueError(f"{where}: text.{lang} needs a name and a why")
        if not isinstance(steps, list) or not 2 <= len(steps) <= 8 or not all(isinstance(s, str) for s in steps):
            raise ValueError(f"{where}: text.{lang}.steps must be 2 to 8 lines")
        for line in (name, why, *steps):
            if FORBIDDEN.search(line):
                raise ValueError(f"{where}: text.{lang} uses wording a skill must not use: {line!r}")
        texts[str(lang)] = SkillText(name.strip(), why.strip(), tuple(s.strip() for s in steps))
    if "en" not in texts:
        raise ValueError(f"{where}: English text (text.en) is required")
    return Skill(skill_id, tuple(concerns), tuple(str(s).lower() for s in styles), minutes, texts)


class Library:
    """Skills in file-name order, looked up by id."""

    def __init__(self, skills: list[Skill]) -> None:
        self.skills = tuple(skills)
        self._by_id = {skill.id: skill for skill in skills}

    def get(self, skill_id: str) -> Skill | None:
        return self._by_id.get(skill_id)

    def for_concern(self, concern: str) -> list[Skill]:
        return [skill for skill in self.skills if concern in skill.concerns]

    def choose(self, concern: str, profile: dict[str, Any], memory: dict[str, Any]) -> Skill | None:
        """The best skill for `concern` that this person has not rejected and this conversation has not seen.

        Ranked by where the concern sits in the skill's own list (its best fit first), then a skill the person
        said helped before, then a match with their coping styles.
        """
        feedback = feedback_of(profile)
        seen = set(skill_memory(memory).get("offered", []))
        styles = {str(s).lower() for s in profile.get("coping_styles") or [] if isinstance(s, str)}
        candidates = [skill for skill in self.for_concern(concern)
                      if feedback.get(skill.id) != "down" and skill.id not in seen]
        if not candidates:
            return None

        def rank(skill: Skill) -> tuple[float, str]:
            score = float(skill.concerns.index(concern))
            if feedback.get(skill.id) == "up":
                score -= 1.5
            if styles & set(skill.styles):
                score -= 2.0
            return score, skill.id

        return min(candidates, key=rank)


def feedback_of(profile: dict[str, Any]) -> dict[str, str]:
    feedback = profile.get("skill_feedback")
    return feedback if isinstance(feedback, dict) else {}


def skill_memory(memory: dict[str, Any]) -> dict[str, Any]:
    """The `skills` part of the responder's per-conversation memory: offered, declined, done, active."""
    entry = memory.setdefault("skills", {})
    if not isinstance(entry, dict):
        entry = memory["skills"] = {}
    return entry


def remember(memory: dict[str, Any], key: str, skill_id: str, limit: int = 40) -> None:
    items = skill_memory(memory).setdefault(key, [])
    if skill_id not in items:
        items.append(skill_id)
        del items[:-limit]


@lru_cache(maxsize=4)
def load_library(directory: Path | None = None, concern_ids: tuple[str, ...] | None = None) -> Library:
    directory = directory or SKILLS_DIR
    skills = [_skill(yaml.safe_load(path.read_text(encoding="utf-8")), path)
              for path in sorted(directory.glob("*.yaml")) if path.name != LEXICON_FILE]
    if concern_ids is not None:
        for skill in skills:
            unknown = set(skill.concerns) - set(concern_ids)
            if unknown:
                raise ValueError(f"{skill.id}.yaml: unknown concerns {sorted(unknown)}")
    return Library(skills)
