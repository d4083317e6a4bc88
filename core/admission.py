"""Inlet strategies: pure functions from an event's policy and counters to "how many more to admit".

They hold no state and do no I/O; :meth:`core.room.WaitingRoom.tick` calls them once per
claimed tick, so each tick's increment happens exactly once however many schedulers run.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import replace

from .model import AdmissionPolicy, Counters, Strategy


def tick_index(policy: AdmissionPolicy, now: float) -> int:
    """The number of the tick ``now`` falls in; ticks are ``every`` seconds long."""
    return math.floor(now / policy.every)


def is_open(policy: AdmissionPolicy, now: float) -> bool:
    """Whether ``now`` lies in the policy's admission window."""
    if policy.start_at is not None and now < policy.start_at:
        return False
    return not (policy.end_at is not None and now >= policy.end_at)


def increment_for(policy: AdmissionPolicy, counters: Counters, now: float) -> int:
    """How far to move the serving counter on one tick. Never negative, never past the line."""
    if policy.strategy is Strategy.MANUAL or not is_open(policy, now):
        return 0
    # MAX_ACTIVE fills the free slots; PERIODIC lets a fixed number in.
    wanted = policy.increment_by if policy.strategy is Strategy.PERIODIC else policy.max_active - counters.active
    return max(0, min(wanted, counters.waiting))


def with_overrides(policy: AdmissionPolicy, overrides: Mapping[str, str]) -> AdmissionPolicy:
    """Apply operators' runtime overrides (``strategy``, ``increment_by``, ``every``, ``max_active``).

    Invalid overrides are ignored rather than stopping admission: the configured policy stands.
    """
    changes: dict[str, object] = {}
    if "strategy" in overrides:
        with contextlib.suppress(ValueError):
            changes["strategy"] = Strategy(overrides["strategy"])
    for name, cast in (("increment_by", int), ("max_active", int), ("every", float)):
        if name in overrides:
            with contextlib.suppress(ValueError):
                changes[name] = cast(overrides[name])
    if not changes:
        return policy
    try:
        return replace(policy, **changes)  # type: ignore[arg-type]
    except ValueError:
        return policy
