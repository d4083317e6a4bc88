"""KeyValueStore: short-lived records, single-use ones, and redemptions of sealed credentials."""

from __future__ import annotations

import time
from typing import Any

from .helpers import T0, run_concurrently


def test_put_get_take(store: Any) -> None:
    store.put("codes", "abc", '{"sub": "t_1"}', 60, T0)
    assert store.get("codes", "abc", T0 + 1) == '{"sub": "t_1"}'
    assert store.get("codes", "abc", T0 + 2) == '{"sub": "t_1"}'  # get does not consume
    assert store.take("codes", "abc", T0 + 3) == '{"sub": "t_1"}'
    assert store.take("codes", "abc", T0 + 3) is None  # single use
    assert store.get("codes", "abc", T0 + 3) is None


def test_records_expire_at_their_ttl(store: Any) -> None:
    store.put("codes", "a", "1", 60, T0)
    store.put("codes", "b", "2", 60, T0)
    assert store.get("codes", "a", T0 + 59.9) == "1"
    assert store.get("codes", "a", T0 + 60) is None
    assert store.take("codes", "b", T0 + 61) is None
    assert store.take("codes", "b", T0) is None  # an expired take still consumed it


def test_put_overwrites_and_renews(store: Any) -> None:
    store.put("tx", "k", "old", 10, T0)
    store.put("tx", "k", "new", 10, T0 + 5)
    assert store.get("tx", "k", T0 + 12) == "new"


def test_namespaces_are_separate_and_delete_removes(store: Any) -> None:
    store.put("codes", "k", "code", 60, T0)
    store.put("tx", "k", "transaction|with:separators", 60, T0)
    assert store.get("tx", "k", T0) == "transaction|with:separators"
    store.delete("codes", "k")
    store.delete("codes", "missing")
    assert store.get("codes", "k", T0) is None
    assert store.take("tx", "k", T0) == "transaction|with:separators"


UNTIL = T0 + 60  # the instant the credential being redeemed expires


def test_redeem_by_an_attempt_is_that_attempt_s_own_again(store: Any) -> None:
    """A call resent after its answer was lost (same attempt) gets the first answer again;
    any other attempt, or none, is a replay."""
    assert store.redeem("codes", "c", "grant", UNTIL, 3600, T0 + 1, "try-1") == ("grant", None)
    assert store.redeem("codes", "c", "grant", UNTIL, 3600, T0 + 2, "try-1") == ("grant", None)
    assert store.redeem("codes", "c", "grant", UNTIL, 3600, T0 + 3, "try-2") == (None, "grant")
    assert store.redeem("codes", "c", "grant", UNTIL, 3600, T0 + 4) == (None, "grant")


def test_release_forgets_the_redemption_of_its_own_attempt_only(store: Any) -> None:
    store.redeem("codes", "c", "grant", UNTIL, 3600, T0 + 1, "try-1")
    assert store.release("codes", "c", "try-2", T0 + 2) is False  # another attempt: nothing changes
    assert store.redeem("codes", "c", "grant", UNTIL, 3600, T0 + 3, "try-3") == (None, "grant")
    assert store.release("codes", "c", "try-1", T0 + 4) is True
    assert store.release("codes", "c", "try-1", T0 + 4) is False  # once
    assert store.release("codes", "missing", "try-1", T0 + 1) is False  # never redeemed
    # Released, the key is redeemed as a first redemption by the next attempt, while not expired.
    assert store.redeem("codes", "c", "grant", UNTIL, 3600, T0 + 6, "try-4") == ("grant", None)
    assert store.redeem("codes", "c", "grant", UNTIL, 3600, T0 + 7, "try-5") == (None, "grant")


def test_a_redemption_released_after_the_expiry_is_gone(store: Any) -> None:
    store.redeem("codes", "c", "grant", UNTIL, 3600, T0 + 59, "try-1")
    assert store.release("codes", "c", "try-1", T0 + 61) is True
    assert store.redeem("codes", "c", "grant", UNTIL, 3600, T0 + 61, "try-2") == (None, None)  # neither


