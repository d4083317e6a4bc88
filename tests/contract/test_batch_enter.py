"""Rule: entering a list of visitors at once (the queue consumer's path) keeps every rule of a single
enter: positions in list order, each handed out once, idempotent per key within and across lists."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from core.model import Status

from .helpers import EVENT, T0, in_processes, rid, run_concurrently
from .workers import enter_in_batches, enter_many


def test_positions_follow_the_list_order(store: Any) -> None:
    ids = [rid() for _ in range(5)]
    tickets = store.enter_many(EVENT, [(r, None) for r in ids], T0)
    assert [t.position for t in tickets] == [1, 2, 3, 4, 5]
    assert [t.request_id for t in tickets] == ids
    assert all(t.status is Status.WAITING and t.entered_at == T0 and t.session is None for t in tickets)
    assert store.counters(EVENT).last_position == 5
    assert [store.get_ticket(EVENT, r, T0) for r in ids] == tickets


def test_lists_and_single_enters_share_one_line(store: Any) -> None:
    first = store.enter(EVENT, rid(), None, T0)
    batch = store.enter_many(EVENT, [(rid(), f"key-{i}") for i in range(3)], T0 + 1)
    last = store.enter(EVENT, rid(), None, T0 + 2)
    assert [first.position, *(t.position for t in batch), last.position] == [1, 2, 3, 4, 5]
    assert store.enter_many(EVENT, [], T0 + 3) == []
    assert store.counters(EVENT).last_position == 5


def test_a_key_repeated_in_one_list_gets_one_place(store: Any) -> None:
    ids = [rid() for _ in range(5)]
    tickets = store.enter_many(EVENT, [(ids[0], "k"), (ids[1], "k"), (ids[2], None), (ids[3], "k2"), (ids[4], "k")],
                               T0)
    assert tickets[0] == tickets[1] == tickets[4]
    assert (tickets[0].request_id, tickets[0].position) == (ids[0], 1)
    assert [(t.request_id, t.position) for t in tickets[2:4]] == [(ids[2], 2), (ids[3], 3)]
    assert store.get_ticket(EVENT, ids[1], T0) is None  # the repeat took no place of its own
    assert store.counters(EVENT).last_position == 3


def test_a_list_sent_again_gets_the_same_tickets_and_no_new_place(store: Any) -> None:
    entries = [(rid(), f"msg-{i}") for i in range(4)]
    first = store.enter_many(EVENT, entries, T0)
    assert store.enter_many(EVENT, entries, T0 + 30) == first  # the first entry times, not the retry's
    # the same keys with other request ids (a client retrying) and keys entered one by one
    retried = store.enter_many(EVENT, [(rid(), key) for _, key in entries], T0 + 31)
    assert [t.request_id for t in retried] == [r for r, _ in entries]
    single = store.enter(EVENT, rid(), "single-key", T0 + 32)
    assert store.enter_many(EVENT, [(rid(), "single-key")], T0 + 33) == [single]
    assert store.counters(EVENT).last_position == 5


def test_retrying_a_list_that_was_partly_entered_enters_the_rest_in_order(store: Any) -> None:
    entries = [(rid(), f"msg-{i}") for i in range(5)]
    partly = store.enter_many(EVENT, entries[:2], T0)  # as if the store died after two entries
    store.enter(EVENT, rid(), None, T0 + 1)  # someone else entered meanwhile
    tickets = store.enter_many(EVENT, entries, T0 + 2)
    assert tickets[:2] == partly
    assert [t.position for t in tickets] == [1, 2, 4, 5, 6]
    assert store.counters(EVENT).last_position == 6


def test_a_retried_entry_reports_the_current_status_of_its_place(store: Any) -> None:
    entries = [(rid(), "a"), (rid(), "b")]
    store.enter_many(EVENT, entries, T0)
    store.advance_serving(EVENT, 1, T0 + 10)
    again = store.enter_many(EVENT, entries, T0 + 11)
    assert [t.status for t in again] == [Status.ADMITTED, Status.WAITING]
    assert again[0].admitted_at == T0 + 10


def test_keys_of_a_list_are_per_event(store: Any) -> None:
    a = store.enter_many("event-a", [(rid(), "same-key")], T0)
    b = store.enter_many("event-b", [(rid(), "same-key")], T0)
    assert a[0].request_id != b[0].request_id
    assert (a[0].position, b[0].position) == (1, 1)


def test_lists_and_single_enters_in_threads_hold_every_position_once(store: Any) -> None:
    batches_per_thread, size, singles = 2, 10, 20

    def worker(i: int) -> list[list[tuple[str, int]]]:
        """What each store call of this thread got: one pair for an enter, ``size`` for a list."""
        if i % 2:
            return [[(t.request_id, t.position)] for t in (store.enter(EVENT, rid(), None, T0) for _ in range(singles))]
        return [[(t.request_id, t.position) for t in store.enter_many(EVENT, [(rid(), None) for _ in range(size)], T0)]
                for _ in range(batches_per_thread)]

    results = run_concurrently(8, worker)
    assert not [r for r in results if isinstance(r, BaseException)]
    calls = [call for r in results for call in r]  # type: ignore[union-attr]
    total = 4 * batches_per_thread * size + 4 * singles
    assert sorted(p for call in calls for _, p in call) == list(range(1, total + 1))
    assert store.counters(EVENT).last_position == total
    for call in calls:
        positions = [p for _, p in call]
        assert positions == sorted(positions), "the positions of one list rise in list order"
    for request_id, position in [pair for call in calls for pair in call][::37]:
        ticket = store.get_ticket(EVENT, request_id, T0)
        assert ticket is not None and ticket.position == position


def test_lists_and_single_enters_with_the_same_keys_in_threads_give_one_place_per_key(store: Any) -> None:
    keys = [f"client-{i}" for i in range(10)]

    def worker(i: int) -> list[tuple[str, int]]:
        if i % 2:
            return [(t.request_id, t.position) for t in (store.enter(EVENT, rid(), k, T0) for k in keys)]
        return [(t.request_id, t.position) for t in store.enter_many(EVENT, [(rid(), k) for k in keys], T0)]

    results = run_concurrently(6, worker)
    assert not [r for r in results if isinstance(r, BaseException)]
    assert all(r == results[0] for r in results)  # every caller got the same place for each key
    assert sorted(p for _, p in results[0]) == list(range(1, 11))  # type: ignore[union-attr]
    assert store.counters(EVENT).last_position == 10


def test_lists_and_single_enters_from_separate_processes_hold_every_position_once(
    shared_store_and_url: tuple[Any, str], shared_count: Callable[[int], int],
) -> None:
    store, store_url = shared_store_and_url
    batches, singles = shared_count(20), shared_count(100)
    got = in_processes([(enter_in_batches, (store_url, EVENT, batches, 10))] * 2
                       + [(enter_many, (store_url, EVENT, singles, None))] * 2)
    pairs = [pair for per_proc in got for pair in per_proc]
    counts = Counter(pos for _, pos in pairs)
    total = 2 * batches * 10 + 2 * singles
    assert sorted(counts) == list(range(1, total + 1))
    assert set(counts.values()) == {1}
    assert store.counters(EVENT).last_position == total
