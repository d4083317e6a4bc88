"""What only a Redis Cluster store promises: events spread over the nodes, each event on one slot,
the batched entry as one command, and a client that never resends a command whose reply timed out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import MovedError

from core.adapters import redis_client
from core.adapters.redis import RedisStore
from core.adapters.stores import open_store
from core.errors import StoreUnavailable
from tests.support import free_port, redis_cluster

from .helpers import T0, rid


@pytest.fixture
def cstore(redis_cluster_url: str) -> Iterator[RedisStore]:
    store = open_store(redis_cluster_url, timeout=5.0)
    store.client.flushdb(target_nodes=RedisCluster.PRIMARIES)
    yield store
    store.close()


def test_a_cluster_url_opens_a_cluster_client(cstore: RedisStore, redis_cluster_url: str) -> None:
    assert redis_cluster_url.startswith("redis+cluster://")
    assert isinstance(cstore.client, redis_client._Cluster)  # the client that never resends a timed-out command
    assert len(cstore.client.get_primaries()) == 3


def test_events_spread_over_the_nodes_and_each_event_stays_on_one(cstore: RedisStore) -> None:
    events = [f"event-{i}" for i in range(12)]
    for event in events:
        tickets = cstore.enter_many(event, [(rid(), f"key-{i}") for i in range(3)], T0)
        assert [t.position for t in tickets] == [1, 2, 3]
        cstore.advance_serving(event, 1, T0)
        cstore.sweep(event, T0 + 100, 60, True)
    nodes_of = {}
    for event in events:
        keys = cstore.client.keys(f"wr:{{{event}}}:*", target_nodes=RedisCluster.PRIMARIES)
        assert len(keys) >= 5
        nodes_of[event] = {cstore.client.get_node_from_key(k).name for k in keys}
        assert len(nodes_of[event]) == 1, nodes_of[event]
    assert len(set().union(*nodes_of.values())) > 1  # twelve hash tags do not all land on one node


def test_one_node_url_is_not_enough_for_a_cluster(cstore: RedisStore, redis_cluster_url: str) -> None:
    """Why the cluster URL exists: a plain URL to one node answers other nodes' keys with MOVED."""
    one_node = redis.Redis.from_url(redis_cluster_url.replace("redis+cluster://", "redis://"))
    with pytest.raises(MovedError):
        for i in range(50):
            one_node.get(f"wr:{{event-{i}}}:c")
    one_node.close()


def test_the_cluster_client_retries_a_refused_connection_but_never_a_timeout() -> None:
    assert redis.TimeoutError not in redis_client._Cluster.ERRORS_ALLOW_RETRY
    assert redis.ConnectionError in redis_client._Cluster.ERRORS_ALLOW_RETRY


def test_every_primary_must_be_noeviction(cstore: RedisStore) -> None:
    primary = cstore.client.get_primaries()[1]
    node = cstore.client.get_redis_connection(primary)
    node.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with pytest.raises(StoreUnavailable, match=f"maxmemory-policy is allkeys-lru on {primary.name}"):
            cstore.ping()
    finally:
        node.config_set("maxmemory-policy", "noeviction")
    cstore.ping()


def test_a_tls_cluster_works_through_rediss_cluster(tmp_path: Path) -> None:
    """ElastiCache Serverless speaks only TLS: ``rediss+cluster://`` with the server's CA."""
    with redis_cluster(tmp_path, tls=True) as url:
        assert url.startswith("rediss+cluster://")
        store = open_store(url, timeout=5.0)
        try:
            first = store.enter("tls-event", rid(), "key-1", T0)
            batch = store.enter_many("tls-event", [(rid(), "key-1"), (rid(), None)], T0)
            assert [t.position for t in batch] == [1, 2] and batch[0] == first
            assert store.get_ticket("tls-event", first.request_id, T0) == first
            store.ping()
        finally:
            store.close()


def test_a_cluster_that_does_not_answer_is_store_unavailable(tmp_path: Path) -> None:
    """Never an exception of the cluster client's own: at open (the topology is read at once)
    and when every node has gone."""
    with pytest.raises(StoreUnavailable, match="Redis Cluster unavailable"):
        open_store(f"redis+cluster://127.0.0.1:{free_port()}", timeout=0.3)
    with redis_cluster(tmp_path) as url:
        store = open_store(url, timeout=0.5)
        assert store.enter("gone", rid(), None, T0).position == 1
    for call in (lambda: store.enter("gone", rid(), None, T0), lambda: store.get_ticket("gone", rid(), T0),
                 lambda: store.enter_many("gone", [(rid(), "k")], T0), store.ping):
        with pytest.raises(StoreUnavailable):
            call()
    store.close()
