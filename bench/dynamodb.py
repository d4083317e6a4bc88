"""The DynamoDB store's entry rate per event, under DynamoDB's in-region latencies.

moto answers every call (the semantics are the real store's), and each call then takes the time
DynamoDB takes in the same region (:data:`LATENCY_MS`) on a *virtual* clock: writers are
threads, exactly one runs at a time, and the clock jumps to the next writer's wake-up. So the
result depends on the calls the store makes and on their latencies, not on how fast moto or this
machine is (a loaded two-core machine measures the same as an idle one), and moto, which is not
thread-safe, is never entered twice at once.

The counters item's write ceiling (1,000 write units per second for one item) is modelled as a
queue: one write of that item per millisecond, a write that arrives while the item is busy waits
its turn. Real DynamoDB throttles instead (and the store retries with backoff), so near the
ceiling the real rate is somewhat lower than this model's.

Calls a store sends "at once" (the claim puts of an entry) overlap: the store's ``_parallel`` is
replaced by one that runs them one after another on moto and then waits for the slowest.
"""

from __future__ import annotations

import heapq
import itertools
import os
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

LATENCY_MS = {
    "get_item": 4.0, "batch_get_item": 5.0, "query": 6.0, "transact_get_items": 8.0,
    "put_item": 5.0, "update_item": 5.0, "delete_item": 5.0, "batch_write_item": 7.0,
    "transact_write_items": 12.0, "describe_table": 3.0,
}
"""Milliseconds per call, in region (the issue's model: GetItem 4 ms, UpdateItem about 5 ms,
TransactWriteItems 12 ms; the others in proportion)."""

ITEM_WRITES_PER_S = 1000.0
"""Write units per second one item takes (DynamoDB's per-item, per-partition ceiling)."""

SYNC_TARGET = 800.0  # entries per second per event, one enter per request
QUEUE_TARGET = 5000.0  # entries per second per event through the queue (batches of ten)
REGION = "eu-west-1"


class VirtualClock:
    """Simulated time shared by ``writers`` threads: one runs at a time, the others sleep."""

    def __init__(self, writers: int) -> None:
        self._cond = threading.Condition()
        self._sleepers: list[tuple[float, int]] = []
        self._seq = itertools.count()
        self._running = writers
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        with self._cond:
            me = (self.now + seconds, next(self._seq))
            heapq.heappush(self._sleepers, me)
            self._running -= 1
            self._cond.notify_all()
            while not (self._running == 0 and self._sleepers[0] == me):
                self._cond.wait()
            heapq.heappop(self._sleepers)
            self.now = me[0]
            self._running += 1

    def done(self) -> None:
        """The calling writer has finished: the others no longer wait for it."""
        with self._cond:
            self._running -= 1
            self._cond.notify_all()


