"""Small helpers for the contract tests."""

from __future__ import annotations

import multiprocessing
import queue
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

T0 = 1_800_000_000.0
EVENT = "spring-sale"


def rid() -> str:
    """A fresh request id, as the domain makes them."""
    return secrets.token_urlsafe(24)


CONCURRENCY_TIMEOUT = 300.0
"""Seconds a concurrency test may take before it fails as timed out: generous, because a loaded
two-core machine (and moto's single-threaded server) can be many times slower than a laptop."""


def run_concurrently(n: int, fn: Callable[[int], T], timeout: float = CONCURRENCY_TIMEOUT) -> list[T | BaseException]:
    """Run ``fn(0..n-1)`` in ``n`` threads released together; results (or raised errors) in order.

    Fails the test with a message saying so if the threads have not all finished within
    ``timeout`` seconds (the stragglers are daemon threads, so the run is not held up)."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    finished = [False] * n

    def target(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:  # collected and inspected by the test
            results[i] = exc
        finished[i] = True

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    if not all(finished):
        pytest.fail(f"timed out: {finished.count(False)} of {n} threads had not finished after {timeout:g} s",
                    pytrace=False)
    return results


def in_processes(calls: list[tuple[Callable[..., None], tuple[Any, ...]]],
                 timeout: float = CONCURRENCY_TIMEOUT) -> list[Any]:
    """Run each ``fn(*args, barrier, results)`` in its own spawned process, released together by
    the barrier; what each one put on ``results``, in arrival order. Every process must exit
    cleanly; the test fails as timed out if they have not all answered within ``timeout`` seconds."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(calls))
    results = ctx.Queue()
    procs = [ctx.Process(target=fn, args=(*args, barrier, results)) for fn, args in calls]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    got = []
    try:
        for _ in procs:
            got.append(results.get(timeout=max(0.0, deadline - time.monotonic())))
    except queue.Empty:
        for p in procs:
            p.kill()
        pytest.fail(f"timed out: {len(procs) - len(got)} of {len(procs)} processes had not answered after "
                    f"{timeout:g} s", pytrace=False)
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
