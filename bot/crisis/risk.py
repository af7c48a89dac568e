"""Rolling per-conversation risk: what Haven remembers about risk between messages.

Why: one message is a poor unit of risk. Someone who said "I have the pills" and then "jk" or "I'm fine" is not
safe because the second message scores none; someone who writes three quietly hopeless messages in a row is
more at risk than any one of them says. So the effective level of a turn is the higher of this message's
level and a remembered level that decays slowly:

* Persistence and decay: the remembered level is the peak seen so far, lowered one step per `DECAY_STEP`
  (6 h) of calm: imminent fades over ~24 h, high over ~18 h, and high or imminent stays at least moderate for
  `HOLD` (12 h). "jk", "I'm fine", "never mind" score none, so they cannot lower anything by themselves.
* Accumulation: `CUMULATIVE_COUNT` (3) low-level turns (passive wishes, hopelessness, past behaviour) inside
  `WINDOW` (6 h) make the turn moderate.
* Someone else's risk (`third_party_concern` only) is not remembered as the writer's.

Effective assessments say why with extra signal names: `persisting` (raised by the remembered level, the
peak's signals are repeated) and `cumulative` (raised by several low turns). The state is a small frozen value
with `to_dict()`/`from_dict()` so the store can keep it as JSON; it never contains message text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.crisis.levels import Assessment, RiskLevel

DECAY_STEP = timedelta(hours=6)
HOLD = timedelta(hours=12)
WINDOW = timedelta(hours=6)
CUMULATIVE_COUNT = 3
_VERSION = 1
_MAX_LOWS = 16


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


@dataclass(frozen=True, slots=True)
class RiskState:
    """The remembered risk of one conversation. Immutable: `update` returns a new one."""

    peak: RiskLevel = RiskLevel.NONE
    peak_at: datetime | None = None
    peak_signals: tuple[str, ...] = ()
    low_turns: tuple[datetime, ...] = field(default_factory=tuple)

    def held(self, now: datetime) -> RiskLevel:
        """The remembered level at `now` after decay."""
        if self.peak_at is None or self.peak == RiskLevel.NONE:
            return RiskLevel.NONE
        elapsed = max(timedelta(0), _utc(now) - self.peak_at)
        level = RiskLevel(max(0, int(self.peak) - int(elapsed // DECAY_STEP)))
        if self.peak >= RiskLevel.HIGH and elapsed < HOLD:
            level = max(level, RiskLevel.MODERATE)
        return level

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": _VERSION,
            "peak": self.peak.label,
            "peak_at": self.peak_at.isoformat() if self.peak_at else None,
            "peak_signals": list(self.peak_signals),
            "low_turns": [t.isoformat() for t in self.low_turns],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RiskState":
        """Inverse of to_dict. Raises ValueError on malformed data (the caller decides; see `load`)."""
        try:
            peak = RiskLevel.parse(str(data.get("peak", "none")))
            raw_at = data.get("peak_at")
            peak_at = _utc(datetime.fromisoformat(raw_at)) if raw_at else None
            signals = tuple(str(s) for s in data.get("peak_signals", ()))
            lows = tuple(_utc(datetime.fromisoformat(str(t))) for t in data.get("low_turns", ()))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed risk state: {exc}") from None
        return cls(peak, peak_at, signals, lows[-_MAX_LOWS:])


def load(data: dict[str, Any] | None) -> RiskState | None:
    """Tolerant loader for the store: a corrupt record must not break the safety path, so it reads as a fresh
    state (the current message still gets its own full assessment)."""
    if not data:
        return None
    try:
        return RiskState.from_dict(data)
    except ValueError:
        return None


def _own_risk(a: Assessment) -> bool:
    """Does this assessment describe the writer's own risk (not only someone else's)?"""
    if a.level == RiskLevel.NONE:
        return False
    others_only = a.about_someone_else and not (set(a.signals) - {"third_party_concern", "negated",
                                                                   "figurative", "technical", "fiction"})
    return not others_only


def update(state: RiskState | None, assessment: Assessment, now: datetime) -> tuple[RiskState, Assessment]:
    """Fold one message's assessment into the conversation state; return (new state, effective assessment)."""
    now = _utc(now)
    state = state or RiskState()
    held = state.held(now)
    current = assessment.level
    signals = list(assessment.signals)
    own = _own_risk(assessment)

    lows = tuple(t for t in state.low_turns if now - t <= WINDOW)
    if own and current == RiskLevel.LOW:
        lows = (lows + (now,))[-_MAX_LOWS:]

    effective = current
    if held > effective:
        effective = held
        signals.append("persisting")
        signals.extend(state.peak_signals)
    if own and effective < RiskLevel.MODERATE and len(lows) >= CUMULATIVE_COUNT:
        effective = RiskLevel.MODERATE
        signals.append("cumulative")

    if own and effective >= held and effective > RiskLevel.NONE and (current >= held or "cumulative" in signals):
        peak_signals = tuple(sorted(set(assessment.signals) | ({"cumulative"} if "cumulative" in signals else set())))
        new_state = RiskState(effective, now, peak_signals, lows)
    else:
        new_state = RiskState(state.peak, state.peak_at, state.peak_signals, lows)

    out = Assessment(effective, tuple(sorted(set(signals))), assessment.lang)
    return new_state, out
