"""Rule: a queue position is handed out once, with no gap, under any concurrency; entering is idempotent."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

from core.model import Status

from .helpers import EVENT, T0, in_processes, rid, run_concurrently
from .workers import enter_many


def test_positions_are_one_to_n_in_order(store: Any) -> None:
    ids = [rid() for _ in range(5)]
    tickets = [store.enter(EVENT, r, None, T0 + i) for i, r in enumerate(ids)]
    assert [t.position for t in tickets] == [1, 2, 3, 4, 5]
    assert [t.request_id for t in tickets] == ids
    assert all(t.status is Status.WAITING and t.admitted_at is None and t.session is None for t in tickets)
    assert [t.entered_at for t in tickets] == [T0 + i for i in range(5)]
    assert store.counters(EVENT).last_position == 5
    assert store.counters(EVENT).waiting == 5


def test_ticket_reads_back_what_enter_returned(store: Any) -> None:
    r = rid()
    entered = store.enter(EVENT, r, None, T0 + 0.123456789)
    assert store.get_ticket(EVENT, r, T0 + 5) == entered
    assert entered.event_id == EVENT
    assert entered.entered_at == T0 + 0.123456789  # times round-trip exactly
    assert store.get_ticket(EVENT, rid(), T0) is None
    assert store.get_ticket("other-event", r, T0) is None


def test_empty_event_has_zero_counters(store: Any) -> None:
    counters = store.counters("never-used")
    assert (counters.serving, counters.last_position, counters.issued) == (0, 0, 0)
    assert counters.as_dict()["waiting"] == 0


def test_concurrent_threads_get_every_position_exactly_once(store: Any) -> None:
    threads, per_thread = 8, 40

    def worker(_: int) -> list[tuple[str, int]]:
        return [(t.request_id, t.position) for t in (store.enter(EVENT, rid(), None, T0) for _ in range(per_thread))]

    results = run_concurrently(threads, worker)
    pairs = [p for r in results for p in r]  # type: ignore[union-attr]
    positions = sorted(pos for _, pos in pairs)
    assert positions == list(range(1, threads * per_thread + 1))
    assert store.counters(EVENT).last_position == threads * per_thread
    for request_id, position in pairs[:: per_thread // 4]:
        ticket = store.get_ticket(EVENT, request_id, T0)
        assert ticket is not None and ticket.position == position


def test_separate_processes_get_every_position_exactly_once(shared_store_and_url: tuple[Any, str],
                                                            shared_count: Callable[[int], int]) -> None:
    store, store_url = shared_store_and_url
    processes, per_process = 4, shared_count(250)
    got = in_processes([(enter_many, (store_url, EVENT, per_process, None))] * processes)
    pairs = [pair for per_proc in got for pair in per_proc]
    counts = Counter(pos for _, pos in pairs)
    assert sorted(counts) == list(range(1, processes * per_process + 1))
    assert set(counts.values()) == {1}
    assert len({r for r, _ in pairs}) == processes * per_process
    assert store.counters(EVENT).last_position == processes * per_process
    for request_id, position in pairs[::97]:
        ticket = store.get_ticket(EVENT, request_id, T0)
        assert ticket is not None and ticket.position == position


def test_separate_processes_retrying_with_the_same_keys_hand_out_each_place_once(
    shared_store_and_url: tuple[Any, str], shared_count: Callable[[int], int],
) -> None:
    store, store_url = shared_store_and_url
    processes, per_process = 3, shared_count(100)
    # Every process sends the same idempotency keys, as three retries of one client would.
    per_proc = in_processes([(enter_many, (store_url, EVENT, per_process, "retry"))] * processes)
    assert store.counters(EVENT).last_position == per_process
    for i in range(per_process):
        answers = {got[i] for got in per_proc}
        assert len(answers) == 1, f"key retry-{i} got different places: {answers}"
    assert sorted(got[1] for got in per_proc[0]) == list(range(1, per_process + 1))


def test_same_idempotency_key_returns_the_first_ticket_and_hands_out_nothing(store: Any) -> None:
    first = store.enter(EVENT, rid(), "client-key-1", T0)
    again = store.enter(EVENT, rid(), "client-key-1", T0 + 3)
    assert again == first  # the first request id and entry time, not the retry's
    assert store.counters(EVENT).last_position == 1
    other = store.enter(EVENT, rid(), "client-key-2", T0 + 4)
    assert other.position == 2 and other.request_id != first.request_id


def test_entering_again_with_a_request_id_that_holds_a_place_hands_out_nothing(store: Any) -> None:
    """A queued entry delivered twice (queues deliver at least once) carries the same request id."""
    held = rid()
    first = store.enter(EVENT, held, None, T0)
    store.enter(EVENT, rid(), None, T0 + 1)
    assert store.enter(EVENT, held, None, T0 + 2) == first
    batch = store.enter_many(EVENT, [(rid(), None), (held, None), (rid(), None)], T0 + 3)
    assert [t.position for t in batch] == [3, 1, 4] and batch[1] == first
    assert store.counters(EVENT).last_position == 4


def test_a_retry_reports_the_current_status_of_the_place(store: Any) -> None:
    first = store.enter(EVENT, rid(), "k", T0)
    store.advance_serving(EVENT, 1, T0 + 10)
    again = store.enter(EVENT, rid(), "k", T0 + 11)
    assert again.request_id == first.request_id
    assert again.status is Status.ADMITTED and again.admitted_at == T0 + 10


def test_idempotency_keys_are_per_event(store: Any) -> None:
    a = store.enter("event-a", rid(), "same-key", T0)
    b = store.enter("event-b", rid(), "same-key", T0)
    assert a.request_id != b.request_id
    assert (a.position, b.position) == (1, 1)


def test_long_and_odd_idempotency_keys_work(store: Any) -> None:
    weird = "{x}:*?" + "k" * 120
    first = store.enter(EVENT, rid(), weird, T0)
    assert store.enter(EVENT, rid(), weird, T0).request_id == first.request_id
    assert store.enter(EVENT, rid(), weird[:-1], T0).position == 2


def test_concurrent_enters_with_one_key_hand_out_one_place(store: Any) -> None:
    results = run_concurrently(12, lambda i: store.enter(EVENT, rid(), "shared", T0 + i))
    assert not [r for r in results if isinstance(r, BaseException)]
    assert len({r.request_id for r in results}) == 1  # type: ignore[union-attr]
    assert {r.position for r in results} == {1}  # type: ignore[union-attr]
    assert store.counters(EVENT).last_position == 1


def test_concurrent_enters_with_a_few_keys_hand_out_one_place_per_key(store: Any) -> None:
    keys = [secrets.token_hex(8) for _ in range(4)]
    results = run_concurrently(16, lambda i: store.enter(EVENT, rid(), keys[i % 4], T0))
    by_key: dict[str, set[tuple[str, int]]] = {}
    for i, r in enumerate(results):
        assert not isinstance(r, BaseException)
        by_key.setdefault(keys[i % 4], set()).add((r.request_id, r.position))
    assert all(len(v) == 1 for v in by_key.values())
    assert sorted(next(iter(v))[1] for v in by_key.values()) == [1, 2, 3, 4]
    assert store.counters(EVENT).last_position == 4


def test_an_alias_names_a_place_and_is_read_with_its_ticket(store: Any) -> None:
    first, second = rid(), rid()
    store.enter(EVENT, first, None, T0)
    store.enter(EVENT, second, None, T0)
    assert store.resolve_alias(EVENT, "browser-a", T0) is None
    store.set_alias(EVENT, "browser-a", first, '{"generation": 0}', 60, T0)
    found = store.resolve_alias(EVENT, "browser-a", T0 + 1)
    assert found == (first, '{"generation": 0}', store.get_ticket(EVENT, first, T0 + 1))
    assert found[2].status is Status.WAITING
    store.advance_serving(EVENT, 2, T0 + 2)
    assert store.resolve_alias(EVENT, "browser-a", T0 + 3)[2].status is Status.ADMITTED  # the live status
    store.set_alias(EVENT, "browser-a", second, "note|with|bars", 60, T0 + 4)  # replaces, renews
    assert store.resolve_alias(EVENT, "browser-a", T0 + 63) == (second, "note|with|bars",
                                                               store.get_ticket(EVENT, second, T0 + 63))
    assert store.resolve_alias(EVENT, "browser-a", T0 + 64) is None  # expired
    assert store.resolve_alias(EVENT + "-other", "browser-a", T0 + 5) is None  # aliases are per event
    gone = rid()  # an alias of a place the store does not know: the name, with no ticket
    store.set_alias(EVENT, "browser-b", gone, "", 60, T0)
    assert store.resolve_alias(EVENT, "browser-b", T0) == (gone, "", None)
