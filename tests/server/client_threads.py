"""Misbehaving clients, each in a thread of its own, for as long as a test's block lasts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def clients_running(count: int, run: Callable[[threading.Event], None]) -> Iterator[None]:
    """``count`` threads each running ``run(stop)`` until the block ends; then ``stop`` is set and
    every thread is joined (30 s at most each)."""
    stop = threading.Event()
    threads = [threading.Thread(target=run, args=(stop,), daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
