"""The objects one app instance works with, built once from Settings (at app creation, not import)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from core.adapters.filekeys import FileKeySource
from core.adapters.stores import open_store
from core.clock import SystemClock
from core.ports import Clock
from core.room import WaitingRoom
from core.settings import Settings
from core.tokens import KeySet, TokenSigner


@dataclass
class Services:
    settings: Settings
    room: WaitingRoom
    store: Any  # QueueStore and KeyValueStore
    signer: TokenSigner
    clock: Clock
    keys: Callable[[], KeySet]  # the current key set (re-read on every call, so rotation applies live)


def build_services(
    settings: Settings,
    *,
    store: Any | None = None,
    clock: Clock | None = None,
    keyset: Any | None = None,
) -> Services:
    """Wire the store, key source, signer and room. ``store``/``clock``/``keyset`` override for tests.

    ``keyset`` is a callable returning a :class:`KeySet` (for example a Secrets Manager source);
    by default keys come from ``[server] keys_file``, created on first use.
    """
    clock = clock or SystemClock()
    store = store or open_store(settings.server.store, timeout=settings.server.store_timeout,
                                allow_redis_eviction=settings.server.allow_redis_eviction,
                                sqlite_synchronous=settings.server.sqlite_synchronous)
    if keyset is None:
        source = FileKeySource(settings.server.keys_file)
        source.ensure(clock.now())
        keyset = source
    elif isinstance(keyset, KeySet):
        fixed = keyset
        keyset = lambda: fixed  # noqa: E731
    signer = TokenSigner(keyset, clock.now)
    room = WaitingRoom(settings.events, store, signer, clock, settings.server.issuer, settings.server.clock_skew)
    return Services(settings=settings, room=room, store=store, signer=signer, clock=clock, keys=keyset)


def services() -> Services:
    """The services of the app handling the current request."""
    found: Services = current_app.extensions["waitingroom"]
    return found
