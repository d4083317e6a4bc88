"""The draw benchmark works end to end on Redis and SQLite at a small N (it proves the bench
code and the positions it reads, not the speed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.draw_cost import fill, measure, opener, results
from core.adapters.redis import RedisStore
from core.adapters.sqlite import SqliteStore


@pytest.fixture(params=["redis", "sqlite"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        RedisStore.from_url(url).client.flushdb()
        return lambda: RedisStore.from_url(url, timeout=5.0)
    return lambda: SqliteStore(str(tmp_path / "draw.db"))


def test_the_draw_bench_measures_openings_and_reads(factory: Any) -> None:
    measured = measure(opener(factory), (30, 300), repeats=2, rounds=1, label="store")
    assert list(measured["opening_ms"]) == ["30", "300"]
    assert all(len(runs) == 2 and min(runs) > 0 for runs in measured["opening_runs_ms"].values())
    assert measured["opening_ratio"]["30"] == 1.0
    assert measured["reads"] == 300 and measured["read_size"] == 300  # every place read, each position checked
    assert measured["read_us"]["drawn"] > 0 and measured["read_us"]["fifo"] > 0
    opening, read = results(measured)
    assert opening["name"] == "draw opening (store)" and isinstance(opening["pass"], bool)
    assert read["ratio"] == measured["read_ratio"]
    with opener(factory)() as store:  # every event the bench made is reset
        assert store.counters("draw-300-1").last_position == 0
        assert store.counters("fifo-300").last_position == 0


def test_fill_keeps_a_sample_spread_over_the_line(factory: Any) -> None:
    with opener(factory)() as store:
        sample = fill(store, "sampled", 1_050, 0.0, sample=100)
    assert len(sample) == 100
    assert min(sample) == 1 and max(sample) == 991  # every 10th arrival index
