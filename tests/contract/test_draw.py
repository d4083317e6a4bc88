"""Rule: the fair opening's draw keeps every rule of the line on every store.

A ``random_before_opening`` event keeps its places by arrival index; the one opening step fixes
the draw's size, and from then on the place with arrival index ``i`` holds position
``core.draw.position_of(secret, size, i)`` in everything the store does: tickets, admission,
the door, the expiry sweep, sessions. See :meth:`core.ports.QueueStore.open_draw`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from core import draw
from core.draw import DrawState
from core.errors import InvalidTransition, NotAdmitted, PositionExpired
from core.model import DoorRule, Status

from .helpers import EVENT, T0, in_processes, rid, run_concurrently
from .workers import open_draw

SECRET = "5ec7e7" * 10 + "0123"
"""A fixed draw secret (64 hex digits), so the expected positions are known."""
OTHER_SECRET = "a" * 64
OPENS = T0 + 100.0
EXPIRY = 60.0
FIFO_EVENT = "fifo-sale"


def pre_queue(store: Any, count: int, event: str = EVENT) -> list[str]:
    """Enter ``count`` visitors before the opening and prepare the draw; their request ids in arrival order."""
    ids = [rid() for _ in range(count)]
    store.prepare_draw(event, SECRET)
    for i, r in enumerate(ids):
        store.enter(event, r, None, T0 + i)
    return ids


def drawn(store: Any, count: int) -> tuple[list[str], dict[str, int]]:
    """A pre-queue of ``count`` places, opened at :data:`OPENS`; request ids in arrival order and
    the position the reference permutation gives each."""
    ids = pre_queue(store, count)
    state = store.open_draw(EVENT, OPENS)
    assert state == DrawState(SECRET, count, OPENS)
    expected = {r: draw.position_of(SECRET, count, i) for i, r in enumerate(ids, start=1)}
    assert list(expected.values()) != list(range(1, count + 1)), "the fixed secret must not draw the identity"
    return ids, expected


def by_position(expected: dict[str, int]) -> list[str]:
    """Request ids in drawn position order."""
    return sorted(expected, key=expected.__getitem__)


# -- preparing and opening ------------------------------------------------------------------------


def test_an_event_has_no_draw_until_one_is_prepared(store: Any) -> None:
    assert store.draw_state(EVENT) is None
    store.enter(EVENT, rid(), None, T0)
    with pytest.raises(InvalidTransition):
        store.open_draw(EVENT, OPENS)
    assert store.draw_state(EVENT) is None


def test_preparing_keeps_the_first_secret(store: Any) -> None:
    assert store.prepare_draw(EVENT, SECRET) == DrawState(SECRET)
    assert store.prepare_draw(EVENT, OTHER_SECRET) == DrawState(SECRET)  # the commitment never changes
    assert store.draw_state(EVENT) == DrawState(SECRET)
    assert not store.draw_state(EVENT).is_open
    assert store.draw_state(FIFO_EVENT) is None


def test_concurrent_preparations_all_keep_one_secret(store: Any) -> None:
    secrets_tried = [draw.new_secret() for _ in range(6)]
    results = run_concurrently(len(secrets_tried), lambda i: store.prepare_draw(EVENT, secrets_tried[i]))
    assert all(isinstance(r, DrawState) for r in results), results
    assert len(set(results)) == 1
    kept = store.draw_state(EVENT)
    assert kept == results[0] and kept.secret in secrets_tried


def test_before_the_opening_places_are_in_arrival_order(store: Any) -> None:
    ids = pre_queue(store, 5)
    assert [store.get_ticket(EVENT, r, T0 + 10).position for r in ids] == [1, 2, 3, 4, 5]
    assert all(store.get_ticket(EVENT, r, T0 + 10).status is Status.WAITING for r in ids)
    assert store.counters(EVENT).last_position == 5


def test_the_opening_fixes_size_and_time_once(store: Any) -> None:
    pre_queue(store, 7)
    first = store.open_draw(EVENT, OPENS)
    assert first == DrawState(SECRET, 7, OPENS) and first.is_open
    store.enter(EVENT, rid(), None, OPENS + 1)
    assert store.open_draw(EVENT, OPENS + 50) == first  # idempotent: later calls change nothing
    assert store.draw_state(EVENT) == first
    assert store.counters(EVENT).last_position == 8


def test_an_empty_pre_queue_opens_with_size_zero(store: Any) -> None:
    store.prepare_draw(EVENT, SECRET)
    assert store.open_draw(EVENT, OPENS) == DrawState(SECRET, 0, OPENS)
    tickets = [store.enter(EVENT, rid(), None, OPENS + i) for i in range(3)]
    assert [t.position for t in tickets] == [1, 2, 3]


def test_the_opening_is_refused_once_somebody_was_admitted_in_arrival_order(store: Any) -> None:
    pre_queue(store, 3)
    store.advance_serving(EVENT, 1, T0 + 5)
    with pytest.raises(InvalidTransition):
        store.open_draw(EVENT, OPENS)
    assert store.draw_state(EVENT) == DrawState(SECRET)


def test_concurrent_openers_all_get_the_same_state(store: Any) -> None:
    pre_queue(store, 6)
    results = run_concurrently(6, lambda i: store.open_draw(EVENT, OPENS + i))
    assert all(isinstance(r, DrawState) for r in results), results
    assert len(set(results)) == 1
    state = results[0]
    assert isinstance(state, DrawState)
    assert state.size == 6 and state.opened_at in {OPENS + i for i in range(6)}
    assert store.draw_state(EVENT) == state


def test_separate_processes_open_the_draw_once(shared_store_and_url: tuple[Any, str]) -> None:
    store, url = shared_store_and_url
    pre_queue(store, 4)
    got = in_processes([(open_draw, (url, EVENT, OPENS + i)) for i in range(4)])
    assert len(set(got)) == 1, got
    secret, size, opened_at = got[0]
    assert (secret, size) == (SECRET, 4) and opened_at in {OPENS + i for i in range(4)}
    assert store.draw_state(EVENT) == DrawState(secret, size, opened_at)


# -- positions --------------------------------------------------------------------------------------


def test_positions_after_the_opening_follow_the_reference_permutation(store: Any) -> None:
    ids, expected = drawn(store, 12)
    for r in ids:
        ticket = store.get_ticket(EVENT, r, OPENS + 1)
        assert ticket.position == expected[r]
        assert ticket.status is Status.WAITING and ticket.request_id == r
    assert sorted(expected.values()) == list(range(1, 13))  # each position once, no gap


def test_late_entries_follow_the_drawn_places_in_arrival_order(store: Any) -> None:
    ids, _ = drawn(store, 5)
    late = [store.enter(EVENT, rid(), None, OPENS + i) for i in range(4)]
    assert [t.position for t in late] == [6, 7, 8, 9]
    everyone = [store.get_ticket(EVENT, r, OPENS + 9).position for r in ids] + [t.position for t in late]
    assert sorted(everyone) == list(range(1, 10))


def test_entry_is_idempotent_across_the_opening(store: Any) -> None:
    store.prepare_draw(EVENT, SECRET)
    keyed, plain = rid(), rid()
    key = rid()
    before = store.enter(EVENT, keyed, key, T0)
    for _ in range(4):
        store.enter(EVENT, rid(), None, T0 + 1)
    store.enter(EVENT, plain, None, T0 + 2)
    store.open_draw(EVENT, OPENS)
    again = store.enter(EVENT, rid(), key, OPENS + 1)  # a retried request with the same key
    assert again.request_id == keyed and before.position == 1
    assert again.position == draw.position_of(SECRET, 6, 1)
    redelivered = store.enter(EVENT, plain, None, OPENS + 1)  # a queued entry delivered twice
    assert redelivered.position == draw.position_of(SECRET, 6, 6)
    assert store.counters(EVENT).last_position == 6
    late = store.enter(EVENT, rid(), None, OPENS + 2)
    assert store.enter(EVENT, late.request_id, None, OPENS + 3).position == late.position == 7


def test_entries_racing_the_opening_get_every_position_once(store: Any) -> None:
    store.prepare_draw(EVENT, SECRET)
    for _ in range(10):
        store.enter(EVENT, rid(), None, T0)
    threads, per_thread = 5, 8

    def worker(i: int) -> Any:
        if i == 0:
            return store.open_draw(EVENT, OPENS)
        return [store.enter(EVENT, rid(), None, OPENS).request_id for _ in range(per_thread)]

    results = run_concurrently(threads, worker)
    assert not any(isinstance(r, BaseException) for r in results), results
    state = results[0]
    total = 10 + (threads - 1) * per_thread
    assert isinstance(state, DrawState) and 10 <= state.size <= total  # type: ignore[operator]
    arrivals = store.arrivals(EVENT, 1, total + 5)
    assert len(arrivals) == total and None not in arrivals
    positions = [store.get_ticket(EVENT, r, OPENS).position for r in arrivals]
    assert positions == [draw.position_of(SECRET, state.size, i) for i in range(1, total + 1)]
    assert sorted(positions) == list(range(1, total + 1))


def test_arrivals_list_request_ids_in_arrival_order(store: Any) -> None:
    ids, _ = drawn(store, 6)
    late = store.enter(EVENT, rid(), None, OPENS + 1).request_id
    assert store.arrivals(EVENT, 1, 100) == [*ids, late]  # arrival order, not drawn order
    assert store.arrivals(EVENT, 3, 2) == ids[2:4]
    assert store.arrivals(EVENT, 6, 10) == [ids[5], late]
    assert store.arrivals(EVENT, 8, 10) == []
    assert store.arrivals(FIFO_EVENT, 1, 10) == []


# -- admission, sessions, expiry --------------------------------------------------------------------


def test_serving_admits_by_drawn_position(store: Any) -> None:
    ids, expected = drawn(store, 8)
    order = by_position(expected)
    assert store.advance_serving(EVENT, 3, OPENS + 10) == 3
    for r in ids:
        ticket = store.get_ticket(EVENT, r, OPENS + 11)
        if expected[r] <= 3:
            assert ticket.status is Status.ADMITTED and ticket.admitted_at == OPENS + 10
        else:
            assert ticket.status is Status.WAITING and ticket.admitted_at is None
    with pytest.raises(NotAdmitted):
        store.issue_session(EVENT, order[3], "jti-early", 1, 2, OPENS + 11)
    counters = store.counters(EVENT)
    assert (counters.serving, counters.admitted, counters.waiting) == (3, 3, 5)
    assert store.advance_serving(EVENT, 100, OPENS + 12) == 8  # clamped to the line as always
    assert store.get_ticket(EVENT, order[7], OPENS + 12).admitted_at == OPENS + 12


def test_sessions_of_drawn_places_are_found_by_jti(store: Any) -> None:
    _, expected = drawn(store, 6)
    first, second = by_position(expected)[:2]
    store.advance_serving(EVENT, 2, OPENS + 1)
    issued = store.issue_session(EVENT, second, "jti-second", int(OPENS), int(OPENS) + 1000, OPENS + 2)
    assert issued.status is Status.ISSUED and issued.position == 2 and issued.request_id == second
    found = store.session_ticket(EVENT, "jti-second", OPENS + 3)
    assert found is not None and found.request_id == second and found.position == 2
    assert store.issue_session(EVENT, second, "jti-other", 1, 2, OPENS + 4).session.jti == "jti-second"
    ended = store.end_session(EVENT, second, Status.COMPLETED, OPENS + 5)
    assert ended.status is Status.COMPLETED and ended.position == 2
    assert store.get_ticket(EVENT, first, OPENS + 5).status is Status.ADMITTED
    counters = store.counters(EVENT)
    assert (counters.issued, counters.completed, counters.active) == (1, 1, 1)


def test_codes_and_aliases_of_drawn_places_carry_drawn_positions(store: Any) -> None:
    """The one-step code redemption and the cookie alias read the place as every other step does."""
    _, expected = drawn(store, 6)
    first, second, third = by_position(expected)[:3]
    store.advance_serving(EVENT, 2, OPENS + 1)
    value, replayed, ticket = store.redeem_for_session(
        "oidc-code", "code-1", json.dumps({"request_id": second, "event_id": EVENT}), OPENS + 61, 3600, EVENT,
        "jti-code", int(OPENS), int(OPENS) + 600, OPENS + 2)
    assert value is not None and replayed is None
    assert ticket.request_id == second and ticket.position == 2 and ticket.status is Status.ISSUED
    with pytest.raises(NotAdmitted):
        store.redeem_for_session("oidc-code", "code-2", json.dumps({"request_id": third, "event_id": EVENT}),
                                 OPENS + 61, 3600, EVENT, "jti-early", int(OPENS), int(OPENS) + 600, OPENS + 2)
    store.set_alias(EVENT, "cookie-digest", first, "note", 60, OPENS + 2)
    request_id, note, aliased = store.resolve_alias(EVENT, "cookie-digest", OPENS + 3)
    assert (request_id, note, aliased.position, aliased.status) == (first, "note", 1, Status.ADMITTED)


def test_the_sweep_expires_by_drawn_position(store: Any) -> None:
    ids, expected = drawn(store, 10)
    order = by_position(expected)
    store.advance_serving(EVENT, 4, OPENS)
    store.issue_session(EVENT, order[1], "jti-claimed", int(OPENS), int(OPENS) + 10_000, OPENS + 1)
    assert store.sweep(EVENT, OPENS + EXPIRY - 1, EXPIRY, True).expired == 0
    result = store.sweep(EVENT, OPENS + EXPIRY, EXPIRY, True)
    assert (result.expired, result.serving) == (3, 7)  # positions 1, 3 and 4; the counter moves on by 3
    statuses = {r: store.get_ticket(EVENT, r, OPENS + EXPIRY).status for r in ids}
    for r in ids:
        p = expected[r]
        want = Status.ISSUED if p == 2 else Status.EXPIRED if p <= 4 else Status.ADMITTED if p <= 7 else Status.WAITING
        assert statuses[r] is want, (p, statuses[r])
    with pytest.raises(PositionExpired):
        store.issue_session(EVENT, order[0], "jti-late", 1, 2, OPENS + EXPIRY)
    assert set(store.expired_request_ids(EVENT, 10)) == {order[0], order[2], order[3]}
    # positions 5..7 were admitted by the sweep at OPENS + EXPIRY: they expire one period later
    assert store.sweep(EVENT, 2 * EXPIRY + OPENS - 1, EXPIRY, False).expired == 0
    assert store.sweep(EVENT, 2 * EXPIRY + OPENS, EXPIRY, False).expired == 3
    assert {r for r in ids if store.get_ticket(EVENT, r, OPENS).status is Status.EXPIRED} == \
        {order[i] for i in (0, 2, 3, 4, 5, 6)}
    assert store.counters(EVENT).expired == 6


def test_the_door_admits_late_entries_at_serving_plus_one(store: Any) -> None:
    _, expected = drawn(store, 4)
    store.advance_serving(EVENT, 3, OPENS)
    # position 5 waits behind drawn position 4: room for one more only, so neither is let in
    # (a store that admits the places ahead with the new one, as DoorRule allows, cannot here)
    assert store.enter(EVENT, rid(), None, OPENS + 1, DoorRule(max_active=4)).status is Status.WAITING
    assert store.counters(EVENT).serving == 3
    store.advance_serving(EVENT, 2, OPENS + 2)
    admitted = store.enter(EVENT, rid(), None, OPENS + 3, DoorRule(max_active=10))
    assert (admitted.position, admitted.status, admitted.admitted_at) == (6, Status.ADMITTED, OPENS + 3)
    assert store.counters(EVENT).serving == 6
    drawn_last = by_position(expected)[3]
    assert store.get_ticket(EVENT, drawn_last, OPENS + 3).status is Status.ADMITTED


# -- reset and independence ---------------------------------------------------------------------------


def test_reset_forgets_the_draw(store: Any) -> None:
    drawn(store, 5)
    store.reset(EVENT)
    assert store.draw_state(EVENT) is None
    assert store.arrivals(EVENT, 1, 10) == []
    assert store.prepare_draw(EVENT, OTHER_SECRET) == DrawState(OTHER_SECRET)
    assert [store.enter(EVENT, rid(), None, T0).position for _ in range(3)] == [1, 2, 3]
    assert store.open_draw(EVENT, OPENS).size == 3


def test_reset_keeps_exactly_the_named_controls_and_forgets_everything_else(store: Any) -> None:
    ids, _ = drawn(store, 4)
    store.claim_tick(EVENT, "admission", 50)
    for key, value in {"opens_at": "1900000000.5", "paused": "1", "increment_by": "7"}.items():
        store.set_control(EVENT, key, value)
    store.set_control(FIFO_EVENT, "paused", "1")
    store.reset(EVENT, keep_controls=("opens_at", "never-set"))
    assert store.get_control(EVENT) == {"opens_at": "1900000000.5"}  # a name with no control stays absent
    assert store.get_control(FIFO_EVENT) == {"paused": "1"}  # another event's controls are not touched
    assert store.draw_state(EVENT) is None
    assert store.arrivals(EVENT, 1, 10) == []
    assert all(store.get_ticket(EVENT, r, OPENS) is None for r in ids)
    assert store.counters(EVENT).as_dict() == store.counters("never-used").as_dict()
    assert store.claim_tick(EVENT, "admission", 1) is True
    store.reset(EVENT, keep_controls=())
    assert store.get_control(EVENT) == {}


def test_a_fifo_event_beside_a_drawn_one_is_unaffected(store: Any) -> None:
    fifo = [rid() for _ in range(4)]
    store.enter(FIFO_EVENT, fifo[0], None, T0)
    drawn(store, 6)
    for r in fifo[1:]:
        store.enter(FIFO_EVENT, r, None, OPENS + 1)
    assert store.draw_state(FIFO_EVENT) is None
    assert [store.get_ticket(FIFO_EVENT, r, OPENS + 2).position for r in fifo] == [1, 2, 3, 4]
    store.advance_serving(FIFO_EVENT, 2, OPENS + 2)
    assert [store.get_ticket(FIFO_EVENT, r, OPENS + 2).status for r in fifo] == [Status.ADMITTED] * 2 + \
        [Status.WAITING] * 2
    assert store.sweep(FIFO_EVENT, OPENS + 2 + EXPIRY, EXPIRY, False).expired == 2
    assert store.expired_request_ids(FIFO_EVENT, 10) == fifo[:2]
    store.reset(FIFO_EVENT)
    assert store.draw_state(EVENT) == DrawState(SECRET, 6, OPENS)


@pytest.mark.parametrize("reads", [lambda s: s.counters(EVENT), lambda s: s.draw_state(EVENT)])
def test_reads_do_not_open_the_draw(store: Any, reads: Callable[[Any], Any]) -> None:
    pre_queue(store, 3)
    reads(store)
    assert store.draw_state(EVENT) == DrawState(SECRET)
