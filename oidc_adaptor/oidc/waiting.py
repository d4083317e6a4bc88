"""What the waiting page tells a visitor: place, people ahead, an honest estimate."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

from core.model import AdmissionPolicy, Status, Ticket
from core.opening import Opening, OpeningState

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


@dataclass(frozen=True)
class EarlierPlace:
    """What became of the place a browser held before the new one it is given now."""

    position: int
    status: Status
    at: float | None  # when it expired or ended (POSIX seconds), if known
    claim_minutes: int  # the event's claim window, in whole minutes (at least 1)

    @property
    def at_iso(self) -> str:
        return "" if self.at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at))

    @property
    def at_text(self) -> str:
        return "" if self.at is None else time.strftime("%H:%M UTC", time.gmtime(self.at))


def earlier_place(ticket: Ticket | None, queue_position_expiry: int, now: float | None = None,
                  claim_window: float = 0.0) -> EarlierPlace | None:
    """The place a browser held, if it expired or its session ended (so the visitor is told why
    they get a new place instead of being silently re-queued); None for a live place or none.

    With ``now``, a place a sweep has not marked yet counts too: admitted ``claim_window``
    seconds or more ago without tokens (expired), or a session whose tokens ran out (timed out)."""
    if ticket is None:
        return None
    if now is not None and ticket.status is Status.ADMITTED and claim_window > 0 \
            and ticket.admitted_at is not None and ticket.admitted_at <= now - claim_window:
        ticket = replace(ticket, status=Status.EXPIRED)
    elif now is not None and ticket.status is Status.ISSUED and ticket.session is not None \
            and ticket.session.expires_at <= now:
        ticket = replace(ticket, status=Status.TIMED_OUT)
    if ticket.status in LIVE_STATUSES:
        return None
    at: float | None = None
    if ticket.status is Status.EXPIRED and ticket.admitted_at is not None and queue_position_expiry:
        at = ticket.admitted_at + queue_position_expiry
    elif ticket.session is not None:
        at = ticket.session.ended_at or float(ticket.session.expires_at)
    return EarlierPlace(ticket.position, ticket.status, at, max(1, round(queue_position_expiry / 60)))


MAX_REFRESH_SECONDS = 120
MIN_REFRESH_SECONDS = 5


def no_js_refresh_seconds(claim_window: float) -> int:
    """How often the page re-requests itself without JavaScript: a third of the claim window
    (``queue_position_expiry`` plus the allowed clock skew), so an admitted visitor who keeps the
    page open is taken to the site well before the place expires; between 5 and 120 seconds, and
    the longest when places never expire (``claim_window`` 0)."""
    if claim_window <= 0:
        return MAX_REFRESH_SECONDS
    return int(max(MIN_REFRESH_SECONDS, min(MAX_REFRESH_SECONDS, claim_window / 3)))


@dataclass(frozen=True)
class LineState:
    """Why the line is or is not moving, as the waiting page says it (no estimate unless it moves)."""

    paused: bool = False
    opens_at: float | None = None  # a scheduled opening still ahead (POSIX seconds)
    pre_queue: bool = False
    """The visitor's place is in the pre-queue of a random draw: it has no position until the opening."""
    minutes_left: int = 0
    """Whole minutes until ``opens_at`` (rounded up), 0 when there is none."""

    @property
    def moving(self) -> bool:
        return not self.paused and self.opens_at is None

    @property
    def opens_iso(self) -> str:
        return "" if self.opens_at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.opens_at))

    @property
    def opens_text(self) -> str:
        if self.opens_at is None:
            return ""
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.opens_at))


def line_state(policy: AdmissionPolicy, paused: bool, now: float, opening: Opening | None = None) -> LineState:
    """The line's state for a visitor at ``now``: paused, or before a scheduled opening (the
    admission window's ``start_at`` or the event's ``opening``, whichever is later), or moving.
    A place in a random event's pre-queue (the draw not open yet) is ``pre_queue``."""
    candidates = [policy.start_at]
    pre_queue = False
    if opening is not None and opening.state is OpeningState.PRE_QUEUE:
        candidates.append(opening.opens_at)
        pre_queue = opening.is_random
    later = [t for t in candidates if t is not None and now < t]
    opens = max(later) if later else None
    if pre_queue and opens is None and opening is not None:
        opens = opening.opens_at  # the opening time passed a moment ago; the draw is not read yet
    minutes = 0 if opens is None else max(0, math.ceil((opens - now) / 60))
    return LineState(paused=paused, opens_at=opens, pre_queue=pre_queue, minutes_left=minutes)


def refresh_seconds(line: LineState, now: float, claim_window: float, grace: float = 0.0) -> int:
    """How often the page re-requests itself without JavaScript: as :func:`no_js_refresh_seconds`,
    but a pre-queue page comes back a second after the opening is due (``grace``: the allowed
    clock skew, which the opening waits out), so it shows the drawn place then and its countdown
    refreshes on the way; never sooner than :data:`MIN_REFRESH_SECONDS`."""
    regular = no_js_refresh_seconds(claim_window)
    if not line.pre_queue or line.opens_at is None:
        return regular
    until = math.ceil(line.opens_at + max(0.0, grace) - now) + 1
    return int(max(MIN_REFRESH_SECONDS, min(MAX_REFRESH_SECONDS, until)))


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
