"""Rolling per-conversation risk: persistence, slow decay, accumulation, and no reset by "jk"."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from bot.crisis import risk
from bot.crisis.levels import Assessment, RiskLevel

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
NONE = Assessment(RiskLevel.NONE, (), "en")
LOW = Assessment(RiskLevel.LOW, ("wish_dead",), "en")
HIGH = Assessment(RiskLevel.HIGH, ("method", "ideation"), "en")
IMMINENT = Assessment(RiskLevel.IMMINENT, ("means_access",), "en")


def test_first_message_passes_through() -> None:
    state, eff = risk.update(None, HIGH, T0)
    assert eff.level == RiskLevel.HIGH and state.peak == RiskLevel.HIGH


def test_jk_after_high_does_not_reset() -> None:
    state, _ = risk.update(None, HIGH, T0)
    for minutes in (1, 2, 5):
        state, eff = risk.update(state, NONE, T0 + timedelta(minutes=minutes))
        assert eff.level == RiskLevel.HIGH
        assert "persisting" in eff.signals and "method" in eff.signals


def test_high_stays_at_least_moderate_for_hours_then_decays_over_a_day() -> None:
    state, _ = risk.update(None, HIGH, T0)
    levels = [state.held(T0 + timedelta(hours=h)) for h in (0, 5, 7, 11, 13, 19, 25)]
    assert levels[0] == RiskLevel.HIGH
    assert all(lv >= RiskLevel.MODERATE for lv in levels[:4])
    assert levels == sorted(levels, reverse=True)
    assert levels[-1] == RiskLevel.NONE


def test_imminent_decays_step_by_step() -> None:
    state, _ = risk.update(None, IMMINENT, T0)
    seq = [state.held(T0 + timedelta(hours=h)) for h in range(0, 26, 6)]
    assert seq == [RiskLevel.IMMINENT, RiskLevel.HIGH, RiskLevel.MODERATE, RiskLevel.LOW, RiskLevel.NONE]


def test_three_low_turns_raise_to_moderate() -> None:
    state = None
    levels = []
    for i in range(3):
        state, eff = risk.update(state, LOW, T0 + timedelta(minutes=10 * i))
        levels.append(eff.level)
    assert levels[:2] == [RiskLevel.LOW, RiskLevel.LOW]
    assert levels[2] == RiskLevel.MODERATE and "cumulative" in eff.signals


def test_low_turns_far_apart_do_not_accumulate() -> None:
    state = None
    for i in range(3):
        state, eff = risk.update(state, LOW, T0 + timedelta(hours=8 * i))
    assert eff.level == RiskLevel.LOW


def test_effective_is_max_of_message_and_state() -> None:
    state, _ = risk.update(None, LOW, T0)
    state, eff = risk.update(state, IMMINENT, T0 + timedelta(minutes=1))
    assert eff.level == RiskLevel.IMMINENT
    state, eff = risk.update(state, LOW, T0 + timedelta(minutes=2))
    assert eff.level == RiskLevel.IMMINENT


def test_third_party_concern_is_not_the_writers_risk() -> None:
    friend = Assessment(RiskLevel.LOW, ("third_party_concern",), "en")
    state = None
    for i in range(4):
        state, eff = risk.update(state, friend, T0 + timedelta(minutes=i))
    assert eff.level == RiskLevel.LOW and state.peak == RiskLevel.NONE


def test_state_round_trips_through_json() -> None:
    state, _ = risk.update(None, HIGH, T0)
    state, _ = risk.update(state, LOW, T0 + timedelta(minutes=1))
    data = json.loads(json.dumps(state.to_dict()))
    again = risk.RiskState.from_dict(data)
    assert again == state
    assert again.held(T0 + timedelta(hours=1)) == RiskLevel.HIGH


def test_naive_times_are_utc_and_corrupt_state_loads_as_fresh() -> None:
    state, eff = risk.update(None, HIGH, T0.replace(tzinfo=None))
    assert eff.level == RiskLevel.HIGH
    assert risk.load({"peak": "bogus"}) is None
    assert risk.load(None) is None
