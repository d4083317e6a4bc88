"""An event's opening: the time before which nobody is admitted, and for a
``random_before_opening`` event the pre-queue and its draw (:mod:`core.draw`).

Pure rules, no I/O: :class:`core.room.WaitingRoom` reads the operators' controls and the store's
draw record and asks these functions what they mean.

The states of an event (:class:`OpeningState`):

* ``none``: no opening time; the line admits as its policy says.
* ``pre_queue``: the opening time has not passed (or, for a random event, its draw has not been
  opened yet). Visitors take places, nobody is admitted: the serving counter stays 0, the door
  is shut, operators cannot move the counter. In a random event the places are a pre-queue
  whose order is not decided; in a ``fifo`` event they keep arrival order.
* ``open``: the opening time passed (fifo), or the draw was opened (random): from here the line
  works as any other, drawn places first, then later arrivals in arrival order.

Clocks of workers sharing a store may differ by ``grace`` seconds (``[server] clock_skew``): an
opening is due once ``now - grace >= opens_at``, so no worker opens before the published
time. Visitors arriving in those few seconds after it are still in the pre-queue.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .draw import DrawState
from .model import EventSettings, Queueing

OPENS_AT = "opens_at"
"""The operators' control key that overrides an event's ``opens_at`` at run time: POSIX seconds
as text, or :data:`NO_TIME` (a ``fifo`` event only) for no opening time."""

NO_TIME = ""


class OpeningState(enum.StrEnum):
    NONE = "none"
    PRE_QUEUE = "pre_queue"
    OPEN = "open"


def opens_at_in_force(settings: EventSettings, controls: Mapping[str, str]) -> float | None:
    """The event's opening time (POSIX seconds) with the operators' override applied, or None.

    An override that does not parse as a finite number is ignored (the configured time stands),
    as :func:`core.admission.with_overrides` ignores invalid admission overrides; so is
    :data:`NO_TIME` on a random event, which cannot draw without an opening time."""
    raw = controls.get(OPENS_AT)
    if raw is None:
        return settings.opens_at
    if raw == NO_TIME:
        return None if settings.queueing is Queueing.FIFO else settings.opens_at
    try:
        value = float(raw)
    except ValueError:
        return settings.opens_at
    return value if math.isfinite(value) else settings.opens_at


def is_due(opens_at: float | None, now: float, grace: float = 0.0) -> bool:
    """Whether an opening at ``opens_at`` has come for a worker whose clock says ``now`` and may
    run up to ``grace`` seconds ahead (always true without an opening time)."""
    return opens_at is None or now - max(0.0, grace) >= opens_at


def state_of(queueing: Queueing, opens_at: float | None, draw: DrawState | None, now: float,
             grace: float = 0.0) -> OpeningState:
    """Where an event stands (see the module docstring). A random event is open exactly when
    its draw is, whatever the clock says: the draw, not the time, reorders the line."""
    if queueing is Queueing.RANDOM_BEFORE_OPENING:
        return OpeningState.OPEN if draw is not None and draw.is_open else OpeningState.PRE_QUEUE
    if opens_at is None:
        return OpeningState.NONE
    return OpeningState.OPEN if is_due(opens_at, now, grace) else OpeningState.PRE_QUEUE


@dataclass(frozen=True)
class Opening:
    """An event's opening as operators and visitors may see it.

    ``opens_at`` is in force (configured or moved by operators), POSIX seconds, None if the
    event has none. ``pre_queue_size`` is the number of places taken before the opening: the
    places so far while in ``pre_queue``, the draw's size once a random event is open, None
    when it is not known (no opening time, or a fifo event after its opening). ``commitment``
    (SHA-256 of the draw secret, :func:`core.draw.commitment`) exists for random events from
    before their first place; ``secret`` and ``opened_at`` only once the draw is open.
    """

    event_id: str
    queueing: Queueing
    opens_at: float | None
    state: OpeningState
    pre_queue_size: int | None = None
    commitment: str | None = None
    secret: str | None = None
    opened_at: float | None = None

    @property
    def is_gated(self) -> bool:
        """Whether nobody may be admitted yet (the state is ``pre_queue``)."""
        return self.state is OpeningState.PRE_QUEUE

    @property
    def is_random(self) -> bool:
        return self.queueing is Queueing.RANDOM_BEFORE_OPENING

    @property
    def size(self) -> int | None:
        """The draw's size (places drawn), once a random event is open; else None."""
        return self.pre_queue_size if self.is_random and self.state is OpeningState.OPEN else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (times in POSIX seconds) for the admin API and the panel."""
        return {
            "queueing": self.queueing.value,
            "opens_at": self.opens_at,
            "draw_state": self.state.value,
            "pre_queue_size": self.pre_queue_size,
            "commitment": self.commitment,
            "opened_at": self.opened_at,
        }


def opening_of(settings: EventSettings, opens_at: float | None, draw: DrawState | None,
               last_position: int | None, now: float, grace: float = 0.0) -> Opening:
    """The :class:`Opening` of an event from what the store holds: the opening time in force,
    its draw record (None for a fifo event) and its ``last_position`` counter (None if not
    read: ``pre_queue_size`` is then None before the opening)."""
    state = state_of(settings.queueing, opens_at, draw, now, grace)
    random = settings.queueing is Queueing.RANDOM_BEFORE_OPENING
    if state is OpeningState.PRE_QUEUE:
        size: int | None = last_position
    elif random and draw is not None:
        size = draw.size
    else:
        size = None
    is_open = random and draw is not None and draw.is_open
    return Opening(
        event_id=settings.event_id,
        queueing=settings.queueing,
        opens_at=opens_at,
        state=state,
        pre_queue_size=size,
        commitment=draw.commitment if random and draw is not None else None,
        secret=draw.secret if is_open and draw is not None else None,
        opened_at=draw.opened_at if is_open and draw is not None else None,
    )
