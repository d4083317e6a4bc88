"""Small test doubles for the authorizer suite."""

from __future__ import annotations


class FakeMonotonic:
    """A monotonic clock that moves only when told to (TTL and rate-limit intervals)."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds
