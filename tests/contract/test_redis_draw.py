"""What only the Redis store promises about the draw: its Lua permutation gives exactly the
positions of :mod:`core.draw`; the opening is one command that rewrites the counters hash only;
a fifo event costs what it did; a drawn place read again uses the position computed before only
for the same place of the same draw. The rules every store keeps are in ``test_draw.py``."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from core import draw
from core.adapters.redis import RedisStore
from core.adapters.redis_draw import DRAW_LUA

from .helpers import EVENT, T0, rid
from .test_redis_adapter import CommandCounter

_BOTH_WAYS = DRAW_LUA + r"""
-- ARGV: secret, size, then values v: returns {permute(v), unpermute(v)} for each, as text.
local secret, size = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local v = tonumber(ARGV[i])
  out[#out + 1] = {fmt(permute(secret, size, v)), fmt(unpermute(secret, size, v))}
end
return out
"""

SECRETS = ["00" * draw.SECRET_BYTES, "ff" * draw.SECRET_BYTES,
           # fixed, not drawn at collection: test ids must be the same in every xdist worker
           *(hashlib.sha256(b"redis draw parity %d" % n).hexdigest() for n in range(3))]


@pytest.fixture(params=["redis_url", "valkey_url"])
def client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(request.getfixturevalue(request.param), decode_responses=True)
    yield c
    c.close()


def _cases() -> list[tuple[int, list[int]]]:
    """(size, values to map): every value of small draws, samples and both ends of large ones."""
    rng = random.Random(18)
    sizes = [1, 2, 3, 5, 63, 64, 65, 1_000_000, 2**40, 2**50 + 3]
    sizes += [4**h + d for h in range(3, 12) for d in (-1, 1)]
    cases = []
    for size in sizes:
        if size <= 300:
            values = list(range(1, size + 1))
        else:
            values = sorted({1, 2, size - 1, size, *(rng.randint(1, size) for _ in range(40 if size < 2**32 else 8))})
        cases.append((size, values))
    return cases


@pytest.mark.parametrize("secret", SECRETS)
def test_lua_permutation_matches_the_reference(client: redis.Redis, secret: str) -> None:
    script = client.register_script(_BOTH_WAYS)
    for size, values in _cases():
        got = script(args=[secret, size, *values])
        expected = [[str(draw.permute(secret, size, v)), str(draw.unpermute(secret, size, v))] for v in values]
        assert got == expected, f"size {size}"


def test_a_small_draw_is_a_permutation_in_lua(client: redis.Redis) -> None:
    """Every position of 1..size once: what the contract needs, checked in Lua's own numbers."""
    script = client.register_script(_BOTH_WAYS)
    for size in (1, 2, 64, 65, 257):
        got = script(args=[SECRETS[2], size, *range(1, size + 1)])
        positions = [int(p) for p, _ in got]
        assert sorted(positions) == list(range(1, size + 1))
        assert positions != list(range(1, size + 1)) or size <= 2


# -- the store ----------------------------------------------------------------------------------


def _snapshot(client: Any) -> dict[str, bytes]:
    """Every key's serialized value (DUMP), by name."""
    return {key: client.dump(key) for key in client.scan_iter(count=1000)}


def test_the_opening_writes_the_counters_hash_only(rstore: RedisStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The opening costs one command and rewrites no place, whatever the number of places."""
    secret = SECRETS[3]
    rstore.prepare_draw(EVENT, secret)
    ids = [rid() for _ in range(1_000)]
    for start in range(0, len(ids), 250):
        rstore.enter_many(EVENT, [(r, None) for r in ids[start:start + 250]], T0)
    rstore.open_draw(EVENT, T0)  # loads the scripts, then the steady state on a fresh event is counted
    rstore.get_ticket(EVENT, ids[0], T0)
    rstore.reset(EVENT)
    rstore.prepare_draw(EVENT, secret)
    for start in range(0, len(ids), 250):
        rstore.enter_many(EVENT, [(r, None) for r in ids[start:start + 250]], T0)
    counters = RedisStore._prefix(EVENT) + "c"
    before = _snapshot(rstore.client)
    counter = CommandCounter(rstore, monkeypatch)
    assert rstore.open_draw(EVENT, T0 + 1) == draw.DrawState(secret, len(ids), T0 + 1)
    assert counter.take() == ["EVALSHA"]
    after = _snapshot(rstore.client)
    assert after.keys() == before.keys()
    assert [k for k in after if after[k] != before[k]] == [counters]
    counter.take()
    ticket = rstore.get_ticket(EVENT, ids[0], T0 + 2)
    assert counter.take() == ["EVALSHA"]
    assert ticket is not None and ticket.position == draw.permute(secret, len(ids), 1)


def test_a_fifo_event_reads_the_same_commands(rstore: RedisStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside a drawn event, a fifo event's reads and writes cost what they did: one command each."""
    rstore.prepare_draw("drawn", SECRETS[4])
    rstore.enter("drawn", rid(), None, T0)
    rstore.open_draw("drawn", T0)
    counter = CommandCounter(rstore, monkeypatch)
    for _ in range(2):  # scripts load on first use; count the steady state
        counter.take()
        r = rid()
        rstore.enter(EVENT, r, None, T0)
        rstore.get_ticket(EVENT, r, T0)
        rstore.sweep(EVENT, T0, 60, True)
    assert counter.take() == ["EVALSHA"] * 3
    assert rstore.draw_state(EVENT) is None


def test_a_drawn_place_read_again_uses_its_hint_only_for_the_same_draw(rstore: RedisStore) -> None:
    ids = [rid() for _ in range(50)]

    def drawn(secret: str) -> None:
        rstore.prepare_draw(EVENT, secret)
        rstore.enter_many(EVENT, [(r, None) for r in ids], T0)
        rstore.open_draw(EVENT, T0 + 1)

    old, new = SECRETS[0], SECRETS[1]
    index = next(i for i in range(1, 51) if draw.permute(old, 50, i) != draw.permute(new, 50, i))
    key = (EVENT, ids[index - 1])
    drawn(old)
    first = rstore.get_ticket(EVENT, ids[index - 1], T0 + 2)
    assert first is not None and first.position == draw.permute(old, 50, index)
    assert rstore._drawn_hints[key] == f"{index}:50:{first.position}:{old}"
    again = rstore.get_ticket(EVENT, ids[index - 1], T0 + 2)
    assert again == first

    # The hint is what a second read uses: the script takes it for the same place of the same draw...
    rstore._drawn_hints[key] = f"{index}:50:49:{old}"
    tampered = rstore.get_ticket(EVENT, ids[index - 1], T0 + 2)
    assert tampered is not None and tampered.position == 49
    # ...and never for another place,
    rstore._drawn_hints[key] = f"{index + 1}:50:49:{old}"
    assert rstore.get_ticket(EVENT, ids[index - 1], T0 + 2) == first
    # nor after a reset, for a new draw of the same size with the same places in the same order.
    rstore.get_ticket(EVENT, ids[index - 1], T0 + 2)
    rstore.reset(EVENT)
    drawn(new)
    after = rstore.get_ticket(EVENT, ids[index - 1], T0 + 3)
    assert after is not None and after.position == draw.permute(new, 50, index) != first.position
    # A fifo place leaves no hint.
    fifo = rid()
    rstore.enter("fifo", fifo, None, T0)
    rstore.get_ticket("fifo", fifo, T0)
    assert ("fifo", fifo) not in rstore._drawn_hints


def test_an_alias_read_again_uses_its_hint_only_for_the_place_it_stands_for(rstore: RedisStore) -> None:
    secret = SECRETS[2]
    ids = [rid() for _ in range(40)]
    rstore.prepare_draw(EVENT, secret)
    rstore.enter_many(EVENT, [(r, None) for r in ids], T0)
    rstore.open_draw(EVENT, T0 + 1)
    rstore.set_alias(EVENT, "browser", ids[4], "0", 600, T0 + 2)
    found = rstore.resolve_alias(EVENT, "browser", T0 + 2)
    assert found is not None and found[2] is not None and found[2].position == draw.permute(secret, 40, 5)
    key = (EVENT, "alias browser")
    assert rstore._drawn_hints[key] == f"5:40:{found[2].position}:{secret}"
    assert rstore.resolve_alias(EVENT, "browser", T0 + 2) == found
    rstore._drawn_hints[key] = f"5:40:39:{secret}"  # the hint is what the next read uses
    tampered = rstore.resolve_alias(EVENT, "browser", T0 + 2)
    assert tampered is not None and tampered[2] is not None and tampered[2].position == 39
    # The alias now stands for another place: the hint of the first is not used for it.
    rstore._drawn_hints[key] = f"5:40:39:{secret}"
    rstore.set_alias(EVENT, "browser", ids[9], "0", 600, T0 + 3)
    moved = rstore.resolve_alias(EVENT, "browser", T0 + 3)
    assert moved is not None and moved[2] is not None and moved[2].position == draw.permute(secret, 40, 10)
