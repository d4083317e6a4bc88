"""The DynamoDB benchmark's model: virtual time from the calls the store makes, not from the machine."""

from __future__ import annotations

import pytest

from bench.dynamodb import moto_dynamodb, run_writers


@pytest.fixture(scope="module")
def client() -> object:
    with moto_dynamodb() as c:
        yield c


def test_one_enter_takes_the_latency_of_its_three_calls(client: object) -> None:
    run = run_writers(client, 1, 1, 0)
    # claim put 5 ms, counter ADD 5 ms, the place's batch write 7 ms, one after another
    assert run["calls"] == {"batch_write_item": 1, "put_item": 1, "update_item": 1}
    assert run["virtual_seconds"] == pytest.approx(0.017)
    assert run["positions_once_each"] and run["errors"] == []


def test_writers_overlap_and_batches_share_one_counter_update(client: object) -> None:
    single = run_writers(client, 4, 3, 0)
    assert single["entries"] == 12 and single["positions_once_each"]
    assert single["virtual_seconds"] == pytest.approx(3 * 0.017, abs=0.005)  # four writers at once, not in turn
    batches = run_writers(client, 2, 2, 10)
    assert batches["entries"] == 40 and batches["positions_once_each"] and batches["errors"] == []
    assert batches["calls"]["update_item"] == 4  # one ADD per batch of ten
    assert batches["calls"]["batch_write_item"] == 4