class ModelledClient:
    """A boto3 DynamoDB client whose every call takes :data:`LATENCY_MS` on a :class:`VirtualClock`,
    counting calls and write units per operation."""

    def __init__(self, client: Any, clock: VirtualClock) -> None:
        self._client = client
        self.clock = clock
        self.calls: Counter[str] = Counter()
        self.write_units = 0
        self._counters_free_at = 0.0
        self._together = threading.local()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            self.calls[name] += 1
            self.write_units += _write_units(name, kwargs)
            delay = LATENCY_MS.get(name, 5.0) / 1000
            if _writes_counters(name, kwargs):  # the one hot item: at most one write per millisecond
                start = max(self.clock.now, self._counters_free_at)
                self._counters_free_at = start + 1 / ITEM_WRITES_PER_S
                delay += start - self.clock.now
            try:
                return method(**kwargs)
            finally:
                pending = getattr(self._together, "delays", None)
                if pending is None:
                    self.clock.sleep(delay)
                else:
                    pending.append(delay)

        return call

    def parallel(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Calls sent at once: run one after another on moto, then wait for the slowest."""
        self._together.delays = []
        results: list[T] = []
        error: BaseException | None = None
        try:
            for call in calls:
                try:
                    results.append(call())
                except BaseException as exc:  # raised after the others, as the store's own pool does
                    error = error or exc
        finally:
            delays = self._together.delays
            self._together.delays = None
            self.clock.sleep(max(delays, default=0.0))
        if error is not None:
            raise error
        return results


def _writes_counters(name: str, kwargs: dict[str, Any]) -> bool:
    if name in ("update_item", "put_item", "delete_item"):
        return bool(kwargs.get("Key", kwargs.get("Item", {})).get("sk", {}).get("S") == "COUNTERS")
    if name == "transact_write_items":
        return any(next(iter(op.values())).get("Key", {}).get("sk", {}).get("S") == "COUNTERS"
                   for op in kwargs.get("TransactItems", []))
    return False


def _write_units(name: str, kwargs: dict[str, Any]) -> int:
    """Write units of a call of items under 1 KB: one per item written, two in a transaction."""
    if name in ("put_item", "update_item", "delete_item"):
        return 1
    if name == "batch_write_item":
        return sum(len(requests) for requests in kwargs.get("RequestItems", {}).values())
    if name == "transact_write_items":
        return 2 * len(kwargs.get("TransactItems", []))
    return 0


@contextmanager
def moto_dynamodb() -> Iterator[Any]:
    """moto's in-memory DynamoDB, with fake credentials; a boto3 client for it."""
    import boto3
    from moto import mock_aws

    saved = {name: os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    try:
        with mock_aws():
            yield boto3.client("dynamodb", region_name=REGION)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_writers(client: Any, writers: int, calls_per_writer: int, batch: int) -> dict[str, Any]:
    """``writers`` writers each enter ``calls_per_writer`` times into one event of a fresh table:
    one visitor per ``enter`` when ``batch`` is 0, else ``enter_many`` of ``batch`` visitors with
    idempotency keys (the queue consumer's call). Entries per virtual second, calls and units."""
    from core.adapters.dynamodb import DynamoDbStore, create_table

    table = f"bench-{uuid.uuid4().hex[:8]}"
    create_table(client, table)
    clock = VirtualClock(writers)
    modelled = ModelledClient(client, clock)
    store = DynamoDbStore(table, client=modelled, timeout=30.0)
    store._parallel = modelled.parallel  # type: ignore[method-assign]  # claims overlap in virtual time
    entered: list[int] = []
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            clock.sleep(0)  # start together, one at a time
            for _ in range(calls_per_writer):
                if batch:
                    tickets = store.enter_many(
                        "bench", [(secrets.token_urlsafe(24), secrets.token_hex(8)) for _ in range(batch)],
                        1_800_000_000.0)
                    entered.extend(t.position for t in tickets)
                else:
                    entered.append(store.enter("bench", secrets.token_urlsafe(24), None, 1_800_000_000.0).position)
        except BaseException as exc:  # reported in the result
            failures.append(exc)
        finally:
            clock.done()

    threads = [threading.Thread(target=writer, name=f"writer-{i}") for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    count = len(entered)
    seconds = clock.now
    plain = DynamoDbStore(table, client=client)  # off the virtual clock: the writers are done
    ok = sorted(entered) == list(range(1, count + 1)) and plain.counters("bench").last_position == count
    return {
        "writers": writers, "entries": count, "virtual_seconds": round(seconds, 4),
        "entries_per_s": round(count / seconds, 1) if seconds else 0.0,
        "calls_per_entry": round(sum(modelled.calls.values()) / max(count, 1), 3),
        "write_units_per_entry": round(modelled.write_units / max(count, 1), 3),
        "calls": dict(sorted(modelled.calls.items())),
        "positions_once_each": ok, "errors": [repr(e) for e in failures[:3]],
    }


def bench_dynamodb(quick: bool) -> list[dict[str, Any]]:
    """One result per writer count, for one enter per request and for batches of ten."""
    results: list[dict[str, Any]] = []
    with moto_dynamodb() as client:
        for label, batch, target, per_writer in (("enter", 0, SYNC_TARGET, 8 if quick else 40),
                                                 ("queue batch", 10, QUEUE_TARGET, 2 if quick else 8)):
            for writers in (1, 4, 16, 64):
                run = run_writers(client, writers, per_writer, batch)
                rate = run["entries_per_s"]
                result: dict[str, Any] = {
                    "name": f"dynamodb {label}, {writers} writer{'s' if writers > 1 else ''}",
                    "ratio": round(rate / ITEM_WRITES_PER_S, 3), "unit": "entries/s",
                    "metrics": {"project_rps": rate, "reference_rps": ITEM_WRITES_PER_S,
                                "errors": len(run["errors"])},
                    "run": run,
                    "notes": "reference: the counters item's write ceiling (1,000 units/s); virtual time, "
                             f"latencies {LATENCY_MS}",
                }
                if writers == 64:  # the targets are for a crowd, not for one writer
                    result["target_text"] = f">= {target:,.0f} entries/s"
                    result["pass"] = rate >= target and run["positions_once_each"] and not run["errors"]
                results.append(result)
    return results
