"""Open the store a URL names. The only place that knows every store kind."""

from __future__ import annotations

from typing import Any


def open_store(url: str, **options: Any) -> Any:
    """A store implementing :class:`core.ports.QueueStore` and :class:`core.ports.KeyValueStore`.

    ``sqlite:///path.db`` (the embedded default), ``redis://host:port/db`` (``rediss://`` for TLS)
    or ``dynamodb://table-name?region=...`` (AWS). ``timeout``: seconds a store call may wait
    (for SQLite, for the write lock); ``sqlite_synchronous``: SQLite's durability.
    """
    synchronous = options.pop("sqlite_synchronous", "FULL")  # SQLite's alone
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteStore

        return SqliteStore.from_url(url, timeout=options.get("timeout"), synchronous=synchronous)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore  # type: ignore[import-not-found,unused-ignore]

        return RedisStore.from_url(url, **options)
    if url.startswith("dynamodb://"):
        from .dynamodb import DynamoDbStore

        return DynamoDbStore.from_url(url, **options)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///PATH or redis://HOST:PORT/DB")
