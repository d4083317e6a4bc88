"""Inlet strategies: pure functions from an event's policy and counters to "how many more to admit".

They hold no state and do no I/O; :meth:`core.room.WaitingRoom.tick` calls them once per
claimed tick, so each tick's increment happens exactly once however many schedulers run.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from dataclasses import replace

from .model import AdmissionPolicy, Counters, DoorRule, Strategy


def tick_index(policy: AdmissionPolicy, now: float) -> int:
    """The number of the tick ``now`` falls in; ticks are ``every`` seconds long."""
    return math.floor(now / policy.every)


def is_open(policy: AdmissionPolicy, now: float) -> bool:
    """Whether ``now`` lies in the policy's admission window."""
    if policy.start_at is not None and now < policy.start_at:
        return False
    return not (policy.end_at is not None and now >= policy.end_at)


def increment_for(policy: AdmissionPolicy, counters: Counters, now: float, admitted_in_window: int = 0) -> int:
    """How far to move the serving counter on one tick. Never negative, never past the line.

    ``admitted_in_window``: how many the periodic strategy's current window already let in at
    the door (:func:`door_rule`) before its tick ran; the tick lets in only the rest."""
    if policy.strategy is Strategy.MANUAL or not is_open(policy, now):
        return 0
    # MAX_ACTIVE fills the free slots; PERIODIC lets a fixed number in.
    if policy.strategy is Strategy.PERIODIC:
        wanted = policy.increment_by - max(0, admitted_in_window)
    else:
        wanted = policy.max_active - counters.active
    return max(0, min(wanted, counters.waiting))


def window_start(policy: AdmissionPolicy, now: float, grace: float = 0.0) -> float:
    """When the periodic window that ``now`` falls in began, as its tick numbers it (``now -
    grace``), moved ``grace`` later: no tick of that window lets anyone in before that instant."""
    return tick_index(policy, now - grace) * policy.every + grace


def door_rule(policy: AdmissionPolicy, now: float, grace: float = 0.0) -> DoorRule | None:
    """The rule under which a visitor entering at ``now`` is admitted at once while there is room,
    or None (manual admission, or outside the admission window, as :meth:`core.room.WaitingRoom.tick`
    judges it with ``grace``).

    ``max_active``: while fewer than ``max_active`` places are active. ``periodic``: while the
    current window has let in fewer than ``increment_by`` (its tick counts towards it too).
    """
    if policy.strategy is Strategy.MANUAL or not (is_open(policy, now - grace) and is_open(policy, now + grace)):
        return None
    if policy.strategy is Strategy.MAX_ACTIVE:
        return DoorRule(max_active=policy.max_active)
    return DoorRule(budget=policy.increment_by, since=window_start(policy, now, grace))


OVERRIDABLE = ("strategy", "increment_by", "every", "max_active", "start_at", "end_at")
"""Policy fields operators may override at run time."""

NO_TIME = ""
"""The override value of ``start_at`` / ``end_at`` that clears the configured time."""


def instant_or_none(value: str) -> float | None:
    return None if value == NO_TIME else float(value)


def with_overrides(policy: AdmissionPolicy, overrides: Mapping[str, str]) -> AdmissionPolicy:
    """Apply operators' runtime overrides (the fields in :data:`OVERRIDABLE`; ``start_at`` and
    ``end_at`` as POSIX seconds, or :data:`NO_TIME` for none).

    Invalid overrides are ignored rather than stopping admission: the configured policy stands.
    """
    changes: dict[str, object] = {}
    if "strategy" in overrides:
        with contextlib.suppress(ValueError):
            changes["strategy"] = Strategy(overrides["strategy"])
    casts: tuple[tuple[str, Callable[[str], object]], ...] = (
        ("increment_by", int), ("max_active", int), ("every", float),
        ("start_at", instant_or_none), ("end_at", instant_or_none))
    for name, cast in casts:
        if name in overrides:
            with contextlib.suppress(ValueError):
                changes[name] = cast(overrides[name])
    if not changes:
        return policy
    try:
        return replace(policy, **changes)  # type: ignore[arg-type]
    except ValueError:
        return policy
