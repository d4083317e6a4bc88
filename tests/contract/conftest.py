"""The store fixture: every test in this directory runs once against each registered store.

To put another adapter under the contract, add one line to ``STORES``: a name and a function
``(request, tmp_path) -> (store, url)`` that returns an empty store and the URL other processes
open it with (or None if the store cannot be shared with other processes, which skips the
multi-process tests for it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

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


STORES: dict[str, StoreFactory] = {
    "sqlite": sqlite_store,
    "redis": redis_store,
    "dynamodb": dynamodb_store,
}


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


@pytest.fixture
def store_url(store_and_url: tuple[Any, str | None]) -> str:
    """The URL that another process opens the same store with."""
    url = store_and_url[1]
    if url is None:
        pytest.skip("this store cannot be shared with other processes")
    return url
