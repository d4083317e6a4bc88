"""The inlet strategies of core/admission.py are pure functions of policy, counters and time."""

from __future__ import annotations

import pytest

from core import admission
from core.model import AdmissionPolicy, Counters, Strategy

from .conftest import periodic

T = 1_800_000_000.0


def counters(serving: int = 0, last: int = 0, **kw: int) -> Counters:
    return Counters(serving=serving, last_position=last, **kw)


def test_tick_index_changes_every_interval() -> None:
    policy = periodic(every=10)
    assert admission.tick_index(policy, T) == admission.tick_index(policy, T + 9.99)
    assert admission.tick_index(policy, T + 10) == admission.tick_index(policy, T) + 1
    assert admission.tick_index(periodic(every=0.5), 3.2) == 6


def test_window_includes_start_and_excludes_end() -> None:
    policy = periodic(start_at=T, end_at=T + 60)
    assert not admission.is_open(policy, T - 0.001)
    assert admission.is_open(policy, T)
    assert admission.is_open(policy, T + 59.999)
    assert not admission.is_open(policy, T + 60)
    assert admission.is_open(periodic(), 0)


def test_periodic_lets_n_in_but_never_past_the_line() -> None:
    policy = periodic(increment_by=50)
    assert admission.increment_for(policy, counters(0, 1000), T) == 50
    assert admission.increment_for(policy, counters(980, 1000), T) == 20
    assert admission.increment_for(policy, counters(1000, 1000), T) == 0
    assert admission.increment_for(periodic(50, start_at=T + 1), counters(0, 1000), T) == 0


def test_max_active_fills_free_slots_only() -> None:
    policy = AdmissionPolicy(strategy=Strategy.MAX_ACTIVE, max_active=10)
    assert admission.increment_for(policy, counters(0, 100), T) == 10
    assert admission.increment_for(policy, counters(10, 100), T) == 0  # 10 admitted, all active
    assert admission.increment_for(policy, counters(10, 100, completed=3, expired=1, timed_out=1), T) == 5
    assert admission.increment_for(policy, counters(10, 12, abandoned=10), T) == 2  # only 2 waiting
    over = counters(20, 100)  # more active than allowed after the limit was lowered
    assert admission.increment_for(policy, over, T) == 0


def test_manual_never_moves() -> None:
    assert admission.increment_for(AdmissionPolicy(), counters(0, 100), T) == 0


def test_overrides_apply_and_bad_ones_are_ignored() -> None:
    base = periodic(increment_by=5, every=10)
    assert admission.with_overrides(base, {}) is base
    assert admission.with_overrides(base, {"increment_by": "7", "every": "2.5"}) == periodic(7, 2.5)
    changed = admission.with_overrides(base, {"strategy": "max_active", "max_active": "9"})
    assert (changed.strategy, changed.max_active) == (Strategy.MAX_ACTIVE, 9)
    assert admission.with_overrides(base, {"strategy": "lottery", "increment_by": "x"}) == base
    assert admission.with_overrides(base, {"every": "0"}) == base  # would be invalid: configured policy stands
    assert admission.with_overrides(base, {"strategy": "max_active"}) == base  # max_active 0 is invalid
    assert admission.with_overrides(base, {"paused": "1"}) == base


@pytest.mark.parametrize(
    "kwargs",
    [
        {"every": 0},
        {"every": -1},
        {"increment_by": -1},
        {"strategy": Strategy.PERIODIC, "increment_by": 0},
        {"strategy": Strategy.MAX_ACTIVE, "max_active": 0},
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        AdmissionPolicy(**kwargs)  # type: ignore[arg-type]
