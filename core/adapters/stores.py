"""Open the store a URL names. The only place that knows every store kind."""

from __future__ import annotations

from typing import Any

REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")

def check_store_url(url: str) -> None:
    """Raise ValueError unless ``url`` names a store :func:`open_store` opens, without opening it."""
    if url.startswith("sqlite:///"):
        from .sqlite import path_from_url

        path_from_url(url)
    elif not url.startswith((*REDIS_SCHEMES, "dynamodb://")):
        # The scheme only: the rest of a URL may hold a password.
        scheme = url.partition(":")[0] if ":" in url else url[:20]
        raise ValueError(f"unsupported store URL (scheme {scheme!r}): use sqlite:///PATH, redis://HOST:PORT/DB, "
                         "redis+cluster://HOST:PORT or dynamodb://TABLE")



def open_store(url: str, allow_redis_eviction: bool = False, **options: Any) -> Any:
    """A store implementing :class:`core.ports.QueueStore` and :class:`core.ports.KeyValueStore`.

    ``sqlite:///path.db`` (the embedded default), ``redis://host:port/db`` (``rediss://`` for TLS),
    ``redis+cluster://host:port`` (any node of a Redis Cluster; ``rediss+cluster://`` for TLS, as
    ElastiCache Serverless needs) or ``dynamodb://table-name?region=...`` (AWS). A Redis store
    refuses a server that may evict keys unless ``allow_redis_eviction`` (see
    :mod:`core.adapters.redis_eviction`). ``timeout``: seconds a store call may wait (for SQLite,
    for the write lock); ``sqlite_synchronous``: SQLite's durability.
    """
    synchronous = options.pop("sqlite_synchronous", "FULL")  # SQLite's alone
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteStore

        return SqliteStore.from_url(url, timeout=options.get("timeout"), synchronous=synchronous)
    if url.startswith(REDIS_SCHEMES):
        from .redis import RedisStore  # type: ignore[import-not-found,unused-ignore]

        return RedisStore.from_url(url, allow_eviction=allow_redis_eviction, **options)
    if url.startswith("dynamodb://"):
        from .dynamodb import DynamoDbStore

        return DynamoDbStore.from_url(url, **options)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///PATH, redis://HOST:PORT/DB, "
                     "redis+cluster://HOST:PORT or dynamodb://TABLE")
