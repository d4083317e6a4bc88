"""The draw's permutation in Redis's Lua: a port of :mod:`core.draw` for the Redis store's scripts.

The Redis store computes positions inside its scripts, so a ticket read, the door, the expiry
sweep and the opening each stay one atomic step. :data:`DRAW_LUA` defines, for a script that
includes it, ``permute(secret, size, index)`` and ``unpermute(secret, size, position)`` giving
exactly the numbers of :func:`core.draw.permute` and :func:`core.draw.unpermute` (the parity
test in ``tests/contract/test_redis_draw.py`` holds them to it), and ``fmt(n)`` for writing an
integer.

Redis runs Lua 5.1, whose numbers are doubles: every value of a draw of fewer than 2**52
places (4**26, halves of 26 bits) stays an exact integer below 2**52; only a draw of exactly
:data:`core.draw.MAX_SIZE` places would need 54 bits, which no event comes near. The halves are split with division and
modulo by ``2**h`` rather than shifts, and XOR comes from the ``bit`` library, whose 32-bit
operands hold a half (at most 27 bits). Lua prints a number with ``%.14g`` (1e+14, and 5 for
5.0 only by luck), so every number that goes into the round function's text or out of a script
is written with ``string.format('%d', n)``. The round function's SHA-1 is ``redis.sha1hex``.
"""

from __future__ import annotations

from ..draw import MIN_HALF_BITS, ROUNDS

DRAW_LUA = r"""
-- An integer as decimal text, exactly (tostring would print 1e+14).
local function fmt(n)
  return string.format('%d', n)
end

-- Bits per Feistel half: the least h >= MIN_HALF_BITS with 4^h > size (core.draw.half_bits).
local function half_bits(size)
  local h = __MIN_HALF_BITS__
  while 4 ^ h <= size do h = h + 1 end
  return h
end

-- The Feistel network of one draw: its half (2^h) and the text before the value in each
-- round's input, "<secret>:<size>:<round>:". Built once per script run and draw: a read computes one
-- position, the sweep many, and building the text is a good part of a round's cost.
local NETWORK = {}
local function network(secret, size)
  local key = secret .. '/' .. fmt(size)
  local n = NETWORK[key]
  if not n then
    n = {half = 2 ^ half_bits(size), prefix = {}}
    for r = 0, __ROUNDS__ - 1 do n.prefix[r] = secret .. ':' .. fmt(size) .. ':' .. fmt(r) .. ':' end
    NETWORK[key] = n
  end
  return n
end

-- The round function: the first 32 bits of SHA-1 over "<secret>:<size>:<round>:<value>", reduced to
-- h bits.
local function round_value(n, r, value)
  return tonumber(string.sub(redis.sha1hex(n.prefix[r] .. fmt(value)), 1, 8), 16) % n.half
end

local function feistel(n, x)
  local half = n.half
  local left, right = math.floor(x / half), x % half
  for r = 0, __ROUNDS__ - 1 do
    left, right = right, bit.bxor(left, round_value(n, r, right))
  end
  return left * half + right
end

local function feistel_inverse(n, x)
  local half = n.half
  local left, right = math.floor(x / half), x % half
  for r = __ROUNDS__ - 1, 0, -1 do
    left, right = bit.bxor(right, round_value(n, r, left)), left
  end
  return left * half + right
end

-- core.draw.permute: the position (1..size) of arrival index (1..size), cycle walking into the draw.
local function permute(secret, size, index)
  local n = network(secret, size)
  local x = feistel(n, index - 1)
  while x >= size do x = feistel(n, x) end
  return x + 1
end

-- core.draw.unpermute: the arrival index permute sends to position.
local function unpermute(secret, size, position)
  local n = network(secret, size)
  local x = feistel_inverse(n, position - 1)
  while x >= size do x = feistel_inverse(n, x) end
  return x + 1
end
""".replace("__MIN_HALF_BITS__", str(MIN_HALF_BITS)).replace("__ROUNDS__", str(ROUNDS))
"""Lua defining ``fmt``, ``permute`` and ``unpermute`` (see the module documentation)."""
