"""What the waiting page tells a visitor: place, people ahead, an honest estimate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from core.model import Status, Ticket

LIVE_STATUSES = (Status.WAITING, Status.ADMITTED, Status.ISSUED)


@dataclass(frozen=True)
class Estimate:
    """A wait given as a range in whole minutes, or unknown when nobody was admitted lately."""

    low_minutes: int
    high_minutes: int

    def as_dict(self) -> dict[str, int]:
        return {"low_minutes": self.low_minutes, "high_minutes": self.high_minutes}


def estimate_wait(ahead: int, rate_per_second: float) -> Estimate | None:
    """Minutes until admission from the observed admission rate, widened to a range because the
    rate changes (bursts, pauses, expired places). None when the rate is unknown (zero)."""
    if rate_per_second <= 0:
        return None
    seconds = (ahead + 1) / rate_per_second
    low = max(0, math.floor(seconds * 0.75 / 60))
    high = max(low + 1, math.ceil(seconds * 1.5 / 60))
    return Estimate(low, high)


def status_view(ticket: Ticket, serving: int, rate_per_second: float) -> dict[str, Any]:
    ahead = max(0, ticket.position - serving - 1) if ticket.status is Status.WAITING else 0
    est = estimate_wait(ahead, rate_per_second) if ticket.status is Status.WAITING else None
    return {
        "status": ticket.status.value,
        "admitted": ticket.status in (Status.ADMITTED, Status.ISSUED),
        "position": ticket.position,
        "serving": serving,
        "ahead": ahead,
        "estimate": None if est is None else est.as_dict(),
    }
