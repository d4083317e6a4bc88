"""Fixtures for the unit tests of core/: a manual clock, one RSA key set, a room on SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.adapters.sqlite import SqliteStore
from core.clock import ManualClock
from core.model import AdmissionPolicy, EventSettings, Strategy
from core.room import WaitingRoom
from core.tokens import KeySet, SigningKey, TokenSigner

ISSUER = "https://wait.example"


@pytest.fixture(scope="session")
def keyset() -> KeySet:
    return KeySet([SigningKey.generate(1_000_000_000.0)])


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(str(tmp_path / "state.db"))
    yield store
    store.close()


RoomFactory = Callable[..., WaitingRoom]


@pytest.fixture
def make_room(sqlite: SqliteStore, keyset: KeySet, clock: ManualClock) -> RoomFactory:
    """A room with the given events (default: one manual event 'sale', expiry 60 s, tokens 600 s)."""

    def make(*events: EventSettings, store: Any = None) -> WaitingRoom:
        events = events or (EventSettings("sale", token_validity=600, queue_position_expiry=60),)
        signer = TokenSigner(lambda: keyset, clock.now)
        return WaitingRoom({e.event_id: e for e in events}, store or sqlite, signer, clock, ISSUER)

    return make


@pytest.fixture
def room(make_room: RoomFactory) -> WaitingRoom:
    return make_room()


def periodic(increment_by: int = 10, every: float = 10.0, **kw: Any) -> AdmissionPolicy:
    return AdmissionPolicy(strategy=Strategy.PERIODIC, increment_by=increment_by, every=every, **kw)
