"""The Redis store's Lua permutation gives exactly the positions of :mod:`core.draw`."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import redis

from core import draw
from core.adapters.redis_draw import DRAW_LUA

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
           *(draw.new_secret() for _ in range(3))]


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
