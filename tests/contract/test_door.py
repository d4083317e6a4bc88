"""Rule: a visitor who arrives while there is room is admitted in the same atomic step that
hands out the place, never past anyone waiting, never while paused, never beyond the limit."""

from __future__ import annotations

from typing import Any

from core.model import DoorRule, Status

from .helpers import EVENT, T0, in_processes, rid, run_concurrently
from .workers import enter_at_door

ROOM_FOR_TWO = DoorRule(max_active=2)


def test_free_slots_are_filled_at_the_door(store: Any) -> None:
    tickets = [store.enter(EVENT, rid(), None, T0 + i, ROOM_FOR_TWO) for i in range(3)]
    assert [t.status for t in tickets] == [Status.ADMITTED, Status.ADMITTED, Status.WAITING]
    assert [t.admitted_at for t in tickets] == [T0, T0 + 1, None]
    for ticket in tickets:
        assert store.get_ticket(EVENT, ticket.request_id, T0 + 5) == ticket
    assert store.counters(EVENT).serving == 2
    assert store.serving_history(EVENT, 0) == [(T0, 1), (T0 + 1, 2)]
    # A slot freed: the next arrival still waits behind the one already waiting.
    store.issue_session(EVENT, tickets[0].request_id, "jti", 1, 2, T0 + 5)
    store.end_session(EVENT, tickets[0].request_id, Status.COMPLETED, T0 + 6)
    assert store.enter(EVENT, rid(), None, T0 + 7, ROOM_FOR_TWO).status is Status.WAITING
    store.advance_serving(EVENT, 2, T0 + 8)  # both let in; now nobody waits, but no slot is free
    assert store.enter(EVENT, rid(), None, T0 + 9, DoorRule(max_active=3)).status is Status.WAITING
    assert store.enter(EVENT, rid(), None, T0 + 9, DoorRule(max_active=4)).status is Status.WAITING  # one waits


def test_no_rule_or_an_empty_rule_admits_nobody(store: Any) -> None:
    assert store.enter(EVENT, rid(), None, T0).status is Status.WAITING
    store.advance_serving(EVENT, 1, T0)
    assert store.enter(EVENT, rid(), None, T0, DoorRule()).status is Status.WAITING


def test_the_door_is_shut_while_the_event_is_paused(store: Any) -> None:
    store.set_control(EVENT, "paused", "1")
    assert store.enter(EVENT, rid(), None, T0, ROOM_FOR_TWO).status is Status.WAITING
    store.advance_serving(EVENT, 1, T0)
    store.set_control(EVENT, "paused", None)
    assert store.enter(EVENT, rid(), None, T0, ROOM_FOR_TWO).status is Status.ADMITTED


def test_a_budget_counts_every_move_since_its_window_began(store: Any) -> None:
    budget = DoorRule(budget=2, since=T0 + 10)
    first = store.enter(EVENT, rid(), None, T0, DoorRule(budget=1, since=T0))
    assert first.status is Status.ADMITTED  # a move before the window does not count against it
    tickets = [store.enter(EVENT, rid(), None, T0 + 10 + i, budget) for i in range(3)]
    assert [t.status for t in tickets] == [Status.ADMITTED, Status.ADMITTED, Status.WAITING]
    store.advance_serving(EVENT, 1, T0 + 20)
    later = DoorRule(budget=2, since=T0 + 20)  # the admin move at the window's first instant counts
    assert [store.enter(EVENT, rid(), None, T0 + 21, later).status for _ in range(2)] == [Status.ADMITTED,
                                                                                            Status.WAITING]


def test_a_retried_enter_gets_its_ticket_back_and_admits_nobody_else(store: Any) -> None:
    first = store.enter(EVENT, rid(), "key", T0, ROOM_FOR_TWO)
    again = store.enter(EVENT, rid(), "key", T0 + 1, ROOM_FOR_TWO)
    assert again == first and first.status is Status.ADMITTED
    assert store.counters(EVENT).serving == 1 and store.counters(EVENT).last_position == 1


def test_concurrent_arrivals_never_exceed_the_limit(store: Any) -> None:
    limit = 5
    results = run_concurrently(16, lambda i: store.enter(EVENT, rid(), None, T0, DoorRule(max_active=limit)))
    tickets = [r for r in results if not isinstance(r, BaseException)]
    assert len(tickets) == 16, [r for r in results if isinstance(r, BaseException)]
    assert sorted(t.position for t in tickets) == list(range(1, 17))
    admitted = sorted(t.position for t in tickets if t.status is Status.ADMITTED)
    assert admitted == list(range(1, limit + 1))
    counters = store.counters(EVENT)
    assert (counters.serving, counters.active, counters.waiting) == (limit, limit, 16 - limit)


def test_separate_processes_never_exceed_the_limit(shared_store_and_url: tuple[Any, str]) -> None:
    store, store_url = shared_store_and_url
    limit, processes, per_process = 7, 3, 10
    got = in_processes([(enter_at_door, (store_url, EVENT, per_process, limit))] * processes)
    answers = [pair for per_proc in got for pair in per_proc]
    assert sorted(pos for pos, _ in answers) == list(range(1, processes * per_process + 1))
    assert sorted(pos for pos, status in answers if status == "admitted") == list(range(1, limit + 1))
    assert store.counters(EVENT).serving == limit
