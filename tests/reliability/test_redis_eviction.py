"""A Redis that may evict keys is refused; one that is full refuses writes cleanly (503, nothing lost).

A real redis-server with a small ``maxmemory`` runs under each eviction policy in turn. Every
policy but ``noeviction`` drops keys silently when memory runs out (places in line, idempotency
records, single-use codes), so the store refuses to open on it, unless told to run anyway, and
``/readyz`` reports it. Under ``noeviction`` a full Redis refuses writes with OOM: the visitor gets
503 with Retry-After, every acknowledged place stays, and entering resumes with no gap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from core.adapters.redis import RedisStore
from core.adapters.redis_eviction import EvictionPolicyRefused
from core.clock import ManualClock
from core.errors import StoreUnavailable
from core.settings import SettingsError
from oidc_adaptor.app import create_app
from oidc_adaptor.entrypoints.server import prepare
from tests.conftest import make_settings
from tests.support import free_port, redis_server

EVENT = "spring-sale"
T0 = 1_800_000_000.0
EVICTING = ("volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu", "volatile-random", "allkeys-random",
            "volatile-ttl")


@pytest.fixture(scope="module")
def small_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("small-redis"), "--maxmemory", "4mb") as (url, _proc):
        yield url


@pytest.fixture
def admin(small_redis: str) -> Iterator[redis.Redis]:
    """A plain client to set the policy and the limit; everything is put back afterwards."""
    client = redis.Redis.from_url(small_redis, decode_responses=True)
    client.flushall()
    yield client
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "4mb")
    client.flushall()
    client.close()


@pytest.mark.parametrize("policy", EVICTING)
def test_an_evicting_policy_is_refused_with_one_clear_line(admin: redis.Redis, small_redis: str, policy: str) -> None:
    admin.config_set("maxmemory-policy", policy)
    with pytest.raises(EvictionPolicyRefused) as refused:
        RedisStore.from_url(small_redis)
    message = str(refused.value)
    assert f"maxmemory-policy is {policy}" in message and "noeviction" in message
    assert "allow_redis_eviction" in message and "\n" not in message
    assert isinstance(refused.value, SettingsError)  # the command line prints it as one line and exits


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru"])
def test_allowing_eviction_turns_the_refusal_into_one_warning(
    admin: redis.Redis, small_redis: str, policy: str, caplog: pytest.LogCaptureFixture,
) -> None:
    admin.config_set("maxmemory-policy", policy)
    with caplog.at_level(logging.WARNING, logger="waitingroom.store"):
        store = RedisStore.from_url(small_redis, allow_eviction=True)
        store.ping()
        store.ping()
    warnings = [r.getMessage() for r in caplog.records if "maxmemory-policy" in r.getMessage()]
    assert len(warnings) == 1 and policy in warnings[0]  # once, not on every readiness probe
    assert store.enter(EVENT, "r" * 32, None, T0).position == 1
    store.close()


def test_noeviction_opens_without_a_word(admin: redis.Redis, small_redis: str,
                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="waitingroom.store"):
        store = RedisStore.from_url(small_redis)
        store.ping()
    assert not [r for r in caplog.records if "maxmemory" in r.getMessage()]
    store.close()


def test_a_policy_changed_while_running_makes_readyz_fail(admin: redis.Redis, small_redis: str,
                                                          tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, store=small_redis), clock=ManualClock(T0))
    web = app.test_client()
    assert web.get("/readyz").status_code == 200
    admin.config_set("maxmemory-policy", "volatile-lru")  # ElastiCache's default parameter group
    response = web.get("/readyz")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "maxmemory-policy is volatile-lru" in response.get_json()["message"]
    app.extensions["waitingroom"].store.close()


def test_serve_refuses_an_evicting_redis_before_any_worker_starts(admin: redis.Redis, small_redis: str,
                                                                  tmp_path: Path) -> None:
    admin.config_set("maxmemory-policy", "allkeys-lru")
    with pytest.raises(SettingsError, match="maxmemory-policy is allkeys-lru"):
        prepare(make_settings(tmp_path, store=small_redis))
    prepare(make_settings(tmp_path, store=small_redis, server={"allow_redis_eviction": True}))


def test_serve_says_in_one_line_that_a_cluster_does_not_answer(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="Redis Cluster unavailable"):  # the command: one line, exit 3
        prepare(make_settings(tmp_path, store=f"redis+cluster://127.0.0.1:{free_port()}",
                              server={"store_timeout": 0.3}))


def fill_until_refused(store: RedisStore, admin: redis.Redis) -> list[Any]:
    """Enter visitors (each with an idempotency key) until Redis refuses for memory; the tickets it acknowledged."""
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) + 300_000)
    acknowledged = []
    for i in range(100_000):
        try:
            acknowledged.append(store.enter(EVENT, f"{i:032d}", f"key-{i}", T0))
        except StoreUnavailable as exc:
            assert "out of memory" in str(exc)
            # Full stays full: Redis's own use moves by a few kilobytes (buffers freed after a
            # command), so the limit goes under it; a write is then refused at its first write
            # command, a read is not.
            admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) - 262_144)
            return acknowledged
    raise AssertionError("Redis never ran out of memory")


def test_a_full_redis_refuses_writes_and_loses_nothing(admin: redis.Redis, small_redis: str) -> None:
    store = RedisStore.from_url(small_redis, timeout=5.0)
    acknowledged = fill_until_refused(store, admin)
    n = len(acknowledged)
    assert n > 100
    assert [t.position for t in acknowledged] == list(range(1, n + 1))
    with pytest.raises(StoreUnavailable):
        store.enter_many(EVENT, [("x" * 32, "batch-1"), ("y" * 32, "batch-2")], T0)
    # Reads still answer, and a retried entry gets its place back: nothing was evicted.
    assert store.enter(EVENT, "z" * 32, "key-7", T0) == acknowledged[7]
    assert all(store.get_ticket(EVENT, t.request_id, T0) == t for t in acknowledged)
    assert store.counters(EVENT).last_position == n
    admin.config_set("maxmemory", "64mb")
    assert store.enter(EVENT, "w" * 32, None, T0).position == n + 1  # no gap, no repeat
    store.close()


def test_a_full_redis_answers_503_with_retry_after(admin: redis.Redis, small_redis: str, tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, store=small_redis), clock=ManualClock(T0))
    store = app.extensions["waitingroom"].store
    fill_until_refused(store, admin)
    response = app.test_client().post("/assign_queue_num", json={"event_id": EVENT})
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.get_json()["error"] == "store_unavailable"
    store.close()


@pytest.fixture(scope="module")
def redis_without_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that refuses CONFIG, as ElastiCache does; its policy shows only in INFO memory."""
    with redis_server(tmp_path_factory.mktemp("no-config"), "--maxmemory", "4mb", "--maxmemory-policy",
                      "volatile-lru", "--rename-command", "CONFIG", "") as (url, _proc):
        yield url


def test_without_config_the_policy_is_read_from_info(redis_without_config: str) -> None:
    with pytest.raises(EvictionPolicyRefused, match="maxmemory-policy is volatile-lru"):
        RedisStore.from_url(redis_without_config)


def test_a_policy_nobody_tells_is_a_warning(redis_without_config: str, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise redis.ResponseError("unknown command 'INFO'")

    monkeypatch.setattr(redis.Redis, "info", refused)
    with caplog.at_level(logging.WARNING, logger="waitingroom.store"):
        store = RedisStore.from_url(redis_without_config)
        store.ping()
    assert any("could not be read" in r.getMessage() for r in caplog.records)
    store.close()
