"""Rule: after the fair opening's draw the line keeps its order on every store, in the corners.

The draw's first tests (``test_draw.py``) cover the plain path; these follow a drawn line into
its corners: a draw of one place, the serving counter moved back and forward again, a large
jump of the counter then the sweep, the queued entry path across the opening, the door with
``max_active`` after the draw, timed-out sessions of drawn places, and the admin list of places
that ended, which names them in position order within one sweep on every store.
"""

from __future__ import annotations

from typing import Any

import pytest

from core import draw
from core.draw import DrawState
from core.errors import InvalidTransition, NotAdmitted, PositionExpired
from core.model import DoorRule, Status

from .helpers import EVENT, T0, rid

SECRET = "5ec7e7" * 10 + "0124"
OPENS = T0 + 100.0
EXPIRY = 60.0


def drawn(store: Any, count: int) -> tuple[list[str], list[str]]:
    """A pre-queue of ``count`` places, opened at :data:`OPENS`: request ids in arrival order,
    then in drawn position order (by the reference permutation)."""
    ids = [rid() for _ in range(count)]
    store.prepare_draw(EVENT, SECRET)
    for i, r in enumerate(ids):
        store.enter(EVENT, r, None, T0 + i)
    assert store.open_draw(EVENT, OPENS) == DrawState(SECRET, count, OPENS)
    order = sorted(ids, key=lambda r: draw.position_of(SECRET, count, ids.index(r) + 1))
    if count > 2:
        assert order != ids, "the fixed secret must not draw the identity"
    return ids, order


def positions(store: Any, ids: list[str], now: float) -> list[int]:
    return [store.get_ticket(EVENT, r, now).position for r in ids]


def test_a_draw_of_one_place_admits_expires_and_moves_on(store: Any) -> None:
    (only,), _ = drawn(store, 1)
    late = store.enter(EVENT, rid(), None, OPENS + 1).request_id
    assert positions(store, [only, late], OPENS + 1) == [1, 2]
    store.advance_serving(EVENT, 1, OPENS + 2)
    assert store.get_ticket(EVENT, late, OPENS + 2).status is Status.WAITING
    result = store.sweep(EVENT, OPENS + 2 + EXPIRY, EXPIRY, True)
    assert (result.expired, result.serving) == (1, 2)
    assert store.get_ticket(EVENT, only, OPENS + 2 + EXPIRY).status is Status.EXPIRED
    assert store.get_ticket(EVENT, late, OPENS + 2 + EXPIRY).status is Status.ADMITTED
    assert store.expired_request_ids(EVENT, 10) == [only]


def test_the_expired_list_names_drawn_places_in_position_order(store: Any) -> None:
    """The admin list is ordered by end time, then position: the drawn position, not the
    arrival index the store keeps the place under."""
    _, order = drawn(store, 12)
    store.advance_serving(EVENT, 12, OPENS)
    assert store.sweep(EVENT, OPENS + EXPIRY, EXPIRY, False).expired == 12
    assert store.expired_request_ids(EVENT, 100) == order
    assert store.expired_request_ids(EVENT, 5) == order[-5:]  # the newest: the last positions of that sweep


def test_timed_out_sessions_of_drawn_places_are_listed_by_position(store: Any) -> None:
    _, order = drawn(store, 8)
    store.advance_serving(EVENT, 8, OPENS)
    for n, r in enumerate(order):
        store.issue_session(EVENT, r, f"jti-{n}", int(OPENS), int(OPENS) + 30, OPENS + 1)
    result = store.sweep(EVENT, OPENS + 30, EXPIRY, False)
    assert (result.expired, result.timed_out) == (0, 8)
    assert store.expired_request_ids(EVENT, 100) == order
    for n, r in enumerate(order):
        found = store.session_ticket(EVENT, f"jti-{n}", OPENS + 31)
        assert (found.request_id, found.position, found.status) == (r, n + 1, Status.TIMED_OUT)
    counters = store.counters(EVENT)
    assert (counters.issued, counters.timed_out, counters.active) == (8, 8, 0)


