"""The draw (core/draw.py): uniform, recomputable by anyone from its description, and a changed
list or secret does not verify.

The statistical tests use a fixed seed, so they give the same statistic on every run; the
thresholds are chi-square quantiles at p = 0.001 (Wilson-Hilferty approximation), so a sound
permutation passes by a wide margin and a biased one (shown below) fails by far.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from collections.abc import Iterator

import pytest

from core import draw
from core.clock import ManualClock
from core.model import EventSettings, Queueing

from .conftest import RoomFactory

SEED = 18
DRAWS_OF_FIVE = 12_000
"""Draws of 5 places: 100 expected per permutation of 5, 2,400 per (index, position) cell."""


def secrets_from(seed: int, count: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(count):
        yield f"{rng.getrandbits(8 * draw.SECRET_BYTES):0{2 * draw.SECRET_BYTES}x}"


def chi_square(observed: Counter[object], cells: int, total: int) -> float:
    """Pearson's statistic of ``observed`` against ``total`` spread evenly over ``cells`` cells."""
    expected = total / cells
    seen = sum((count - expected) ** 2 / expected for count in observed.values())
    return seen + (cells - len(observed)) * expected  # cells never observed


def chi_square_limit(degrees: int, z: float = 3.090) -> float:
    """The chi-square quantile exceeded with probability 0.001 (z of the normal at 0.999)."""
    k = 2 / (9 * degrees)
    return degrees * (1 - k + z * math.sqrt(k)) ** 3


