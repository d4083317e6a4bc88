"""What only the Redis store promises: round trips per use case, key layout, memory, failures."""

from __future__ import annotations

import gc
import hashlib
import os
import secrets
import socket
import struct
import threading
import time
from typing import Any

import pytest
import redis

from core.adapters.redis import INDEX_BUCKETS, RedisStore
from core.adapters.redis_pinned import IDLE_CHECK_SECONDS
from core.errors import NotAdmitted, StoreUnavailable
from core.model import Status
from tests.support import RoundTrips, free_port

from .helpers import EVENT, T0, rid


class CommandCounter:
    """Counts the commands a store sends (each EVALSHA is one, whatever the script does)."""

    def __init__(self, store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        original = store.client.execute_command

        def counting(*args: Any, **options: Any) -> Any:
            self.sent.append(str(args[0]).upper())
            return original(*args, **options)

        monkeypatch.setattr(store.client, "execute_command", counting)

    def take(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


def test_each_use_case_is_one_command(rstore: RedisStore, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(2):  # scripts get loaded on first use; count the steady state
        r = rid()
        rstore.enter(EVENT, r, "key-" + r, T0)
        rstore.advance_serving(EVENT, 1, T0)
        rstore.get_ticket(EVENT, r, T0)
        rstore.set_alias(EVENT, "browser", r, "note", 60, T0)
        rstore.resolve_alias(EVENT, "browser", T0)
        rstore.issue_session(EVENT, r, "jti", 1, 2, T0)
        rstore.session_ticket(EVENT, "jti", T0)
        rstore.end_session(EVENT, r, Status.COMPLETED, T0)
        rstore.sweep(EVENT, T0, 60, True)
        rstore.claim_tick(EVENT, "a", int(T0))
        rstore.put("codes", "warm", "v", 60, T0)
        rstore.redeem("codes", "warm", "v", T0 + 60, 60, T0)
        rstore.take("codes", "warm", T0)
        rstore.release("codes", "warm", "an-attempt", T0)
    counter = CommandCounter(rstore, monkeypatch)
    r = rid()
    steps = [
        lambda: rstore.enter(EVENT, r, None, T0),
        lambda: rstore.enter(EVENT, rid(), "a-key", T0),
        lambda: rstore.get_ticket(EVENT, r, T0),
        lambda: rstore.set_alias(EVENT, "browser", r, "note", 60, T0),
        lambda: rstore.resolve_alias(EVENT, "browser", T0),
        lambda: rstore.counters(EVENT),
        lambda: rstore.advance_serving(EVENT, 5, T0),
        lambda: rstore.issue_session(EVENT, r, "jti", 1, 2, T0),
        lambda: rstore.issue_session(EVENT, r, "jti", 1, 2, T0, 0.0, "a-grant"),
        lambda: rstore.session_ticket(EVENT, "jti", T0),
        lambda: rstore.revoke_grant(EVENT, "a-grant", 60, T0),
        lambda: rstore.end_session(EVENT, r, Status.ABANDONED, T0),
        lambda: rstore.sweep(EVENT, T0 + 100, 60, True),
        lambda: rstore.claim_tick(EVENT, "admission", int(T0) + 1),
        lambda: rstore.put("codes", "c", "v", 60, T0),
        lambda: rstore.take("codes", "c", T0),
        lambda: rstore.redeem("codes", "c", "v", T0 + 60, 60, T0),
        lambda: rstore.redeem("codes", "c", "v", T0 + 60, 60, T0),
        lambda: rstore.release("codes", "c", "an-attempt", T0),
    ]
    for number, step in enumerate(steps):
        step()
        assert len(counter.take()) == 1, f"step {number}"


def test_scripts_are_loaded_again_after_the_server_forgot_them(rstore: RedisStore,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    first = rstore.enter(EVENT, rid(), None, T0)
    rstore.client.script_flush()  # what a restarted or failed-over server looks like
    counter = CommandCounter(rstore, monkeypatch)
    second = rstore.enter(EVENT, rid(), None, T0)
    assert second.position == first.position + 1
    assert counter.sent == ["EVALSHA", "SCRIPT LOAD", "EVALSHA"]
    counter.sent.clear()
    rstore.enter(EVENT, rid(), None, T0)
    assert counter.sent == ["EVALSHA"]


def test_a_list_of_enters_is_one_command(rstore: RedisStore, redis_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    rstore.enter_many(EVENT, [(rid(), None)], T0)  # the script gets loaded on first use
    observer = redis.Redis.from_url(redis_url, decode_responses=True)
    before = int(observer.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    trips = RoundTrips(rstore.client, monkeypatch)
    tickets = rstore.enter_many(EVENT, [(rid(), f"key-{i}" if i % 2 else None) for i in range(10)], T0)
    assert trips.take() == 1
    assert [t.position for t in tickets] == list(range(2, 12))
    assert int(observer.info("commandstats")["cmdstat_evalsha"]["calls"]) - before == 1  # one script for the list
    observer.close()


def test_a_list_of_enters_loads_the_script_when_the_server_lost_it(
    rstore: RedisStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = rstore.enter_many(EVENT, [(rid(), "a"), (rid(), None)], T0)
    rstore.client.script_flush()  # as after a restart or a failover to a replica that never ran it
    trips = RoundTrips(rstore.client, monkeypatch)
    entries = [(first[0].request_id, "a"), (rid(), "b"), (rid(), None)]
    tickets = rstore.enter_many(EVENT, entries, T0 + 1)
    assert trips.take() == 3  # the refused script (NOSCRIPT: nothing ran), SCRIPT LOAD, the script again
    assert tickets[0] == first[0]
    assert [t.position for t in tickets[1:]] == [3, 4]
    assert rstore.counters(EVENT).last_position == 4


def test_an_error_reply_in_a_list_is_store_unavailable_and_enters_nothing_half(rstore: RedisStore) -> None:
    rstore.enter(EVENT, rid(), None, T0)
    saved = rstore.client.config_get("maxmemory*")
    rstore.client.config_set("maxmemory-policy", "noeviction")
    rstore.client.config_set("maxmemory", 1)  # a script that may write now gets an OOM error reply
    try:
        with pytest.raises(StoreUnavailable):
            rstore.enter_many(EVENT, [(rid(), "k1"), (rid(), "k2")], T0)
    finally:
        for name in ("maxmemory", "maxmemory-policy"):
            rstore.client.config_set(name, saved[name])
    assert rstore.counters(EVENT).last_position == 1
    assert [t.position for t in rstore.enter_many(EVENT, [(rid(), "k1"), (rid(), "k2")], T0)] == [2, 3]


def test_keys_of_an_event_share_one_cluster_hash_tag(rstore: RedisStore) -> None:
    for _ in range(3):
        rstore.enter(EVENT, rid(), secrets.token_hex(4), T0)
    rstore.advance_serving(EVENT, 3, T0)
    rstore.claim_tick(EVENT, "admission", 1)
    rstore.set_control(EVENT, "paused", "1")
    rstore.sweep(EVENT, T0 + 100, 60, True)
    keys = rstore.client.keys("*")
    assert len(keys) >= 8
    assert all(k.startswith("wr:{spring-sale}:") for k in keys), keys
    assert rstore.client.keys("*spring*") == keys


def test_the_public_ticket_id_is_derived_not_stored(rstore: RedisStore) -> None:
    r = rid()
    ticket = rstore.enter(EVENT, r, None, T0)
    dump = repr({k: rstore.client.dump(k) for k in rstore.client.keys("*")})
    assert ticket.ticket_id not in dump


def test_idempotency_keys_are_forgotten_after_their_lifetime(redis_url: str) -> None:
    store = RedisStore(RedisStore.from_url(redis_url).client, idempotency_ttl=400)
    store.client.flushdb()
    first = store.enter(EVENT, rid(), "k", T0)
    assert store.enter(EVENT, rid(), "k", T0 + 399).request_id == first.request_id
    later = store.enter(EVENT, rid(), "k", T0 + 501)  # past every bucket that could hold it
    assert later.request_id != first.request_id and later.position == 2
    buckets = store.client.keys("wr:{spring-sale}:i:*")
    assert buckets and all(0 < store.client.ttl(b) <= 500 for b in buckets)
    store.close()


def test_memory_per_waiting_visitor_is_small(rstore: RedisStore) -> None:
    n = 20_000
    before = int(rstore.client.info("memory")["used_memory"])
    pipe = rstore.client.pipeline(transaction=False)
    keys = rstore._keys(EVENT)
    for i in range(n):
        rstore._enter(keys=keys, args=[rid(), repr(time.time() + i), "", 1, 0, 0], client=pipe)
    pipe.execute()
    used = int(rstore.client.info("memory")["used_memory"]) - before
    assert rstore.counters(EVENT).last_position == n
    print(f"{used / n:.0f} bytes per waiting visitor")
    assert used / n < 200, f"{used / n:.0f} bytes per waiting visitor"


def test_every_bucket_stays_a_listpack(rstore: RedisStore) -> None:
    """Places, the request id index, idempotency records and aliases live in hashes small enough
    for Redis to keep as listpacks: what makes a visitor cost about a hundred bytes, not hundreds."""
    for i in range(300):
        ticket = rstore.enter(EVENT, rid(), f"key-{i}", T0)
        rstore.set_alias(EVENT, f"alias-{i}", ticket.request_id, "0", 3600, T0)
    buckets = {kind: rstore.client.keys(f"wr:{{{EVENT}}}:{kind}:*") for kind in ("p", "r", "i", "a")}
    assert len(buckets["p"]) == 4  # positions 1..300 in buckets 0..3 of 100
    for kind, keys in buckets.items():
        assert keys, kind
        assert {rstore.client.object("encoding", k) for k in keys} == {"listpack"}, kind
    assert rstore.resolve_alias(EVENT, "alias-299", T0 + 1)[2].position == 300  # type: ignore[index]


def test_two_request_ids_sharing_an_index_field_keep_their_own_places(rstore: RedisStore) -> None:
    """The index keeps 62 bits of a request id's SHA-1; should two ever share them, the field
    names both positions and each place confirms its own request id."""
    first, second = rid(), rid()
    assert rstore.enter(EVENT, first, None, T0).position == 1
    digest = hashlib.sha1(second.encode()).hexdigest()
    bucket = f"wr:{{{EVENT}}}:r:{int(digest[:4], 16) % INDEX_BUCKETS}"
    rstore.client.hset(bucket, digest[4:16], "1")  # as if first's digest were second's
    assert rstore.get_ticket(EVENT, second, T0) is None
    assert rstore.enter(EVENT, second, None, T0).position == 2
    assert rstore.client.hget(bucket, digest[4:16]) == "1,2"
    assert rstore.get_ticket(EVENT, second, T0).position == 2  # type: ignore[union-attr]
    assert rstore.get_ticket(EVENT, first, T0).position == 1  # type: ignore[union-attr]
    assert rstore.enter(EVENT, second, None, T0).position == 2  # entered once


def test_domain_errors_from_scripts_become_core_errors(rstore: RedisStore) -> None:
    r = rid()
    rstore.enter(EVENT, r, None, T0)
    with pytest.raises(NotAdmitted) as caught:
        rstore.issue_session(EVENT, r, "jti", 1, 2, T0)
    assert "not admitted" in str(caught.value)


def test_an_unreachable_server_is_store_unavailable_quickly() -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    started = time.monotonic()
    for call in (
        store.ping,
        lambda: store.enter(EVENT, rid(), None, T0),
        lambda: store.enter_many(EVENT, [(rid(), None)], T0),
        lambda: store.counters(EVENT),
        lambda: store.take("codes", "k", T0),
    ):
        with pytest.raises(StoreUnavailable):
            call()
    assert time.monotonic() - started < 5
    store.close()


def test_other_redis_errors_are_store_unavailable(rstore: RedisStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*args: Any, **options: Any) -> Any:
        raise redis.ResponseError("READONLY You can't write against a read only replica.")

    monkeypatch.setattr(rstore.client, "execute_command", failing)
    with pytest.raises(StoreUnavailable):
        rstore.counters(EVENT)


def test_from_url_configures_timeouts_and_health_checks(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, timeout=0.7)
    kwargs = store.client.connection_pool.connection_kwargs
    assert kwargs["socket_connect_timeout"] == 0.7
    assert kwargs["health_check_interval"] > 0
    store.ping()
    # The reply timeout is the kernel's, on a blocking socket (core.adapters.redis_pinned)
    sock = store.client._pinned().connection._sock  # type: ignore[attr-defined]
    assert sock.gettimeout() is None
    for option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
        seconds, microseconds = struct.unpack("@ll", sock.getsockopt(socket.SOL_SOCKET, option, 16))
        assert (seconds, microseconds) == (0, 700_000)
    store.close()


def test_a_server_that_never_answers_is_unavailable_after_the_timeout() -> None:
    """A listener that accepts and never replies (a stalled server): the kernel's reply timeout
    ends the wait, and the store says unavailable instead of hanging the request."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", timeout=0.3)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.counters(EVENT)
        assert time.monotonic() - started < 10  # bounded: without a timeout this would hang
        store.close()


def test_each_thread_keeps_its_own_connection(rstore: RedisStore) -> None:
    """Commands from several threads at once each run on the thread's own pinned connection, and
    every answer is the one for its own command."""
    results: dict[int, list[bool]] = {}
    connections: dict[int, int] = {}
    together = threading.Barrier(8)

    def work(n: int) -> None:
        key = f"pinned-test-{n}"
        rstore.client.set(key, str(n))
        together.wait(timeout=30)  # all eight threads hold their connections at once
        results[n] = [rstore.client.get(key) == str(n) for _ in range(200)]
        connections[n] = id(rstore.client._pinned().connection)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(8)) and all(all(r) for r in results.values())
    assert len(set(connections.values())) == 8


def test_a_connection_the_server_closed_connects_again_before_the_next_write(
        rstore: RedisStore, redis_url: str) -> None:
    """A thread's pinned connection closed by the server while idle (a restart, a failover,
    ``CLIENT KILL``, an idle timeout): the next command connects again instead of writing into
    the dead connection, where a write would be answered with its reply lost (503, not made
    again) although it never ran."""
    rstore.enter_many(EVENT, [(rid(), None) for _ in range(3)], T0)
    rstore.advance_serving(EVENT, 1, T0)
    connection_id = rstore.client.client_id()
    admin = redis.Redis.from_url(redis_url)
    assert admin.client_kill_filter(_id=connection_id) == 1
    admin.close()
    time.sleep(2 * IDLE_CHECK_SECONDS)  # idle, as a connection that outlived a restart is
    rstore.advance_serving(EVENT, 1, T0)
    assert rstore.client.client_id() != connection_id
    assert rstore.counters(EVENT).serving == 2


def test_threads_that_come_and_go_leave_no_connections_behind(rstore: RedisStore) -> None:
    """A thread's pinned connection goes back to the pool when the thread ends: a server that
    starts and ends request threads does not pile up connections."""
    rstore.counters(EVENT)

    def one_command() -> None:
        rstore.counters(EVENT)

    for _ in range(30):
        thread = threading.Thread(target=one_command)
        thread.start()
        thread.join()
    gc.collect()
    pool = rstore.client.connection_pool
    assert len(pool._in_use_connections) <= 2  # this thread's, and at most the last one's
    assert pool._created_connections <= 3, pool._created_connections


def test_after_a_fork_parent_and_child_each_get_their_own_answers(rstore: RedisStore) -> None:
    """A store used before a fork (``waitingroom serve``'s master, gunicorn's preload): the child
    must not share the parent's pinned connection, or one would read the other's replies."""
    rstore.client.set("fork-test", "parent")
    assert rstore.client.get("fork-test") == "parent"
    parent_connection = rstore.client.client_id()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            ok = all(rstore.client.get("fork-test") == "parent" for _ in range(300))
            ok = ok and rstore.client.client_id() != parent_connection
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answers = [rstore.client.get("fork-test") == "parent" for _ in range(300)]
    with os.fdopen(read, "rb") as pipe:
        child_ok = pipe.read() == b"1"
    os.waitpid(child, 0)
    assert all(answers) and child_ok
    assert rstore.client.client_id() == parent_connection  # the parent kept its own