def test_a_counter_moved_back_after_the_draw_keeps_positions_and_expiry_in_order(store: Any) -> None:
    ids, order = drawn(store, 10)
    store.advance_serving(EVENT, 6, OPENS)
    assert store.advance_serving(EVENT, -4, OPENS + 1) == 2
    statuses = [store.get_ticket(EVENT, r, OPENS + 1).status for r in order]
    assert statuses == [Status.ADMITTED] * 2 + [Status.WAITING] * 8
    with pytest.raises(NotAdmitted):
        store.issue_session(EVENT, order[2], "jti-3", int(OPENS), int(OPENS) + 600, OPENS + 1)
    # only what stayed admitted for the whole period expires: positions 1 and 2
    result = store.sweep(EVENT, OPENS + 1 + EXPIRY, EXPIRY, False)
    assert (result.expired, result.serving) == (2, 2)
    store.advance_serving(EVENT, 4, OPENS + 100)  # positions 3..6 admitted anew, timed from now
    assert store.sweep(EVENT, OPENS + 100 + EXPIRY - 1, EXPIRY, False).expired == 0
    assert store.sweep(EVENT, OPENS + 100 + EXPIRY, EXPIRY, False).expired == 4
    want = [Status.EXPIRED] * 6 + [Status.WAITING] * 4
    assert [store.get_ticket(EVENT, r, OPENS + 200).status for r in order] == want
    assert sorted(positions(store, ids, OPENS + 200)) == list(range(1, 11))


def test_the_sweep_after_a_large_jump_expires_each_drawn_place_once(store: Any) -> None:
    _, order = drawn(store, 300)
    store.advance_serving(EVENT, 10_000, OPENS)  # clamped to the line
    claimed = order[::7]
    for n, r in enumerate(claimed):
        store.issue_session(EVENT, r, f"jti-{n}", int(OPENS), int(OPENS) + 100_000, OPENS + 1)
    result = store.sweep(EVENT, OPENS + EXPIRY, EXPIRY, True)
    assert (result.expired, result.serving) == (300 - len(claimed), 300)
    assert store.sweep(EVENT, OPENS + 2 * EXPIRY, EXPIRY, True).expired == 0
    assert store.expired_request_ids(EVENT, 1000) == [r for r in order if r not in claimed]
    assert store.counters(EVENT).expired == 300 - len(claimed)


def test_queued_entries_across_the_opening_keep_one_place_each(store: Any) -> None:
    store.prepare_draw(EVENT, SECRET)
    early = [(rid(), None) for _ in range(5)]
    assert [t.position for t in store.enter_many(EVENT, early, T0)] == [1, 2, 3, 4, 5]
    store.open_draw(EVENT, OPENS)
    drawn_positions = [draw.position_of(SECRET, 5, i) for i in range(1, 6)]
    late = [(rid(), None) for _ in range(3)]
    # a redelivered batch (the early entries again) with new entries: same places, then 6, 7, 8
    again = store.enter_many(EVENT, [*early, *late], OPENS + 1)
    assert [t.position for t in again] == [*drawn_positions, 6, 7, 8]
    assert [t.request_id for t in again] == [r for r, _ in [*early, *late]]
    assert store.counters(EVENT).last_position == 8


def test_the_door_after_the_draw_counts_active_sessions(store: Any) -> None:
    _, order = drawn(store, 3)
    store.advance_serving(EVENT, 3, OPENS)
    for n, r in enumerate(order):
        store.issue_session(EVENT, r, f"jti-{n}", int(OPENS), int(OPENS) + 600, OPENS + 1)
    # three sessions live: a door of three keeps the late visitor waiting
    waiting = store.enter(EVENT, rid(), None, OPENS + 2, DoorRule(max_active=3))
    assert (waiting.position, waiting.status) == (4, Status.WAITING)
    store.end_session(EVENT, order[0], Status.COMPLETED, OPENS + 3)
    admitted = store.enter(EVENT, rid(), None, OPENS + 4, DoorRule(max_active=3))
    # position 4 still waits ahead: the new place (5) is not let in past it
    assert (admitted.position, admitted.status) == (5, Status.WAITING)
    assert store.counters(EVENT).serving == 3


