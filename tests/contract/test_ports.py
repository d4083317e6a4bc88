"""Every registered store offers every port method, with the port's parameter names."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from core.ports import KeyValueStore, QueueStore


def _methods(protocol: type) -> list[str]:
    return [n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")]


@pytest.mark.parametrize("protocol", [QueueStore, KeyValueStore])
def test_store_implements_the_ports(store: Any, protocol: type) -> None:
    names = _methods(protocol)
    assert len(names) >= 4
    for name in names:
        expected = list(inspect.signature(getattr(protocol, name)).parameters)[1:]
        actual = list(inspect.signature(getattr(store, name)).parameters)
        assert actual == expected, f"{type(store).__name__}.{name}{actual} != port {expected}"


def test_ping_answers(store: Any) -> None:
    store.ping()
