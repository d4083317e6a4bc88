"""Small helpers for the contract tests."""

from __future__ import annotations

import multiprocessing
import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

T0 = 1_800_000_000.0
EVENT = "spring-sale"


def rid() -> str:
    """A fresh request id, as the domain makes them."""
    return secrets.token_urlsafe(24)


def run_concurrently(n: int, fn: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``fn(0..n-1)`` in ``n`` threads released together; results (or raised errors) in order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def target(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:  # collected and inspected by the test
            results[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def in_processes(calls: list[tuple[Callable[..., None], tuple[Any, ...]]]) -> list[Any]:
    """Run each ``fn(*args, barrier, results)`` in its own spawned process, released together by
    the barrier; what each one put on ``results``, in arrival order. Every process must exit cleanly."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(calls))
    results = ctx.Queue()
    procs = [ctx.Process(target=fn, args=(*args, barrier, results)) for fn, args in calls]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return got


def admitted(store: Any, count: int, at: float = T0, event: str = EVENT) -> list[str]:
    """Enter ``count`` visitors at ``at`` and admit all of them at the same instant; their request ids."""
    ids = [rid() for _ in range(count)]
    for r in ids:
        store.enter(event, r, None, at)
    store.advance_serving(event, count, at)
    return ids
