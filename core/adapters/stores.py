"""Open the store a URL names. The only place that knows every store kind."""

from __future__ import annotations

from typing import Any


def check_store_url(url: str) -> None:
    """Raise ValueError unless ``url`` names a store :func:`open_store` opens, without opening it."""
    if url.startswith("sqlite:///"):
        from .sqlite import path_from_url

        path_from_url(url)
    elif not url.startswith(("redis://", "rediss://", "unix://", "dynamodb://")):
        # The scheme only: the rest of a URL may hold a password.
        scheme = url.partition(":")[0] if ":" in url else url[:20]
        raise ValueError(f"unsupported store URL (scheme {scheme!r}): use sqlite:///PATH, redis://HOST:PORT/DB "
                         "or dynamodb://TABLE")


_UNSUPPORTED = "unsupported store URL {url!r}: use sqlite:///PATH or redis://HOST:PORT/DB"


def open_store(url: str, **options: Any) -> Any:
    """A store implementing :class:`core.ports.QueueStore` and :class:`core.ports.KeyValueStore`.

    ``sqlite:///path.db`` (the embedded default), ``redis://host:port/db`` (``rediss://`` for TLS)
    or ``dynamodb://table-name?region=...`` (AWS).
    """
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteStore

        return SqliteStore.from_url(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore  # type: ignore[import-not-found,unused-ignore]

        return RedisStore.from_url(url, **options)
    if url.startswith("dynamodb://"):
        from .dynamodb import DynamoDbStore

        return DynamoDbStore.from_url(url, **options)
    raise ValueError(_UNSUPPORTED.format(url=url))
