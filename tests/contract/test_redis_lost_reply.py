"""A lost reply never runs a store write twice, on one Redis server and on a Redis Cluster.

Between the store and Redis sits a real TCP proxy (:mod:`.lossy_proxy`) that lets one request
through and drops the connection instead of forwarding its reply. The write ran once on the
server; the store must report it as unavailable (HTTP 503: the caller retries) and must not
resend it, which would move the serving counter twice, end a session twice (and answer that it
had already ended), count a hit twice or answer a claimed tick as claimed by another. A read
whose reply was lost is read again, and so is an entry, which finds the place its first run
took, and the draw's preparation and opening, which find their first run's record: all change
nothing when run twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from redis.cluster import RedisCluster

from core.adapters import redis_client
from core.adapters.redis import RedisStore
from core.adapters.redis_resend import ReplyLost, UnsentOnlyRetry
from core.draw import DrawState
from core.errors import StoreUnavailable
from core.model import Status

from .helpers import EVENT, T0, rid
from .lossy_proxy import Trap, lossy_proxies


@dataclass(frozen=True)
class Write:
    """A store write that is not idempotent: ``before`` sets the scene and returns what the
    write needs (it also loads the script, so the lost reply is the script's own and not a
    ``NOSCRIPT``), ``write`` is the call whose reply is lost (its request contains
    ``trigger``), ``count`` reads what it changed, and ``grows`` is how much one run changes it."""

    before: Callable[[RedisStore], Any]
    trigger: bytes
    write: Callable[[RedisStore, Any], object]
    count: Callable[[RedisStore], int]
    grows: int


def _issued(store: RedisStore) -> list[str]:
    """Three visitors admitted with tokens issued: their request ids."""
    tickets = store.enter_many(EVENT, [(rid(), None) for _ in range(3)], T0)
    store.advance_serving(EVENT, 3, T0)
    for i, ticket in enumerate(tickets):
        store.issue_session(EVENT, ticket.request_id, f"jti-{i}", int(T0), int(T0) + 600, T0)
    store.end_session(EVENT, tickets[0].request_id, Status.COMPLETED, T0)
    return [t.request_id for t in tickets[1:]]


WRITES = {
    "advance the serving counter": Write(
        before=lambda s: (s.enter_many(EVENT, [(rid(), None) for _ in range(20)], T0), s.advance_serving(EVENT, 1, T0)),
        trigger=b"EVALSHA", write=lambda s, _: s.advance_serving(EVENT, 3, T0),
        count=lambda s: s.counters(EVENT).serving, grows=3),
    "end a session": Write(
        before=_issued, trigger=b"EVALSHA",
        write=lambda s, rids: s.end_session(EVENT, rids.pop(0), Status.COMPLETED, T0),
        count=lambda s: s.counters(EVENT).completed, grows=1),
    "count a hit (MULTI/EXEC)": Write(
        before=lambda s: s.incr("hits", "client-1", 60, T0), trigger=b"EXEC",
        write=lambda s, _: s.incr("hits", "client-1", 60, T0),
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


def _one_server(request: pytest.FixtureRequest, trap: Trap, timeout: float) -> Iterator[RedisStore]:
    """A store on one Redis server, reached through a lossy proxy."""
    url: str = request.getfixturevalue("redis_url")
    with lossy_proxies([_address(url)], trap) as [proxy]:
        store = RedisStore.from_url(f"redis://127.0.0.1:{proxy.port}/0", timeout=timeout)
        store.client.flushdb()
        yield store
        store.close()


def _cluster(request: pytest.FixtureRequest, trap: Trap, timeout: float) -> Iterator[RedisStore]:
    """A store on a three-primary Redis Cluster, every node reached through its own lossy proxy
    (the client is told the proxies' addresses for the nodes the cluster names)."""
    direct = redis_client.connect(request.getfixturevalue("redis_cluster_url"), 5.0)
    assert isinstance(direct, RedisCluster)
    nodes = [(node.host, node.port) for node in direct.get_nodes()]
    direct.close()
    with lossy_proxies(nodes, trap) as proxies:
        remap = {node: ("127.0.0.1", proxy.port) for node, proxy in zip(nodes, proxies, strict=True)}
        client = redis_client.connect(f"redis+cluster://127.0.0.1:{proxies[0].port}", timeout,
                                      address_remap=lambda address: remap.get(address, address))
        store = RedisStore(client)
        client.flushdb(target_nodes=RedisCluster.PRIMARIES)
        yield store
        store.close()


def _disconnect(store: RedisStore) -> None:
    """Close every pooled connection, so that the next command opens a new one."""
    client = store.client
    nodes = [node.redis_connection for node in client.get_nodes()] if isinstance(client, RedisCluster) else [client]
    for node in nodes:
        assert node is not None
        node.connection_pool.disconnect()


@pytest.fixture(params=["one server", "cluster"])
def store(request: pytest.FixtureRequest, trap: Trap) -> Iterator[RedisStore]:
    yield from (_one_server if request.param == "one server" else _cluster)(request, trap, 5.0)


@pytest.mark.parametrize("name", sorted(WRITES))
def test_a_write_whose_reply_is_lost_runs_once_and_is_store_unavailable(
        store: RedisStore, trap: Trap, name: str) -> None:
    write = WRITES[name]
    scene = write.before(store)
    before = write.count(store)
    trap.arm(write.trigger)
    outcome = _outcome(lambda: write.write(store, scene))
    assert trap.sprung == 1  # the request reached the server and its reply was lost
    assert write.count(store) == before + write.grows, "the write was resent and ran twice"
    assert isinstance(outcome, StoreUnavailable), outcome
    write.write(store, scene)  # the store works again at once
    assert write.count(store) == before + 2 * write.grows


@pytest.fixture(params=["one server", "cluster"])
def impatient_store(request: pytest.FixtureRequest, trap: Trap) -> Iterator[RedisStore]:
    """A store as :func:`store`, whose client waits 1 s for a reply (still many times what a busy
    machine needs for these calls)."""
    yield from (_one_server if request.param == "one server" else _cluster)(request, trap, 1.0)


def test_a_write_whose_reply_timed_out_runs_once_and_is_store_unavailable(
        impatient_store: RedisStore, trap: Trap) -> None:
    """A reply that never comes within the timeout: not resent either (redis-py's cluster
    transaction pipeline resends after a timeout on its own)."""
    store = impatient_store
    write = WRITES["count a hit (MULTI/EXEC)"]
    write.before(store)
    trap.arm(write.trigger, hold=True)
    outcome = _outcome(lambda: write.write(store, None))
    assert trap.sprung == 1
    assert write.count(store) == 2, "the write was resent and ran twice"
    assert isinstance(outcome, StoreUnavailable), outcome


def test_a_read_whose_reply_never_comes_is_unavailable_after_one_timeout(
        impatient_store: RedisStore, trap: Trap) -> None:
    """A reply held past the timeout (a stalled server) is a timeout, not a broken connection: the
    read is not made again on a new connection, which a stalled server would hold as long again
    (on one server the kernel keeps the timeout: core.adapters.redis_pinned)."""
    store = impatient_store
    store.counters(EVENT)
    trap.arm(b"HMGET", hold=True)
    outcome = _outcome(lambda: store.counters(EVENT))
    assert trap.sprung == 1
    assert isinstance(outcome, StoreUnavailable), outcome
    assert "Timeout" in str(outcome), outcome


def test_a_handshake_whose_reply_timed_out_is_not_made_again(impatient_store: RedisStore, trap: Trap) -> None:
    """A new connection to a stalled server: its handshake times out once and the command is
    StoreUnavailable, rather than connecting and timing out again (twice the wait)."""
    store = impatient_store
    assert store.counters(EVENT).last_position == 0
    _disconnect(store)
    trap.arm(b"SETINFO", hold=True)
    outcome = _outcome(lambda: store.counters(EVENT))
    assert trap.sprung == 1
    assert isinstance(outcome, StoreUnavailable), outcome
    assert store.counters(EVENT).last_position == 0


def test_a_connection_lost_before_the_command_was_written_is_retried(store: RedisStore, trap: Trap) -> None:
    """What is still retried: a connection that broke while it was being set up (here the reply
    to its handshake is lost), before any byte of the command was written."""
    write = WRITES["advance the serving counter"]
    write.before(store)
    _disconnect(store)
    trap.arm(b"SETINFO")  # redis-py names itself in every new connection's handshake
    assert store.advance_serving(EVENT, 3, T0) == 4
    assert trap.sprung == 1
    assert store.counters(EVENT).serving == 4


def test_a_tick_whose_reply_was_lost_is_not_told_as_claimed_by_another(store: RedisStore, trap: Trap) -> None:
    """Resent, the claim would find its own first run and answer False: the scheduler would skip
    the tick as another worker's, and nobody would run it."""
    assert store.claim_tick(EVENT, "admit", 1)
    trap.arm(b"EVALSHA")
    outcome = _outcome(lambda: store.claim_tick(EVENT, "admit", 2))
    assert trap.sprung == 1
    assert isinstance(outcome, StoreUnavailable), outcome
    assert not store.claim_tick(EVENT, "admit", 2)  # it was claimed, once
    assert store.claim_tick(EVENT, "admit", 3)


@pytest.mark.parametrize("key", [None, "key-1"])
def test_an_entry_whose_reply_was_lost_is_made_again_and_holds_one_place(
        store: RedisStore, trap: Trap, key: str | None) -> None:
    """Entering is idempotent by request id (and by idempotency key): made again, the script
    finds the place its first run took, so the visitor gets it and the line grows by one."""
    store.enter(EVENT, rid(), None, T0)
    request_id = rid()
    trap.arm(b"EVALSHA")
    ticket = store.enter(EVENT, request_id, key, T0)
    assert trap.sprung == 1
    assert (ticket.request_id, ticket.position) == (request_id, 2)
    assert store.counters(EVENT).last_position == 2
    assert store.enter(EVENT, rid(), key, T0).position == (2 if key else 3)  # a retry with its key: its place


def test_a_batch_whose_reply_was_lost_is_made_again_and_holds_one_place_each(store: RedisStore, trap: Trap) -> None:
    store.enter_many(EVENT, [(rid(), None)], T0)
    entries = [(rid(), None), (rid(), "key-1"), (rid(), None)]
    trap.arm(b"EVALSHA")
    tickets = store.enter_many(EVENT, entries, T0)
    assert trap.sprung == 1
    assert [(t.request_id, t.position) for t in tickets] == [(entries[i][0], 2 + i) for i in range(3)]
    assert store.counters(EVENT).last_position == 4


def test_a_read_whose_reply_is_lost_is_read_again(store: RedisStore, trap: Trap) -> None:
    ticket = store.enter(EVENT, rid(), None, T0)
    assert store.get_ticket(EVENT, ticket.request_id, T0) == ticket  # loads the script
    trap.arm(b"EVALSHA")
    assert store.get_ticket(EVENT, ticket.request_id, T0) == ticket
    trap.arm(b"HMGET")
    assert store.counters(EVENT).last_position == 1
    assert trap.sprung == 2


def test_the_retry_policy_resends_only_what_was_not_written() -> None:
    """redis-py's retry loop, as the client gets it: a connection error before the command was
    written is tried again, an unanswered command is raised at once with its cause."""
    retry = redis_client.connect("redis://127.0.0.1:1/0", 0.1).connection_pool.connection_kwargs["retry"]
    assert isinstance(retry, UnsentOnlyRetry)
    calls: list[Exception] = []

    def failing_once(error: Exception) -> Callable[[], str]:
        def do() -> str:
            calls.append(error)
            if len(calls) == 1:
                raise error
            return "ran again"
        return do

    assert retry.call_with_retry(failing_once(redis.ConnectionError("refused")), lambda error: None) == "ran again"
    assert len(calls) == 2
    calls.clear()
    lost = ReplyLost("Connection closed by server.")
    lost.__cause__ = redis.ConnectionError("Connection closed by server.")
    with pytest.raises(ReplyLost) as raised:
        retry.call_with_retry(failing_once(lost), lambda error: None)
    assert len(calls) == 1 and raised.value is lost and isinstance(raised.value.__cause__, redis.ConnectionError)


def test_a_draw_whose_preparation_or_opening_lost_its_reply_is_made_again_and_happens_once(
        store: RedisStore, trap: Trap) -> None:
    """Preparing (set if absent) and opening (once) find their own first run when made again:
    the secret first prepared is kept, and the draw opens once, with the size it had then."""
    secret, other = "ab" * 32, "cd" * 32
    store.prepare_draw("warm-up", other)  # loads the script: the lost reply is the draw's own
    trap.arm(b"EVALSHA")
    assert store.prepare_draw(EVENT, secret) == DrawState(secret)
    assert trap.sprung == 1
    assert store.prepare_draw(EVENT, other) == DrawState(secret)
    store.enter_many(EVENT, [(rid(), None) for _ in range(5)], T0)
    store.prepare_draw("warm-up", other)
    store.open_draw("warm-up", T0)  # loads the opening's script
    trap.arm(b"EVALSHA")
    assert store.open_draw(EVENT, T0 + 1) == DrawState(secret, 5, T0 + 1)
    assert trap.sprung == 2
    late = store.enter(EVENT, rid(), None, T0 + 2)
    assert late.position == 6
    assert store.open_draw(EVENT, T0 + 3) == DrawState(secret, 5, T0 + 1)  # once: a later call finds it
