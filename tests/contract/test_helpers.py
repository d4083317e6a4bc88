"""The concurrency helpers report a timeout as a timeout, not as a confusing error later on."""

from __future__ import annotations

import threading

import pytest

from .helpers import run_concurrently


def test_threads_that_do_not_finish_fail_the_test_as_timed_out() -> None:
    release = threading.Event()
    try:
        with pytest.raises(pytest.fail.Exception, match=r"timed out: 2 of 3 threads had not finished after 0.5 s"):
            run_concurrently(3, lambda i: release.wait(30) if i else "done", timeout=0.5)
    finally:
        release.set()


def test_threads_that_finish_give_their_results_and_errors_in_order() -> None:
    def fn(i: int) -> int:
        if i == 1:
            raise ValueError("the second one fails")
        return i * 10

    results = run_concurrently(3, fn)
    assert results[0] == 0 and results[2] == 20
    assert isinstance(results[1], ValueError)
