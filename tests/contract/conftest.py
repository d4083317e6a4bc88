"""The store fixture: every test in this directory runs once against each registered store.

To put another adapter under the contract, add one line to ``STORES``: a name and a function
``(request, tmp_path) -> (store, url)`` that returns an empty store and the URL other processes
open it with (or None if it cannot be opened from other processes in this test set-up).
The multi-process tests run against the stores named in ``SHARED_STORES`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.cluster import RedisCluster

from core.adapters.redis import RedisStore
from core.adapters.sqlite import SqliteStore
from tests.aws.moto_server import dynamodb_store, moto_endpoint  # noqa: F401 - the fixture must be visible here

StoreFactory = Callable[[pytest.FixtureRequest, Path], tuple[Any, str | None]]


def sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, str | None]:
    path = tmp_path / "state.db"
    return SqliteStore(str(path)), f"sqlite:///{path}"


def redis_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, str | None]:
    url: str = request.getfixturevalue("redis_url")
    store = RedisStore.from_url(url, timeout=5.0)
    store.client.flushdb()
    return store, url


def valkey_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, str | None]:
    """The Redis store against Valkey, the Redis fork that managed services (ElastiCache) now run."""
    url: str = request.getfixturevalue("valkey_url")
    store = RedisStore.from_url(url, timeout=5.0)
    store.client.flushdb()
    return store, url


def redis_cluster_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, str | None]:
    """The Redis store on a three-primary Redis Cluster (``redis+cluster://``), as on ElastiCache
    cluster mode or Serverless: every event's keys on the node owning its hash tag's slot."""
    url: str = request.getfixturevalue("redis_cluster_url")
    store = RedisStore.from_url(url, timeout=5.0)
    store.client.flushdb(target_nodes=RedisCluster.PRIMARIES)
    return store, url


@pytest.fixture
def rstore(redis_url: str) -> Iterator[RedisStore]:
    """An empty Redis store on the single-server fixture, for tests of the Redis store only."""
    store = RedisStore.from_url(redis_url, timeout=5.0)
    store.client.flushdb()
    yield store
    store.close()


STORES: dict[str, StoreFactory] = {
    "sqlite": sqlite_store,
    "redis": redis_store,
    "valkey": valkey_store,
    "redis-cluster": redis_cluster_store,
    "dynamodb": dynamodb_store,
}


SHARED_STORES = ("dynamodb", "redis", "redis-cluster", "sqlite", "valkey")
"""Stores the multi-process tests run against."""

SHARED_SCALE = {"dynamodb": 0.1}
"""Fraction of the multi-process tests' operations a store runs: moto's DynamoDB server answers
one request at a time (about three per entry), so it gets fewer entries, still from several
processes at once."""


@pytest.fixture(params=SHARED_STORES)
def shared_store_and_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """An empty store and the URL that another process opens the same store with."""
    store, url = STORES[request.param](request, tmp_path)
    assert url is not None, f"{request.param} is listed as shared but gives no URL"
    try:
        yield store, url
    finally:
        store.close()


@pytest.fixture
def shared_count(request: pytest.FixtureRequest) -> Callable[[int], int]:
    """``count(n)``: how many of ``n`` operations the multi-process test runs on its store."""
    scale = SHARED_SCALE.get(request.node.callspec.params.get("shared_store_and_url", ""), 1.0)
    return lambda n: max(2, round(n * scale))


@pytest.fixture(params=sorted(STORES))
def store_and_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, str | None]]:
    store, url = STORES[request.param](request, tmp_path)
    try:
        yield store, url
    finally:
        store.close()


@pytest.fixture
def store(store_and_url: tuple[Any, str | None]) -> Any:
    """An empty store implementing QueueStore and KeyValueStore."""
    return store_and_url[0]
