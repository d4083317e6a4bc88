"""The fair opening's draw: a keyed random permutation, its commitment and its verification.

An event with ``queueing = "random_before_opening"`` takes visitors into a pre-queue before its
opening time. Each pre-queue place has an *arrival index* (1, 2, 3, ... in the order places were
handed out: the store's slot). At the opening the draw fixes ``size`` (the number of pre-queue
places) in one store write, and from then on the position of arrival index ``i`` is:

* ``permute(secret, size, i)`` for ``i <= size``: a keyed pseudo-random permutation of
  ``1..size``, computed on demand, so nothing is rewritten at the opening;
* ``i`` for ``i > size``: visitors arriving after the opening follow in arrival order.

The permutation is a balanced Feistel network of :data:`ROUNDS` rounds over a domain of
``2**(2*h)`` values larger than ``size`` (``h`` bits per half, :func:`half_bits`), restricted to ``0..size-1`` by
cycle walking (apply the network again until the value falls inside; Black and Rogaway,
"Ciphers with Arbitrary Finite Domains", CT-RSA 2002). A Feistel network is a permutation
whatever its round function, and cycle walking a permutation of a larger set gives a
permutation of the smaller one, so every position is handed out exactly once, with no gap.

The round function is the first 32 bits of SHA-1 over ``"<secret>:<size>:<round>:<value>"``
(secret in hex, the draw's size, round and value in decimal), reduced to ``h`` bits. The size
is part of the key so that nobody, not even whoever holds the secret while the pre-queue fills,
knows which arrival index a position goes to before the pre-queue's final size is fixed at the
opening: with the secret alone, every size gives an unrelated permutation. SHA-1 because Redis computes positions
inside its scripts and ``redis.sha1hex`` is the one hash its Lua offers; the draw needs a keyed
pseudo-random function, for which SHA-1's collision attacks do not matter (the input has a fixed
shape and the key is a 256-bit secret). The secret is committed to before the opening by
publishing ``SHA-256(secret)`` (:func:`commitment`), and revealed at the opening with the list
of public ticket ids in arrival order, so anyone can recompute every position
(:func:`verify`). This module is the reference: every store computes the same numbers.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Sequence
from dataclasses import dataclass

ROUNDS = 6
"""Feistel rounds. Four make a pseudo-random permutation in theory (Luby-Rackoff); six keep the
positions of small draws uniform too, where a half holds only a few bits."""

SECRET_BYTES = 32
MAX_SIZE = 2**52
"""Largest draw: every value stays an exact integer in Redis's Lua (doubles)."""

ALGORITHM = "feistel-sha1-6-size-keyed-cycle-walk"
"""Names the permutation in the public draw document, so a verifier knows what to recompute."""


def new_secret() -> str:
    """A fresh draw secret: :data:`SECRET_BYTES` random bytes, as lowercase hex."""
    return _secrets.token_hex(SECRET_BYTES)


