"""Value types of the waiting room.

All times are POSIX seconds as floats, taken from an injected :class:`core.ports.Clock`.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import re
from dataclasses import dataclass, field

from .page_look import PageLook

EVENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""Event ids are plain slugs: no key syntax of any store (``:``, ``{``, ``*``, spaces) can pass."""

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")

IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
_HEX_KEY = re.compile(r"^[0-9A-Fa-f-]+$")


def is_strong_idempotency_key(key: str) -> bool:
    """Whether ``key`` has room for at least 128 random bits in its format.

    A repeated key returns the place (and its request id, the secret that proves it) of the first
    request, so a key must be as hard to guess as that secret. Accepted: a UUID (32 hex digits,
    the form the IETF Idempotency-Key draft recommends, made with UUID v4), any 32 or more hex
    digits with optional hyphens, or 22 to 128 characters of URL-safe base64 (``A-Z a-z 0-9 - _``,
    such as ``secrets.token_urlsafe(16)``). A key of hex digits only must have 32 of them: 22 hex
    digits hold only 88 bits.
    """
    if not IDEMPOTENCY_KEY_PATTERN.match(key):
        return False
    return not _HEX_KEY.match(key) or sum(c != "-" for c in key) >= 32


class Status(enum.StrEnum):
    """Where one place in line stands."""

    WAITING = "waiting"  # position > serving counter
    ADMITTED = "admitted"  # position <= serving counter, token not yet claimed
    ISSUED = "issued"  # tokens issued, session active
    COMPLETED = "completed"  # session ended by the site: visitor done
    ABANDONED = "abandoned"  # session ended by the site: visitor left
    EXPIRED = "expired"  # admitted but never claimed tokens within the expiry period
    TIMED_OUT = "timed_out"  # tokens issued, validity ran out without the session being ended

    @property
    def holds_slot(self) -> bool:
        """Whether a place in this state still counts as an active session."""
        return self in (Status.ADMITTED, Status.ISSUED)


ENDED_STATUSES = (Status.COMPLETED, Status.ABANDONED)


class Queueing(enum.StrEnum):
    """How an event orders the visitors who arrive before its opening time (``opens_at``)."""

    FIFO = "fifo"  # arrival order, always (the default)
    RANDOM_BEFORE_OPENING = "random_before_opening"  # a pre-queue, drawn at random at the opening


class Strategy(enum.StrEnum):
    PERIODIC = "periodic"
    MAX_ACTIVE = "max_active"
    MANUAL = "manual"


MIN_EVERY = 0.1
MAX_EVERY = 86_400.0
"""Bounds of an admission tick, in seconds: shorter ticks than the scheduler can run are
meaningless, and a tick number must stay a small integer in every store."""

MAX_ADMISSION_COUNT = 1_000_000
"""Largest ``increment_by`` or ``max_active``: bigger than any line, small enough for every store."""


@dataclass(frozen=True)
class AdmissionPolicy:
    """How an event's serving counter moves forward by itself.

    ``periodic``: let ``increment_by`` more visitors in every ``every`` seconds, between the
    optional ``start_at`` and ``end_at``. ``max_active``: every ``every`` seconds, admit enough
    visitors to bring active sessions up to ``max_active``. ``manual``: only the admin API
    moves the counter.
    """

    strategy: Strategy = Strategy.MANUAL
    increment_by: int = 0
    every: float = 10.0
    max_active: int = 0
    start_at: float | None = None
    end_at: float | None = None

    def __post_init__(self) -> None:
        if not MIN_EVERY <= self.every <= MAX_EVERY:  # also refuses NaN and infinity
            raise ValueError(f"admission 'every' must be from {MIN_EVERY:g} to {MAX_EVERY:g} seconds")
        if not (0 <= self.increment_by <= MAX_ADMISSION_COUNT and 0 <= self.max_active <= MAX_ADMISSION_COUNT):
            raise ValueError(f"admission counts must be from 0 to {MAX_ADMISSION_COUNT:,}")
        if self.strategy is Strategy.PERIODIC and self.increment_by <= 0:
            raise ValueError("the periodic strategy needs a positive 'increment_by'")
        if self.strategy is Strategy.MAX_ACTIVE and self.max_active <= 0:
            raise ValueError("the max_active strategy needs a positive 'max_active'")


@dataclass(frozen=True)
class DoorRule:
    """When :meth:`core.ports.QueueStore.enter` admits the new place in the same atomic step
    that hands it out ("admit at the door"), so a visitor arriving while there is room never
    waits for the next admission tick.

    The store admits the new place only if nobody waits ahead of it (its position is
    ``serving + 1``), the event is not paused (the store reads the ``paused`` control in that
    same step), and the limit holds: with ``max_active`` > 0, fewer than ``max_active`` places
    were active; with ``budget`` > 0, the serving counter moved forward by fewer than ``budget``
    since the instant ``since`` (POSIX seconds; a move at that very instant counts as after it).
    Admitting moves the serving counter to the new position, recorded as any move. A store that
    allocates positions without serialising entries (DynamoDB) may find places ahead of the new
    one still waiting when it decides; it then admits them with it if the limit holds for all,
    so concurrent arrivals fill the free slots in line order.

    With ``after_draw`` (an event that draws its line at its opening, ``random_before_opening``)
    the store also admits only if the event's draw is open in the store, read in that same
    step: the domain decides from a copy of the draw up to a second old, which a reset by
    another process makes wrong, and a place admitted before the next draw would keep that draw
    from opening (:meth:`core.ports.QueueStore.open_draw`).
    """

    max_active: int = 0
    budget: int = 0
    since: float = 0.0
    after_draw: bool = False


