"""Rule: abandoned and expired places never stall the line; issued sessions time out."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import InvalidTransition, PositionExpired, SessionEnded
from core.model import Status, SweepResult

from .helpers import EVENT, T0, admitted, rid

EXPIRY = 60.0


def test_admitted_positions_expire_after_the_period(store: Any) -> None:
    ids = admitted(store, 3)
    store.enter(EVENT, rid(), None, T0)  # one more waiting, so the counter can move
    assert store.sweep(EVENT, T0 + EXPIRY - 0.5, EXPIRY, False) == SweepResult(expired=0, timed_out=0, serving=3)
    assert store.sweep(EVENT, T0 + EXPIRY, EXPIRY, False) == SweepResult(expired=3, timed_out=0, serving=3)
    for r in ids:
        ticket = store.get_ticket(EVENT, r, T0 + EXPIRY)
        assert ticket.status is Status.EXPIRED and ticket.session is None and ticket.admitted_at == T0
        with pytest.raises(PositionExpired):
            store.issue_session(EVENT, r, "jti", 1, 2, T0 + EXPIRY)
        with pytest.raises(InvalidTransition):
            store.end_session(EVENT, r, Status.ABANDONED, T0 + EXPIRY)
    counters = store.counters(EVENT)
    assert (counters.expired, counters.serving, counters.active, counters.waiting) == (3, 3, 0, 1)


def test_issue_refuses_a_place_past_its_claim_period_before_any_sweep(store: Any) -> None:
    late, on_time = admitted(store, 1)[0], rid()
    store.enter(EVENT, on_time, None, T0 + 30)
    store.advance_serving(EVENT, 1, T0 + 30)  # admitted 30 s after the first
    with pytest.raises(PositionExpired):
        store.issue_session(EVENT, late, "jti-late", 1, 2, T0 + EXPIRY, EXPIRY)
    assert store.get_ticket(EVENT, late, T0 + EXPIRY).status is Status.ADMITTED  # the sweep marks it, later
    issued = store.issue_session(EVENT, on_time, "jti-on-time", 1, 2, T0 + EXPIRY, EXPIRY)
    assert issued.status is Status.ISSUED
    # 0 sets no limit (expiry off), and an issued session is returned however late it is asked for again
    assert store.issue_session(EVENT, late, "jti-any", 1, 2, T0 + 10 * EXPIRY, 0.0).status is Status.ISSUED
    assert store.issue_session(EVENT, on_time, "jti-again", 1, 2, T0 + 10 * EXPIRY, EXPIRY).session.jti == "jti-on-time"
    assert store.counters(EVENT).issued == 2


def test_sweep_is_idempotent_at_the_same_instant(store: Any) -> None:
    admitted(store, 2)
    for _ in range(5):
        store.enter(EVENT, rid(), None, T0)
    assert store.sweep(EVENT, T0 + EXPIRY, EXPIRY, True) == SweepResult(2, 0, 4)
    assert store.sweep(EVENT, T0 + EXPIRY, EXPIRY, True) == SweepResult(0, 0, 4)
    assert store.counters(EVENT).expired == 2


def test_claimed_and_waiting_positions_do_not_expire(store: Any) -> None:
    ids = admitted(store, 2)
    waiting = rid()
    store.enter(EVENT, waiting, None, T0)
    store.issue_session(EVENT, ids[0], "jti", int(T0), int(T0) + 10_000, T0 + 1)
    assert store.sweep(EVENT, T0 + 1000, EXPIRY, False).expired == 1
    assert store.get_ticket(EVENT, ids[0], T0).status is Status.ISSUED
    assert store.get_ticket(EVENT, ids[1], T0).status is Status.EXPIRED
    assert store.get_ticket(EVENT, waiting, T0).status is Status.WAITING


def test_expiry_counts_from_each_positions_own_admission(store: Any) -> None:
    ids = [rid() for _ in range(4)]
    for r in ids:
        store.enter(EVENT, r, None, T0)
    store.advance_serving(EVENT, 2, T0)
    store.advance_serving(EVENT, 2, T0 + 30)
    assert store.sweep(EVENT, T0 + EXPIRY + 10, EXPIRY, False).expired == 2
    assert [store.get_ticket(EVENT, r, T0).status for r in ids] == [Status.EXPIRED] * 2 + [Status.ADMITTED] * 2
    store.issue_session(EVENT, ids[2], "jti", 1, 10_000_000_000, T0 + 80)
    assert store.sweep(EVENT, T0 + 30 + EXPIRY, EXPIRY, False).expired == 1
    assert store.get_ticket(EVENT, ids[3], T0).status is Status.EXPIRED
    assert store.get_ticket(EVENT, ids[2], T0).status is Status.ISSUED


def test_expiry_zero_turns_it_off(store: Any) -> None:
    (r,) = admitted(store, 1)
    assert store.sweep(EVENT, T0 + 10**7, 0, True) == SweepResult(0, 0, 1)
    assert store.get_ticket(EVENT, r, T0).status is Status.ADMITTED
    # Turning expiry on later still expires what was admitted long ago.
    assert store.sweep(EVENT, T0 + 10**7, EXPIRY, True).expired == 1


def test_expired_positions_advance_serving_by_as_many_but_not_past_the_line(store: Any) -> None:
    admitted(store, 3)
    late = [rid() for _ in range(2)]
    for r in late:
        store.enter(EVENT, r, None, T0 + 1)
    result = store.sweep(EVENT, T0 + EXPIRY, EXPIRY, True)
    assert result == SweepResult(expired=3, timed_out=0, serving=5)  # 3 expired, only 2 more to admit
    assert [store.get_ticket(EVENT, r, T0).status for r in late] == [Status.ADMITTED] * 2
    assert [store.get_ticket(EVENT, r, T0).admitted_at for r in late] == [T0 + EXPIRY] * 2
    assert store.serving_history(EVENT, 0) == [(T0, 3), (T0 + EXPIRY, 5)]


def test_a_long_run_of_abandoned_places_never_stalls_the_line(store: Any) -> None:
    """Nobody in the first 45 places claims; sweeps alone walk the line to the one visitor who does."""
    line = [rid() for _ in range(50)]
    for r in line:
        store.enter(EVENT, r, None, T0)
    store.advance_serving(EVENT, 5, T0)
    now = T0
    sweeps = 0
    while store.get_ticket(EVENT, line[45], now).status is Status.WAITING:
        now += EXPIRY
        result = store.sweep(EVENT, now, EXPIRY, True)
        sweeps += 1
        assert result.expired == 5, f"sweep {sweeps} at serving {result.serving}"
        assert sweeps < 20, "the line stalled"
    assert sweeps == 9
    assert store.issue_session(EVENT, line[45], "jti", int(now), int(now) + 60, now).status is Status.ISSUED
    counters = store.counters(EVENT)
    assert (counters.expired, counters.serving, counters.issued) == (45, 50, 1)
    assert all(store.get_ticket(EVENT, r, now).status is Status.EXPIRED for r in line[:45])


def test_a_sweep_without_incr_serving_leaves_the_counter(store: Any) -> None:
    admitted(store, 2)
    store.enter(EVENT, rid(), None, T0)
    assert store.sweep(EVENT, T0 + EXPIRY, EXPIRY, False) == SweepResult(2, 0, 2)
    assert store.counters(EVENT).serving == 2


def test_issued_sessions_time_out_when_their_tokens_run_out(store: Any) -> None:
    ids = admitted(store, 3)
    store.issue_session(EVENT, ids[0], "a", int(T0), int(T0) + 100, T0)
    store.issue_session(EVENT, ids[1], "b", int(T0), int(T0) + 100, T0)
    store.issue_session(EVENT, ids[2], "c", int(T0), int(T0) + 500, T0)
    store.end_session(EVENT, ids[1], Status.COMPLETED, T0 + 1)
    assert store.sweep(EVENT, T0 + 99.9, 0, True).timed_out == 0
    assert store.sweep(EVENT, T0 + 100, 0, True) == SweepResult(expired=0, timed_out=1, serving=3)
    assert store.sweep(EVENT, T0 + 100, 0, True).timed_out == 0
    timed_out = store.get_ticket(EVENT, ids[0], T0)
    assert timed_out.status is Status.TIMED_OUT
    assert timed_out.session is not None and timed_out.session.ended_at == T0 + 100
    assert timed_out.session.jti == "a"
    assert store.get_ticket(EVENT, ids[1], T0).status is Status.COMPLETED
    assert store.get_ticket(EVENT, ids[2], T0).status is Status.ISSUED
    with pytest.raises(SessionEnded):
        store.issue_session(EVENT, ids[0], "again", 1, 2, T0 + 101)
    with pytest.raises(InvalidTransition):
        store.end_session(EVENT, ids[0], Status.COMPLETED, T0 + 101)
    counters = store.counters(EVENT)
    assert (counters.timed_out, counters.completed, counters.active) == (1, 1, 1)


def test_expired_request_ids_newest_last(store: Any) -> None:
    ids = [rid() for _ in range(6)]
    for r in ids:
        store.enter(EVENT, r, None, T0)
    store.advance_serving(EVENT, 3, T0)
    store.issue_session(EVENT, ids[0], "jti", int(T0), int(T0) + 50, T0)
    assert store.expired_request_ids(EVENT, 10) == []
    store.sweep(EVENT, T0 + EXPIRY, EXPIRY, False)  # ids[0] timed out, ids[1:3] expired at one instant
    store.advance_serving(EVENT, 3, T0 + EXPIRY)
    store.sweep(EVENT, T0 + 2 * EXPIRY, EXPIRY, False)  # ids[3:6] expired later
    assert store.expired_request_ids(EVENT, 100) == ids
    assert store.expired_request_ids(EVENT, 2) == ids[-2:]
    assert store.expired_request_ids("other-event", 10) == []


def test_a_position_admitted_again_is_timed_from_its_last_admission(store: Any) -> None:
    """The counter moved back and then forward again: the claim window of the re-admitted
    positions starts at the second admission, for the token step and for the sweep alike."""
    first, second = rid(), rid()
    store.enter(EVENT, first, None, T0)
    store.enter(EVENT, second, None, T0)
    store.enter(EVENT, rid(), None, T0)  # one waiting, so the counter can move
    store.advance_serving(EVENT, 2, T0)
    store.advance_serving(EVENT, -1, T0 + 10)  # the second place waits again
    assert store.get_ticket(EVENT, second, T0 + 10).status is Status.WAITING
    store.advance_serving(EVENT, 1, T0 + 40)  # and is admitted again, 40 s after the first time
    assert store.get_ticket(EVENT, second, T0 + 40).admitted_at == T0 + 40
    assert store.get_ticket(EVENT, first, T0 + 40).admitted_at == T0
    assert store.sweep(EVENT, T0 + EXPIRY, EXPIRY, False).expired == 1  # only the first place
    assert store.get_ticket(EVENT, second, T0 + EXPIRY).status is Status.ADMITTED
    assert store.issue_session(EVENT, second, "jti", 1, 2, T0 + EXPIRY + 30, EXPIRY).status is Status.ISSUED
    assert store.get_ticket(EVENT, first, T0 + EXPIRY).status is Status.EXPIRED


def test_moving_back_and_forward_past_earlier_highs_keeps_order(store: Any) -> None:
    ids = [rid() for _ in range(6)]
    for r in ids:
        store.enter(EVENT, r, None, T0)
    store.advance_serving(EVENT, 2, T0)
    store.advance_serving(EVENT, 2, T0 + 5)  # positions 3-4 at T0 + 5
    store.advance_serving(EVENT, -3, T0 + 10)  # back to 1
    store.advance_serving(EVENT, 5, T0 + 20)  # 2-6 admitted again at T0 + 20
    assert [store.get_ticket(EVENT, r, T0 + 20).admitted_at for r in ids] == [T0] + [T0 + 20] * 5
    assert store.sweep(EVENT, T0 + 20 + EXPIRY - 1, EXPIRY, False).expired == 1
    assert store.sweep(EVENT, T0 + 20 + EXPIRY, EXPIRY, False).expired == 5
