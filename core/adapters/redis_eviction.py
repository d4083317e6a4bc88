"""Redis must not evict: the store's ``maxmemory-policy`` has to be ``noeviction``.

Any other policy lets Redis drop keys silently once ``maxmemory`` is reached: places in line
(a visitor polls into a 404 and the waiting page takes a new place at the back), idempotency
records (a retried entry gets a second place), single-use codes, revocations, registered
clients; with an ``allkeys-*`` policy the counters themselves, so places are handed out twice.
Under ``noeviction`` a write that needs memory is refused with an OOM error instead, which the
store turns into :class:`core.errors.StoreUnavailable` (HTTP 503 with Retry-After) and nothing
acknowledged is lost.

The policy is read with ``CONFIG GET maxmemory-policy``; managed services that disable CONFIG
(ElastiCache) still report it as ``maxmemory_policy`` in ``INFO memory``. On a Redis Cluster
every primary is read.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from redis.cluster import RedisCluster

from ..settings import SettingsError

REQUIRED_POLICY = "noeviction"
log = logging.getLogger("waitingroom.store")


class EvictionPolicyRefused(SettingsError):
    """The Redis store may evict keys and evicting was not allowed (``[server] allow_redis_eviction``)."""


def node_policy(client: redis.Redis) -> str | None:
    """``maxmemory-policy`` of one server, or None if neither CONFIG GET nor INFO tells it.

    Raises :class:`redis.RedisError` other than a refused command (an unreachable server)."""
    try:
        found = client.config_get("maxmemory-policy").get("maxmemory-policy")
        if found:
            return str(found)
    except redis.ResponseError:  # CONFIG renamed or disabled (ElastiCache): INFO still says it
        pass
    try:
        found = client.info("memory").get("maxmemory_policy")
    except redis.ResponseError:
        return None
    return str(found) if found else None


def policies(client: redis.Redis | RedisCluster) -> dict[str, str | None]:
    """``maxmemory-policy`` by server (``host:port``; every primary of a cluster), None where unreadable."""
    if isinstance(client, RedisCluster):
        return {node.name: node_policy(client.get_redis_connection(node)) for node in client.get_primaries()}
    kwargs: dict[str, Any] = client.connection_pool.connection_kwargs
    return {f"{kwargs.get('host', kwargs.get('path', 'redis'))}:{kwargs.get('port', '')}": node_policy(client)}


def problem(found: dict[str, str | None]) -> str | None:
    """One line saying what is wrong with ``found`` (from :func:`policies`), or None if every server
    is known to be ``noeviction``."""
    evicting = {node: policy for node, policy in found.items() if policy not in (None, REQUIRED_POLICY)}
    if evicting:
        node, policy = next(iter(sorted(evicting.items())))
        return (f"Redis maxmemory-policy is {policy} on {node}: the waiting room needs noeviction, or Redis "
                f"silently drops places in line, idempotency records and single-use codes when memory runs out; "
                f"set maxmemory-policy noeviction (or [server] allow_redis_eviction = true to run anyway)")
    unknown = sorted(node for node, policy in found.items() if policy is None)
    if unknown:
        return (f"Redis maxmemory-policy could not be read on {', '.join(unknown)} (CONFIG GET and INFO memory "
                f"refused): make sure it is noeviction")
    return None


def check(client: redis.Redis | RedisCluster, allow_eviction: bool) -> str | None:
    """Raise :class:`EvictionPolicyRefused` if a server may evict keys, unless ``allow_eviction``;
    otherwise the warning to log (an unreadable policy, or eviction allowed), or None if all is well.

    Raises :class:`redis.RedisError` if a server cannot be asked at all."""
    found = policies(client)
    message = problem(found)
    evicting = any(policy not in (None, REQUIRED_POLICY) for policy in found.values())
    if evicting and not allow_eviction:
        raise EvictionPolicyRefused(message)
    return message