def whole_permutation(secret: str, size: int) -> tuple[int, ...]:
    """Positions of arrival indexes 1..size (the last one is the position left over)."""
    known = [draw.permute(secret, size, i) for i in range(1, size)]
    return (*known, (size * (size + 1)) // 2 - sum(known))


@pytest.fixture(scope="module")
def draws_of_five() -> list[tuple[int, ...]]:
    return [whole_permutation(secret, 5) for secret in secrets_from(SEED, DRAWS_OF_FIVE)]


# -- uniformity ---------------------------------------------------------------------------------------


def test_each_arrival_index_lands_on_every_position_equally_often(draws_of_five: list[tuple[int, ...]]) -> None:
    cells = Counter((index, position) for perm in draws_of_five for index, position in enumerate(perm, start=1))
    statistic = chi_square(cells, 25, len(draws_of_five) * 5)
    # 5 x 5 table with fixed margins: (5 - 1) ** 2 degrees of freedom
    assert statistic < chi_square_limit(16), statistic


def test_every_permutation_of_five_is_equally_likely(draws_of_five: list[tuple[int, ...]]) -> None:
    assert all(sorted(perm) == [1, 2, 3, 4, 5] for perm in draws_of_five)
    statistic = chi_square(Counter(draws_of_five), math.factorial(5), len(draws_of_five))
    assert statistic < chi_square_limit(119), statistic


def test_arrival_indexes_of_a_larger_draw_land_uniformly() -> None:
    size, draws = 30, 1_000
    cells: Counter[object] = Counter()
    for secret in secrets_from(SEED + 1, draws):
        cells.update((i, draw.permute(secret, size, i)) for i in range(1, size + 1))
    statistic = chi_square(cells, size * size, draws * size)
    assert statistic < chi_square_limit((size - 1) ** 2), statistic


def test_the_statistic_catches_a_biased_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    """With halves of 2 bits the Feistel network over 16 values makes only even permutations
    (why :data:`core.draw.MIN_HALF_BITS` is 3): the same test must fail it by far."""
    monkeypatch.setattr(draw, "MIN_HALF_BITS", 2)
    draws = [whole_permutation(secret, 5) for secret in secrets_from(SEED, DRAWS_OF_FIVE)]
    statistic = chi_square(Counter(draws), math.factorial(5), len(draws))
    assert statistic > 2 * chi_square_limit(119), statistic


# -- an independent recomputation ------------------------------------------------------------------------


def naive_position(secret: str, size: int, index: int) -> int:
    """The draw written again from the module docstring of core.draw alone: the least h >= 3
    with 4**h > size; round value = first 8 hex digits of SHA-1 of "<secret>:<size>:<round>:<value>"
    mod 2**h; six Feistel rounds (L, R) -> (R, L xor F(R)) on x = index - 1 split as (x div 2**h,
    x mod 2**h); applied again while the result is not below size; position = result + 1."""
    if index > size:
        return index
    h = 3
    while 4**h <= size:
        h += 1
    half = 2**h
    x = index - 1
    while True:
        left, right = divmod(x, half)
        for round_number in range(6):
            digest = hashlib.sha1(f"{secret}:{size}:{round_number}:{right}".encode()).hexdigest()
            left, right = right, left ^ (int(digest[:8], 16) % half)
        x = left * half + right
        if x < size:
            return x + 1


@pytest.mark.parametrize("size", [1, 2, 5, 63, 64, 65, 257, 1000])
def test_a_naive_recomputation_gives_the_same_positions(size: int) -> None:
    for secret in secrets_from(SEED + size, 3):
        positions = [naive_position(secret, size, i) for i in range(1, size + 1)]
        assert positions == [draw.position_of(secret, size, i) for i in range(1, size + 1)]
        assert sorted(positions) == list(range(1, size + 1))
        assert [draw.index_at(secret, size, p) for p in positions] == list(range(1, size + 1))
    assert draw.position_of(secret, size, size + 7) == size + 7 == naive_position(secret, size, size + 7)


def test_a_large_draw_agrees_at_sampled_indexes() -> None:
    size = 1_000_003
    secret = next(secrets_from(SEED, 1))
    rng = random.Random(SEED)
    for index in [1, size, *(rng.randrange(1, size + 1) for _ in range(50))]:
        position = draw.permute(secret, size, index)
        assert position == naive_position(secret, size, index)
        assert draw.unpermute(secret, size, position) == index


def test_the_stores_positions_are_recomputed_from_the_published_document(make_room: RoomFactory,
                                                                         clock: ManualClock) -> None:
    opens = clock.now() + 60
    room = make_room(EventSettings("sale", opens_at=opens, queueing=Queueing.RANDOM_BEFORE_OPENING))
    tickets = [room.enter("sale") for _ in range(40)]
    clock.value = opens
    doc = room.draw_document("sale")
    assert doc["algorithm"] == draw.ALGORITHM and hashlib.sha256(doc["secret"].encode()).hexdigest() == \
        doc["commitment"]
    recomputed = {ticket_id: naive_position(doc["secret"], doc["size"], i)
                  for i, ticket_id in enumerate(doc["tickets"], start=1)}
    assert recomputed == {t.ticket_id: room.ticket("sale", t.request_id).position for t in tickets}


# -- what fails verification -----------------------------------------------------------------------------


@pytest.fixture
def published() -> tuple[str, str, list[str]]:
    secret = next(secrets_from(SEED, 1))
    return draw.commitment(secret), secret, [f"t_{i:024d}" for i in range(1, 21)]


def test_the_published_draw_verifies(published: tuple[str, str, list[str]]) -> None:
    committed, secret, tickets = published
    checked = draw.verify(committed, secret, tickets, len(tickets))
    assert checked.ok and checked.problems == ()
    assert checked.positions == {t: naive_position(secret, 20, i) for i, t in enumerate(tickets, start=1)}


def test_another_secret_fails(published: tuple[str, str, list[str]]) -> None:
    committed, secret, tickets = published
    other = secret[:-1] + ("0" if secret[-1] != "0" else "1")
    checked = draw.verify(committed, other, tickets, len(tickets))
    assert not checked.ok and "commitment" in checked.problems[0] and checked.positions == {}


def test_a_changed_list_fails(published: tuple[str, str, list[str]]) -> None:
    committed, secret, tickets = published
    assert not draw.verify(committed, secret, tickets[:-1], len(tickets)).ok  # a place left out
    assert not draw.verify(committed, secret, [*tickets, "t_added"], len(tickets)).ok  # a place added
    duplicated = [*tickets[:5], tickets[0], *tickets[6:]]
    assert "more than once" in draw.verify(committed, secret, duplicated, len(tickets)).problems[0]
    # Two places swapped: the list is well formed, but the visitors in it get other positions
    # than the store gave them, which each of them sees when checking their own.
    swapped = [tickets[1], tickets[0], *tickets[2:]]
    honest = draw.verify(committed, secret, tickets, len(tickets)).positions
    moved = draw.verify(committed, secret, swapped, len(tickets)).positions
    assert moved[tickets[0]] != honest[tickets[0]] and moved[tickets[1]] != honest[tickets[1]]


def test_holes_keep_their_arrival_index(published: tuple[str, str, list[str]]) -> None:
    committed, secret, tickets = published
    with_holes: list[str | None] = [*tickets]
    with_holes[3] = with_holes[9] = None
    checked = draw.verify(committed, secret, with_holes, len(tickets))
    assert checked.ok and len(checked.positions) == 18
    assert all(checked.positions[t] == naive_position(secret, 20, i)
               for i, t in enumerate(with_holes, start=1) if t is not None)


def test_the_secret_alone_does_not_tell_which_arrival_draws_first() -> None:
    # README.md and SECURITY.md: the operator's store holds the secret during the pre-queue, but
    # the size is part of the round key, so each final size gives an unrelated permutation and
    # the secret's holder cannot tell which arrival index will be drawn first until the size is
    # fixed at the opening. (Without the size in the key, cycle walking through the same Feistel
    # domain kept the first arrival index first at 23 of these 24 sizes.)
    secret = hashlib.sha256(b"an operator's secret").hexdigest()
    first = draw.unpermute(secret, 1000, 1)
    still_first = [size for size in range(1000, 1024) if draw.permute(secret, size, first) == 1]
    assert still_first[:1] == [1000] and len(still_first) <= 2
    # and over many sizes, where one arrival index lands is spread like a fresh draw's
    spread = {draw.permute(secret, size, 7) * 10 // size for size in range(1000, 1400)}
    assert len(spread) == 10
