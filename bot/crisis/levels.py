"""Risk levels and the result of one assessment, shared by detection, response and escalation.

Levels follow the triage of the Columbia Suicide Severity Rating Scale (design.md §4): none; low (passive wish
to be dead, distress, past behaviour); moderate (active ideation, no plan); high (method, plan, intent, recent
self-harm or attempt, abuse or violence disclosed); imminent (means at hand, timeframe now, attempt under way).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class RiskLevel(IntEnum):
    NONE = 0
    LOW = 1
    MODERATE = 2
    HIGH = 3
    IMMINENT = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, label: str) -> "RiskLevel":
        return cls[label.strip().upper()]


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the detector concluded about one message (or, from risk.py, about the conversation so far).

    `signals` are stable names such as `wish_dead`, `ideation`, `method`, `plan`, `intent`, `timeframe`,
    `means_access`, `self_harm`, `attempt_in_progress`, `abuse`, `violence_to_others`, `third_party_concern`,
    `negated`, `figurative`, `past`. They are safe to log: they never contain the person's words.
    """

    level: RiskLevel
    signals: tuple[str, ...] = ()
    lang: str = "en"

    @property
    def escalate(self) -> bool:
        return self.level >= RiskLevel.MODERATE

    @property
    def about_someone_else(self) -> bool:
        return "third_party_concern" in self.signals

    def as_dict(self) -> dict[str, object]:
        return {"risk": self.level.label, "escalate": self.escalate, "signals": list(self.signals),
                "lang": self.lang}
