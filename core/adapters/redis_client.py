"""The redis-py client a Redis store URL names: one server, or a Redis Cluster.

``redis://``, ``rediss://`` (TLS) and ``unix://`` name one server (or a proxy that looks like
one); ``redis+cluster://HOST:PORT`` and ``rediss+cluster://HOST:PORT`` name any node of a Redis
Cluster (ElastiCache cluster mode and ElastiCache Serverless give one such endpoint), from which
redis-py's :class:`redis.cluster.RedisCluster` discovers the others and routes every command to
the node owning its keys' slot. A one-server client keeps one connection per thread, and a
plain TCP or Unix connection leaves its timeouts to the kernel (:mod:`core.adapters.redis_pinned`).

A command is sent again only when it is known not to have reached the server: the connection,
its handshake or its health check failed before the command's first byte was written. Once it
was written, a broken connection or a timeout is :class:`core.errors.StoreUnavailable` to the
store and is never resent by the client, because the script may have run and running it twice
would move the serving counter twice or end a session twice (:mod:`core.adapters.redis_resend`
keeps that rule, for one server and for a cluster alike; the store itself makes reads and
entries, which running twice does not change, once more).
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError, RedisClusterException, SlotNotCoveredError

from ..errors import StoreUnavailable
from ..settings import SettingsError
from .redis_pinned import PinnedRedis
from .redis_resend import UnsentOnlyPool, UnsentOnlyRetry

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""Cluster URL scheme -> the scheme redis-py's own URL parser takes for the same node."""


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0] in CLUSTER_SCHEMES


_RETRIED: Any = (redis.ConnectionError, ClusterDownError, SlotNotCoveredError)


def check_cluster_url(url: str) -> None:
    """Raise :class:`core.settings.SettingsError` if a cluster URL names a database other than 0
    (``/1`` or ``?db=1``): a Redis Cluster has database 0 only. Without this, redis-py's refusal
    would surface as the cluster being unavailable, and a server would be restarted in vain."""
    scheme, sep, rest = url.partition("://")
    db = redis.connection.parse_url(CLUSTER_SCHEMES[scheme] + sep + rest).get("db", 0)
    if int(db) != 0:
        raise SettingsError(f"a Redis Cluster store URL cannot name database {db}: a cluster has database 0 "
                            f"only; drop the /{db} (or ?db={db}) from {scheme}://")


class _Cluster(RedisCluster):
    """redis-py's cluster client that never resends a command whose reply timed out or was lost.

    The cluster client retries timeouts by default; a store script that timed out may have run,
    and running ``advance_serving`` or ``end_session`` twice is not harmless. A refused
    connection, a cluster still electing a primary or a slot not served yet are retried (the
    client re-reads the topology first), as a broken connection is on one server. redis-py
    matches the exact type of the error, so a connection that broke after the command was
    written (:class:`~core.adapters.redis_resend.ReplyLost`) is not retried either.
    """

    ERRORS_ALLOW_RETRY = _RETRIED


def connect(url: str, timeout: float, **options: Any) -> redis.Redis | RedisCluster:
    """A client with replies decoded as text and ``timeout`` seconds for connecting and for
    every reply. A connection that broke before the command was written (connecting, the
    handshake, the health check) is retried once; a timeout never, and nothing once the command
    was written (see :mod:`core.adapters.redis_resend`): then the client raises
    :class:`~core.adapters.redis_resend.ReplyLost` or :class:`~core.adapters.redis_resend.ReplyTimedOut`.

    A cluster client reads the topology at once: :class:`core.errors.StoreUnavailable` if no
    node of a cluster answers. A one-server client connects on first use."""
    retry = UnsentOnlyRetry(ExponentialBackoff(cap=0.1, base=0.01), 1, supported_errors=(redis.ConnectionError,))
    common: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout,
                              "decode_responses": True, **options}
    scheme, sep, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        check_cluster_url(url)
        # Node connections in a cluster client never retry on their own (redis-py turns that
        # off); the client's ``retry`` is how many times it re-reads the topology and resends,
        # and its transaction pipelines copy it. The nodes' pools give each connection the rule.
        try:
            return _Cluster.from_url(CLUSTER_SCHEMES[scheme] + sep + rest, retry=retry,
                                     connection_pool_class=UnsentOnlyPool, **common)
        except RedisClusterException as exc:  # the topology is read at once: no node answered
            raise StoreUnavailable(f"Redis Cluster unavailable: {exc}") from None
    if scheme == "rediss":
        pool = UnsentOnlyPool.from_url(url, health_check_interval=30, retry=retry, **common)
    else:  # the kernel bounds reads and writes: no poll() around each (core.adapters.redis_pinned)
        common["socket_timeout"] = None
        pool = UnsentOnlyPool.from_url(url, health_check_interval=30, retry=retry, kernel_timeout=timeout, **common)
    return PinnedRedis(pool)


def close(client: redis.Redis | RedisCluster) -> None:
    """Close every connection the client holds (one pool, or one per cluster node)."""
    if isinstance(client, RedisCluster):
        client.close()
    else:
        client.connection_pool.disconnect()