def test_a_door_after_the_draw_admits_only_once_the_stores_draw_is_open(store: Any) -> None:
    """``DoorRule.after_draw``: the caller's copy of the draw may be stale (a reset elsewhere);
    the store admits at the door only if the draw is open as it reads it in the enter step."""
    door = DoorRule(max_active=5, after_draw=True)
    first = store.enter(EVENT, rid(), None, T0, door)  # no draw at all (reset, nothing prepared yet)
    assert first.status is Status.WAITING and store.counters(EVENT).serving == 0
    store.reset(EVENT)
    store.prepare_draw(EVENT, SECRET)
    assert store.enter(EVENT, rid(), None, T0, door).status is Status.WAITING  # prepared, not open
    assert store.counters(EVENT).serving == 0
    store.reset(EVENT)
    store.prepare_draw(EVENT, SECRET)
    assert store.open_draw(EVENT, OPENS).size == 0
    admitted = store.enter(EVENT, rid(), None, OPENS + 1, door)
    assert (admitted.position, admitted.status) == (1, Status.ADMITTED)
    assert store.counters(EVENT).serving == 1
    # a fifo event's rule never asks for a draw
    fifo = store.enter("fifo-sale", rid(), None, T0, DoorRule(max_active=5))
    assert (fifo.position, fifo.status) == (1, Status.ADMITTED)


def test_the_draw_does_not_open_once_anybody_was_admitted_even_with_the_counter_back_at_zero(store: Any) -> None:
    """Admitted in arrival order, then the counter moved back to 0 (an event whose queueing
    became random while it ran): a draw now would give the place that holds tokens, and those
    the sweep expired, drawn positions far behind, and others theirs."""
    store.prepare_draw(EVENT, SECRET)
    ids = [rid() for _ in range(6)]
    for r in ids:
        store.enter(EVENT, r, None, T0)
    store.advance_serving(EVENT, 2, T0 + 1)
    store.issue_session(EVENT, ids[0], "jti-first", int(T0), int(T0) + 600, T0 + 2)
    assert store.advance_serving(EVENT, -2, T0 + 3) == 0
    with pytest.raises(InvalidTransition):
        store.open_draw(EVENT, OPENS)
    assert store.draw_state(EVENT) == DrawState(SECRET)
    assert [store.get_ticket(EVENT, r, OPENS).position for r in ids] == [1, 2, 3, 4, 5, 6]


def test_a_sweep_walks_a_bounded_number_of_positions_and_the_next_one_goes_on(store: Any) -> None:
    """A large jump of the serving counter over a drawn line is swept in steps of at most
    ``sweep_positions`` positions (each drawn one costs a permutation: a single step over
    hundreds of thousands held Redis, or SQLite's write lock, for seconds); the next sweep goes
    on where the last stopped, and every place expires once, in position order."""
    _, order = drawn(store, 10)
    late = store.enter(EVENT, rid(), None, OPENS + 1).request_id
    store.sweep_positions = 4
    store.advance_serving(EVENT, 10, OPENS + 2)
    now = OPENS + 2 + EXPIRY
    first = store.sweep(EVENT, now, EXPIRY, True)
    # a place the first step did not reach, past its claim time: refused tokens all the same
    with pytest.raises(PositionExpired):
        store.issue_session(EVENT, order[9], "jti-late", int(now), int(now) + 600, now, EXPIRY)
    steps = [first, *(store.sweep(EVENT, now, EXPIRY, True) for _ in range(3))]
    assert [(s.expired, s.serving) for s in steps] == [(4, 11), (4, 11), (2, 11), (0, 11)]
    assert store.expired_request_ids(EVENT, 100) == order
    assert store.get_ticket(EVENT, late, now).status is Status.ADMITTED
    assert store.counters(EVENT).expired == 10