@dataclass(frozen=True)
class EventSettings:
    """One event (room). Every event is independent of the others."""

    event_id: str
    name: str = ""
    token_validity: int = 3600
    queue_position_expiry: int = 900  # 0 turns expiry off
    incr_serving_on_expiry: bool = True
    admission: AdmissionPolicy = field(default_factory=AdmissionPolicy)
    page: PageLook = field(default_factory=PageLook)
    """How the event's waiting page looks (``[events.<id>.page]``)."""
    opens_at: float | None = None
    """The opening time (POSIX seconds): nobody is admitted before it. With
    :attr:`Queueing.RANDOM_BEFORE_OPENING`, visitors arriving earlier wait in a pre-queue and
    are drawn at random at this instant (:mod:`core.draw`)."""
    queueing: Queueing = Queueing.FIFO

    def __post_init__(self) -> None:
        if not EVENT_ID_PATTERN.match(self.event_id):
            raise ValueError(f"invalid event id {self.event_id!r}: use letters, digits, '-', '_' or '.'")
        if self.token_validity <= 0:
            raise ValueError("token_validity must be a positive number of seconds")
        if self.queue_position_expiry < 0:
            raise ValueError("queue_position_expiry must be 0 (off) or a positive number of seconds")
        if self.queueing is Queueing.RANDOM_BEFORE_OPENING and self.opens_at is None:
            raise ValueError('queueing = "random_before_opening" needs an opening time (opens_at)')

    @property
    def display_name(self) -> str:
        return self.name or self.event_id


def ticket_id_for(request_id: str) -> str:
    """The public id of a place in line (the token ``sub``), derived one-way from the secret request id.

    Deriving it means stores keep nothing extra per visitor, and knowing a ``sub`` never
    reveals the request id that proves the place.
    """
    digest = hashlib.sha256(b"waitingroom-ticket:" + request_id.encode()).digest()[:18]
    return "t_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class Session:
    """The record of tokens issued to an admitted visitor. Re-issuing reuses it, so tokens are equivalent."""

    jti: str
    issued_at: int
    expires_at: int
    status: Status = Status.ISSUED
    ended_at: float | None = None


@dataclass(frozen=True)
class Ticket:
    """One place in line, as the store knows it, with the status derived at read time."""

    event_id: str
    request_id: str
    position: int
    entered_at: float
    status: Status
    admitted_at: float | None = None
    session: Session | None = None

    @property
    def ticket_id(self) -> str:
        return ticket_id_for(self.request_id)


@dataclass(frozen=True)
class Counters:
    """An event's counters at one instant, read atomically."""

    serving: int = 0  # every position <= serving is admitted
    last_position: int = 0  # positions 1..last_position are handed out
    issued: int = 0  # sessions that received tokens
    completed: int = 0
    abandoned: int = 0
    expired: int = 0  # admitted positions that never claimed tokens in time
    timed_out: int = 0  # sessions whose tokens ran out without being ended

    @property
    def admitted(self) -> int:
        return min(self.serving, self.last_position)

    @property
    def waiting(self) -> int:
        return max(0, self.last_position - self.serving)

    @property
    def active(self) -> int:
        """Admitted places that still hold a slot: not ended, not expired, not timed out."""
        return max(0, self.admitted - self.completed - self.abandoned - self.expired - self.timed_out)

    def as_dict(self) -> dict[str, int]:
        return {
            "serving_counter": self.serving,
            "last_position": self.last_position,
            "waiting": self.waiting,
            "admitted": self.admitted,
            "active": self.active,
            "issued": self.issued,
            "completed": self.completed,
            "abandoned": self.abandoned,
            "expired": self.expired,
            "timed_out": self.timed_out,
        }


@dataclass(frozen=True)
class PositionView:
    """What a visitor may learn about their place."""

    event_id: str
    position: int
    serving: int
    status: Status
    entered_at: float
    admitted_at: float | None
    pre_queue: bool = False
    """The place is in a random event's pre-queue: its position is decided by the draw at the
    opening, so ``position`` is 0 and must not be shown."""
    opens_at: float | None = None
    """When the event opens (POSIX seconds) while it has not: nobody is admitted before."""
    arrival: int | None = None
    """In the pre-queue, the place's arrival index (1-based; None otherwise): not a position, the
    visitor's receipt that the draw's published list must name the ticket at this index."""

    @property
    def ahead(self) -> int:
        return max(0, self.position - self.serving - 1)


SWEEP_POSITIONS = 2_000
"""Positions one expiry sweep walks at most (:meth:`core.ports.QueueStore.sweep`); the next sweep
goes on from there. Each drawn position costs a permutation (six SHA-1 rounds, cycle walked):
measured on a shared two-core machine, one Redis sweep over 100,000 drawn positions ran 4.4 s in
one script (0.7 s in arrival order), blocking every other client, past Redis's 5 s busy
threshold at a few hundred thousand; a SQLite one held the write lock 2.9 s. Steps of 5,000
drawn positions took 0.3 s (median) to 0.7 s, above the Redis client's 0.5 s default timeout;
steps of 2,000 took 0.06 s (median) to 0.16 s on Redis, 0.03 s to 0.06 s on SQLite, and the
scheduler sweeps every tick."""


@dataclass(frozen=True)
class SweepResult:
    """What one expiry sweep changed."""

    expired: int = 0
    timed_out: int = 0
    serving: int = 0