def commitment(secret: str) -> str:
    """The public commitment to ``secret``: SHA-256 of its hex text, as lowercase hex."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def matches_commitment(secret: str, committed: str) -> bool:
    """Whether ``secret`` is the one ``committed`` binds (constant-time comparison). Compared as
    UTF-8 bytes: ``hmac.compare_digest`` raises TypeError for text with non-ASCII characters, and
    a published commitment is whatever a document says."""
    return hmac.compare_digest(commitment(secret).encode("ascii"), committed.lower().encode("utf-8"))


MIN_HALF_BITS = 3
"""The smallest half: a domain of at least 64 values. A Feistel network over a domain of 16 or
fewer values makes only even permutations, so small draws would not be uniform (measured: over
24,000 draws of 5 places, a chi-square of 977 on 119 degrees of freedom with halves of 2 bits,
117 with halves of 3); cycle walking through a larger domain mixes them."""


def half_bits(size: int) -> int:
    """Bits per Feistel half for a draw of ``size`` places: the least ``h`` >=
    :data:`MIN_HALF_BITS` with ``4**h > size``. The domain is larger than the draw, never equal,
    so the draw is never exactly one Feistel permutation (which would always be even)."""
    h = MIN_HALF_BITS
    while 4**h <= size:
        h += 1
    return h


TABLE_HALF_BITS = 12
"""Up to this many bits per half (draws of up to 16,777,215 places) a process computes each
round's values for every input once per draw (6 x 4,096 hashes at most, a few milliseconds),
so a position costs a few table look-ups instead of six hashes."""


class _Rounds:
    """The round function of one draw (secret and size): ``F(round, value)`` (see the module
    docstring), from a table when the half is small enough, else hashed each time from SHA-1's
    state after ``"<secret>:<size>:"``, computed once."""

    __slots__ = ("_keyed", "_mask", "_table")

    def __init__(self, secret: str, size: int, h: int) -> None:
        # A keyed pseudo-random function, not a collision-resistant hash: see the module docstring.
        self._keyed = hashlib.sha1(f"{secret}:{size}:".encode("ascii"), usedforsecurity=False)
        self._mask = (1 << h) - 1
        self._table: list[list[int]] | None = None
        if h <= TABLE_HALF_BITS:
            self._table = [[self._hash(r, v) for v in range(1 << h)] for r in range(ROUNDS)]

    def _hash(self, round_number: int, value: int) -> int:
        digest = self._keyed.copy()
        digest.update(b"%d:%d" % (round_number, value))
        return int.from_bytes(digest.digest()[:4], "big") & self._mask

    def __call__(self, round_number: int, value: int) -> int:
        if self._table is not None:
            return self._table[round_number][value]
        return self._hash(round_number, value)


@functools.lru_cache(maxsize=16)
def _rounds(secret: str, size: int) -> _Rounds:
    return _Rounds(secret, size, half_bits(size))


def _feistel(rounds: _Rounds, h: int, x: int) -> int:
    mask = (1 << h) - 1
    left, right = x >> h, x & mask
    for r in range(ROUNDS):
        left, right = right, left ^ rounds(r, right)
    return (left << h) | right


def _feistel_inverse(rounds: _Rounds, h: int, x: int) -> int:
    mask = (1 << h) - 1
    left, right = x >> h, x & mask
    for r in reversed(range(ROUNDS)):
        left, right = right ^ rounds(r, left), left
    return (left << h) | right


def _check(size: int, value: int) -> None:
    if not 1 <= size <= MAX_SIZE:
        raise ValueError(f"a draw holds 1 to {MAX_SIZE} places, not {size}")
    if not 1 <= value <= size:
        raise ValueError(f"{value} is outside 1..{size}")


def permute(secret: str, size: int, index: int) -> int:
    """The position (1..size) the draw gives arrival index ``index`` (1..size). Raises
    ValueError outside those ranges."""
    _check(size, index)
    h = half_bits(size)
    rounds = _rounds(secret, size)
    x = _feistel(rounds, h, index - 1)
    while x >= size:
        x = _feistel(rounds, h, x)
    return x + 1


def unpermute(secret: str, size: int, position: int) -> int:
    """The arrival index that :func:`permute` sends to ``position``: its inverse."""
    _check(size, position)
    h = half_bits(size)
    rounds = _rounds(secret, size)
    x = _feistel_inverse(rounds, h, position - 1)
    while x >= size:
        x = _feistel_inverse(rounds, h, x)
    return x + 1


def position_of(secret: str | None, size: int | None, index: int) -> int:
    """The position of the place with arrival index ``index`` once the draw (``secret``,
    ``size``) is open; without a draw (``size`` None or 0) positions are arrival order."""
    if not size or secret is None or index > size:
        return index
    return permute(secret, size, index)


def index_at(secret: str | None, size: int | None, position: int) -> int:
    """The arrival index of the place at ``position``: the inverse of :func:`position_of`."""
    if not size or secret is None or position > size:
        return position
    return unpermute(secret, size, position)


@dataclass(frozen=True)
class DrawState:
    """What a store keeps of one event's draw.

    ``secret`` is chosen once, before anyone can see the commitment; ``size`` and ``opened_at``
    (POSIX seconds) are set by the one opening step, after which positions follow
    :func:`position_of`. ``size`` may be 0 (nobody was in the pre-queue).
    """

    secret: str
    size: int | None = None
    opened_at: float | None = None

    @property
    def commitment(self) -> str:
        return commitment(self.secret)

    @property
    def is_open(self) -> bool:
        return self.size is not None


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`."""

    ok: bool
    problems: tuple[str, ...]
    positions: dict[str, int]
    """Ticket id -> position, recomputed from the revealed secret and the list."""


def verify(committed: str, secret: str, ticket_ids: Sequence[str | None], size: int | None = None) -> Verification:
    """Recompute a published draw: check that ``secret`` matches ``committed``, that the list
    names each ticket once, that ``size`` (if given) is its length, and give every ticket its
    position. The list is in arrival order: the first ticket has arrival index 1. A None in the
    list is a hole (an arrival index nobody holds, see :class:`core.ports.QueueStore`): it keeps
    its index, and the position the draw gives it is nobody's."""
    problems: list[str] = []
    if not matches_commitment(secret, committed):
        problems.append("the revealed secret does not match the commitment published before the opening")
    named = [ticket for ticket in ticket_ids if ticket is not None]
    if len(set(named)) != len(named):
        problems.append("the list names a ticket more than once")
    if size is not None and size != len(ticket_ids):
        problems.append(f"the draw says {size} places, the list holds {len(ticket_ids)}")
    positions: dict[str, int] = {}
    if ticket_ids and not problems:
        n = len(ticket_ids)
        positions = {ticket: permute(secret, n, i) for i, ticket in enumerate(ticket_ids, start=1)
                     if ticket is not None}
    return Verification(not problems, tuple(problems), positions)
