"""A lost reply never runs a store write twice, on one Redis server and on a Redis Cluster.

Between the store and Redis sits a real TCP proxy (:mod:`.lossy_proxy`) that lets one request
through and drops the connection instead of forwarding its reply. The write ran once on the
server; the store must report it as unavailable (HTTP 503: the caller retries, with its
idempotency key where it has one) and must not resend it, which would hand out a second place,
move the serving counter twice or count a hit twice. A read whose reply was lost is read again,
since reading twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from redis.cluster import RedisCluster

from core.adapters import redis_client
from core.adapters.redis import RedisStore
from core.errors import StoreUnavailable

from .helpers import EVENT, T0, rid
from .lossy_proxy import Trap, lossy_proxies


@dataclass(frozen=True)
class Write:
    """A store write that is not idempotent: ``before`` sets the scene (and loads the script, so
    the lost reply is the script's own and not a ``NOSCRIPT``), ``write`` is the call whose reply
    is lost (its request contains ``trigger``), ``count`` reads what it changed, and ``grows`` is
    how much one run of it changes that."""

    before: Callable[[RedisStore], object]
    trigger: bytes
    write: Callable[[RedisStore], object]
    count: Callable[[RedisStore], int]
    grows: int


WRITES = {
    "enter without an idempotency key": Write(
        before=lambda s: s.enter(EVENT, rid(), None, T0), trigger=b"EVALSHA",
        write=lambda s: s.enter(EVENT, rid(), None, T0), count=lambda s: s.counters(EVENT).last_position, grows=1),
    "advance the serving counter": Write(
        before=lambda s: (s.enter_many(EVENT, [(rid(), None) for _ in range(20)], T0), s.advance_serving(EVENT, 1, T0)),
        trigger=b"EVALSHA", write=lambda s: s.advance_serving(EVENT, 3, T0),
        count=lambda s: s.counters(EVENT).serving, grows=3),
    "count a hit (MULTI/EXEC)": Write(
        before=lambda s: s.incr("hits", "client-1", 60, T0), trigger=b"EXEC",
        write=lambda s: s.incr("hits", "client-1", 60, T0),
        count=lambda s: int(s.client.get("wr:kv:hits:client-1")), grows=1),
}


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _outcome(call: Callable[[], object]) -> object:
    """What ``call`` returned, or the error it raised."""
    try:
        return call()
    except Exception as exc:  # the test asserts which
        return exc


@pytest.fixture
def trap() -> Trap:
    return Trap()


@pytest.fixture
def one_server(redis_url: str, trap: Trap) -> Iterator[RedisStore]:
    """A store on one Redis server, reached through a lossy proxy."""
    with lossy_proxies([_address(redis_url)], trap) as [proxy]:
        store = RedisStore.from_url(f"redis://127.0.0.1:{proxy.port}/0", timeout=5.0)
        store.client.flushdb()
        yield store
        store.close()


@pytest.fixture
def cluster(redis_cluster_url: str, trap: Trap) -> Iterator[RedisStore]:
    """A store on a three-primary Redis Cluster, every node reached through its own lossy proxy
    (the client is told the proxies' addresses for the nodes the cluster names)."""
    direct = redis_client.connect(redis_cluster_url, 5.0)
    assert isinstance(direct, RedisCluster)
    nodes = [(node.host, node.port) for node in direct.get_nodes()]
    direct.close()
    with lossy_proxies(nodes, trap) as proxies:
        remap = {node: ("127.0.0.1", proxy.port) for node, proxy in zip(nodes, proxies, strict=True)}
        client = redis_client.connect(f"redis+cluster://127.0.0.1:{proxies[0].port}", 5.0,
                                      address_remap=lambda address: remap.get(address, address))
        store = RedisStore(client)
        client.flushdb(target_nodes=RedisCluster.PRIMARIES)
        yield store
        store.close()


@pytest.fixture(params=["one server", "cluster"])
def store(request: pytest.FixtureRequest) -> RedisStore:
    return request.getfixturevalue("one_server" if request.param == "one server" else "cluster")


@pytest.mark.parametrize("name", sorted(WRITES))
def test_a_write_whose_reply_is_lost_runs_once_and_is_store_unavailable(
        store: RedisStore, trap: Trap, name: str) -> None:
    write = WRITES[name]
    write.before(store)
    before = write.count(store)
    trap.arm(write.trigger)
    outcome = _outcome(lambda: write.write(store))
    assert trap.sprung == 1  # the request reached the server and its reply was lost
    assert write.count(store) == before + write.grows, "the write was resent and ran twice"
    assert isinstance(outcome, StoreUnavailable), outcome
    write.write(store)  # the store works again at once
    assert write.count(store) == before + 2 * write.grows


def test_a_lost_place_is_told_apart_from_the_next_one(store: RedisStore, trap: Trap) -> None:
    """The place the lost reply held stays taken: the next visitor gets the one after it, and a
    client that retries with its idempotency key gets the place it was given, not a new one."""
    trap.arm(b"EVALSHA")
    with pytest.raises(StoreUnavailable):
        store.enter(EVENT, rid(), "key-1", T0)
    assert store.enter(EVENT, rid(), "key-1", T0).position == 1  # the retry: the same place
    assert store.enter(EVENT, rid(), None, T0).position == 2


def test_a_read_whose_reply_is_lost_is_read_again(store: RedisStore, trap: Trap) -> None:
    ticket = store.enter(EVENT, rid(), None, T0)
    assert store.get_ticket(EVENT, ticket.request_id, T0) == ticket  # loads the script
    trap.arm(b"EVALSHA")
    assert store.get_ticket(EVENT, ticket.request_id, T0) == ticket
    trap.arm(b"HMGET")
    assert store.counters(EVENT).last_position == 1
    assert trap.sprung == 2