def test_concurrent_takes_have_exactly_one_winner(store: Any) -> None:
    for n in range(3):
        store.put("codes", f"code-{n}", f"value-{n}", 60, T0)
        results = run_concurrently(12, lambda _: store.take("codes", f"code-{n}", T0 + 1))  # noqa: B023
        assert results.count(f"value-{n}") == 1
        assert results.count(None) == 11


def test_redeem_records_a_key_once_and_remembers_it(store: Any) -> None:
    assert store.get("codes", "c", T0) is None  # nothing is stored before the first use
    assert store.redeem("codes", "c", '{"grant": 1}', UNTIL, 3600, T0 + 1) == ('{"grant": 1}', None)
    assert store.redeem("codes", "c", '{"grant": 2}', UNTIL, 3600, T0 + 2) == (None, '{"grant": 1}')  # a replay
    assert store.redeem("codes", "c", '{"grant": 1}', UNTIL, 3600, T0 + 120) == (None, '{"grant": 1}')  # after until
    assert store.get("codes", "c", T0 + 2) is None  # a redemption is not a live record...
    assert store.take("codes", "c", T0 + 2) is None  # ...nor taken...
    assert store.redeem("codes", "c", '{"grant": 1}', UNTIL, 3600, T0 + 3) == (None, '{"grant": 1}')  # ...and stays
    assert store.redeem("codes", "c", '{"grant": 1}', UNTIL, 3600, T0 + 1 + 3600) == (None, None)  # forgotten


def test_redeem_after_the_expiry_records_nothing(store: Any) -> None:
    assert store.redeem("codes", "late", "v", UNTIL, 3600, UNTIL, "try-1") == (None, None)
    assert store.redeem("codes", "late", "v", UNTIL, 3600, UNTIL + 1, "try-2") == (None, None)
    assert store.redeem("codes", "late", "v", UNTIL + 10, 3600, UNTIL + 1, "try-3") == ("v", None)  # nothing was
    store.put("other", "c", "v", 60, T0)
    assert store.redeem("codes", "c", "w", UNTIL, 3600, T0) == ("w", None)  # namespaces stay separate
    assert store.get("other", "c", T0) == "v"


def test_a_put_record_is_no_redemption_and_delete_forgets_one(store: Any) -> None:
    store.put("codes", "c", "first", 60, T0)
    assert store.redeem("codes", "c", "grant", UNTIL, 3600, T0 + 1) == ("grant", None)
    assert store.get("codes", "c", T0 + 1) is None
    store.delete("codes", "c")
    assert store.redeem("codes", "c", "again", UNTIL, 3600, T0 + 3) == ("again", None)


def test_concurrent_redeems_have_exactly_one_winner(store: Any) -> None:
    for n in range(3):
        results = run_concurrently(12, lambda i: store.redeem(
            "codes", f"code-{n}", f"value-{n}", UNTIL, 3600, T0 + 1, f"try-{i}"))  # noqa: B023
        assert results.count((f"value-{n}", None)) == 1
        assert results.count((None, f"value-{n}")) == 11  # every loser sees the winner's use


def test_incr_counts_every_hit_of_a_window_once_and_starts_again_after_it(store: Any) -> None:
    now = time.time()  # real time: Redis ends a window by its own clock
    assert [store.incr("rate", "ip", 60, now + i) for i in range(3)] == [1, 2, 3]
    assert store.incr("rate", "other-ip", 60, now) == 1
    counts = run_concurrently(12, lambda _: store.incr("rate", "burst", 60, now))
    assert sorted(counts) == list(range(1, 13))  # type: ignore[type-var]
    assert store.incr("rate", "short", 0.3, now) == 1
    assert store.incr("rate", "short", 0.3, now) == 2
    time.sleep(0.5)
    assert store.incr("rate", "short", 0.3, time.time()) == 1
