"""Scheduler leases, independent events, reset, serving history and runtime controls."""

from __future__ import annotations

from typing import Any

from core.model import Status

from .helpers import EVENT, T0, admitted, rid, run_concurrently


def test_claim_tick_is_a_compare_and_set_on_increasing_ticks(store: Any) -> None:
    assert store.claim_tick(EVENT, "admission", 10) is True
    assert store.claim_tick(EVENT, "admission", 10) is False
    assert store.claim_tick(EVENT, "admission", 9) is False
    assert store.claim_tick(EVENT, "admission", 12) is True
    assert store.claim_tick(EVENT, "admission", 11) is False  # never for an older tick
    assert store.claim_tick(EVENT, "sweep", 11) is True  # names are independent
    assert store.claim_tick("other-event", "admission", 1) is True  # and so are events


def test_exactly_one_of_many_concurrent_claimers_wins(store: Any) -> None:
    for tick in (100, 101, 102):
        results = run_concurrently(12, lambda _: store.claim_tick(EVENT, "admission", tick))  # noqa: B023
        assert results.count(True) == 1 and results.count(False) == 11


def test_racing_claims_of_different_ticks_never_win_twice(store: Any) -> None:
    results = run_concurrently(12, lambda i: [store.claim_tick(EVENT, "t", n) for n in range(1, 21)])
    wins = [n for r in results for n, won in zip(range(1, 21), r, strict=True) if won]  # type: ignore[arg-type]
    assert len(wins) == len(set(wins))
    assert 20 in wins  # the newest tick is always claimed by somebody
    assert store.claim_tick(EVENT, "t", 20) is False


def test_events_are_independent(store: Any) -> None:
    a, b = rid(), rid()
    assert store.enter("event-a", a, None, T0).position == 1
    assert store.enter("event-b", b, None, T0).position == 1
    store.advance_serving("event-a", 1, T0)
    assert store.get_ticket("event-a", a, T0).status is Status.ADMITTED
    assert store.get_ticket("event-b", b, T0).status is Status.WAITING
    assert store.get_ticket("event-b", a, T0) is None
    assert store.sweep("event-b", T0 + 10**6, 1, True).expired == 0
    assert store.sweep("event-a", T0 + 10**6, 1, True).expired == 1
    assert store.counters("event-b").expired == 0
    store.set_control("event-a", "paused", "1")
    assert store.get_control("event-b") == {}
    store.reset("event-a")
    assert store.get_ticket("event-b", b, T0) is not None
    assert store.counters("event-b").last_position == 1


def test_reset_forgets_everything_of_the_event(store: Any) -> None:
    ids = admitted(store, 3)
    keyed = store.enter(EVENT, rid(), "client-key", T0)
    store.issue_session(EVENT, ids[0], "jti", int(T0), int(T0) + 10, T0)
    store.end_session(EVENT, ids[0], Status.COMPLETED, T0)
    store.sweep(EVENT, T0 + 1000, 60, True)
    store.claim_tick(EVENT, "admission", 50)
    store.set_control(EVENT, "paused", "1")
    store.reset(EVENT)
    assert all(store.get_ticket(EVENT, r, T0) is None for r in [*ids, keyed.request_id])
    assert store.counters(EVENT).as_dict() == store.counters("never-used").as_dict()
    assert store.serving_history(EVENT, 0) == []
    assert store.expired_request_ids(EVENT, 10) == []
    assert store.get_control(EVENT) == {}
    assert store.claim_tick(EVENT, "admission", 1) is True
    # The line starts again at 1 and an old idempotency key no longer refers to anything.
    again = store.enter(EVENT, rid(), "client-key", T0 + 2000)
    assert again.position == 1 and again.request_id != keyed.request_id
    fresh = rid()
    store.enter(EVENT, fresh, None, T0 + 2000)
    store.advance_serving(EVENT, 2, T0 + 2000)
    assert store.sweep(EVENT, T0 + 2030, 60, True).expired == 0  # the expiry cursor was reset too
    assert store.get_ticket(EVENT, fresh, T0).admitted_at == T0 + 2000


def test_after_a_reset_an_old_idempotency_key_never_names_a_new_visitors_place(store: Any) -> None:
    old = [store.enter(EVENT, rid(), f"key-{i}", T0) for i in range(3)]
    store.reset(EVENT)
    newcomers = [store.enter(EVENT, rid(), None, T0 + 1) for _ in range(3)]  # positions 1..3 again
    retried = store.enter(EVENT, rid(), "key-1", T0 + 2)
    assert retried.position == 4
    assert retried.request_id not in {t.request_id for t in old + newcomers}


def test_serving_history_records_each_move_oldest_first(store: Any) -> None:
    for _ in range(10):
        store.enter(EVENT, rid(), None, T0)
    store.advance_serving(EVENT, 3, T0 + 1)
    store.advance_serving(EVENT, 0, T0 + 2)  # no move, no record
    store.advance_serving(EVENT, 4, T0 + 3)
    store.advance_serving(EVENT, -2, T0 + 3)  # same instant: kept in order
    store.advance_serving(EVENT, 100, T0 + 4)
    store.advance_serving(EVENT, 1, T0 + 5)  # clamped at the line: no move
    assert store.serving_history(EVENT, 0) == [(T0 + 1, 3), (T0 + 3, 7), (T0 + 3, 5), (T0 + 4, 10)]
    assert store.serving_history(EVENT, T0 + 3) == [(T0 + 3, 7), (T0 + 3, 5), (T0 + 4, 10)]
    assert store.serving_history(EVENT, T0 + 4.5) == []
    assert store.serving_history("other-event", 0) == []


def test_controls_set_overwrite_and_remove(store: Any) -> None:
    assert store.get_control(EVENT) == {}
    store.set_control(EVENT, "paused", "1")
    store.set_control(EVENT, "increment_by", "25")
    store.set_control(EVENT, "increment_by", "30")
    assert store.get_control(EVENT) == {"paused": "1", "increment_by": "30"}
    store.set_control(EVENT, "paused", None)
    store.set_control(EVENT, "never-set", None)
    assert store.get_control(EVENT) == {"increment_by": "30"}
