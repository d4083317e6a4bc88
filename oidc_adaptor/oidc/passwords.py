"""Client secrets are stored only as salted hashes, and compared in constant time.

A secret a person chose may be weak, so it gets a slow hash: ``scrypt$<n>$<r>$<p>$<salt>$<hash>``
(the default) or ``pbkdf2_sha256$<iterations>$<salt>$<hash>``. A secret this server generated
(256 random bits, see :func:`generate_secret`) cannot be guessed whatever the hash costs, so it
gets a keyed fast hash, ``hmac_sha256$<key>$<hash>`` (HMAC-SHA256 under a random per-secret key):
checking a wrong one costs microseconds, not the tens of milliseconds of CPU that let wrong
secrets at ``/token`` slow a worker down. Salt, key and hash are base64url without padding; the
format names its kind so the cost can be raised later without breaking stored hashes. Only the
standard library is used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
PBKDF2_MIN_ITERATIONS = 100_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str) -> str:
    """A fresh scrypt hash of ``secret`` (random 16-byte salt)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


GENERATED_SECRET_BYTES = 32


def generate_secret() -> tuple[str, str]:
    """A new random client secret (256 bits, URL-safe) and its keyed fast hash."""
    secret = secrets.token_urlsafe(GENERATED_SECRET_BYTES)
    key = secrets.token_bytes(16)
    return secret, f"hmac_sha256${_b64(key)}${_b64(_hmac(key, secret))}"


def _hmac(key: bytes, secret: str) -> bytes:
    return hmac.new(key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def is_fast_hash(stored: str) -> bool:
    """Whether ``stored`` is the fast hash of a generated secret (never right for a chosen one)."""
    return stored.startswith("hmac_sha256$") and is_valid_hash(stored)


def is_valid_hash(stored: str) -> bool:
    """Whether ``stored`` is a hash this module can verify (checked when configuration loads)."""
    try:
        _parse(stored)
    except ValueError:
        return False
    return True


def _parse(stored: str) -> tuple[str, tuple[int, ...], bytes, bytes]:
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = (int(x) for x in parts[1:4])
            if n < 2**10 or n & (n - 1) or r < 1 or p < 1:
                raise ValueError("weak or invalid scrypt parameters")
            return "scrypt", (n, r, p), _unb64(parts[4]), _unb64(parts[5])
        if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            iterations = int(parts[1])
            if iterations < PBKDF2_MIN_ITERATIONS:
                raise ValueError("too few pbkdf2 iterations")
            return "pbkdf2_sha256", (iterations,), _unb64(parts[2]), _unb64(parts[3])
        if parts[0] == "hmac_sha256" and len(parts) == 3:
            key, digest = _unb64(parts[1]), _unb64(parts[2])
            if len(key) < 16 or len(digest) != 32:
                raise ValueError("short hmac key or digest")
            return "hmac_sha256", (), key, digest
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid secret hash: {exc}") from None
    raise ValueError("invalid secret hash: use scrypt$n$r$p$salt$hash or pbkdf2_sha256$iterations$salt$hash")


_VERIFIED_KEY = secrets.token_bytes(32)
_VERIFIED: dict[str, bytes] = {}
_VERIFIED_MAX = 4096
"""Secrets this process has already verified, as ``stored hash -> HMAC(process key, secret)``.

A relying party presents the same secret at every token request; paying scrypt (tens of
milliseconds of CPU) each time made client authentication cost more than the whole rest of the
flow. Only a secret that passed the slow check is remembered, under a keyed digest that never
leaves this process; a wrong secret always takes the slow path, so guessing stays as expensive
as before."""


def _fast_digest(secret: str) -> bytes:
    return hmac.new(_VERIFIED_KEY, secret.encode(), hashlib.sha256).digest()


def quick_verify(secret: str, stored: str) -> bool | None:
    """Whether ``secret`` matches ``stored``, if that can be told cheaply; None when only the slow
    hash can tell (see :func:`verify_secret`). True for a fast hash that matches or a secret this
    process verified before; False for a fast hash that does not match or a malformed hash."""
    if stored.startswith("hmac_sha256$"):
        try:
            _kind, _params, key, expected = _parse(stored)
        except ValueError:
            return False
        return hmac.compare_digest(_hmac(key, secret), expected)
    remembered = _VERIFIED.get(stored)
    if remembered is not None and hmac.compare_digest(remembered, _fast_digest(secret)):
        return True
    return None


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches ``stored``. Constant-time comparison; False for a malformed hash.

    A generated secret's fast hash is checked directly; a secret already verified against a slow
    ``stored`` in this process is recognised by a keyed fast digest (see :data:`_VERIFIED`).
    """
    quick = quick_verify(secret, stored)
    if quick is not None:
        return quick
    if not _slow_verify(secret, stored):
        return False
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[stored] = _fast_digest(secret)
    return True


def _slow_verify(secret: str, stored: str) -> bool:
    try:
        kind, params, salt, expected = _parse(stored)
    except ValueError:
        return False
    if kind == "hmac_sha256":
        return hmac.compare_digest(_hmac(salt, secret), expected)
    if kind == "scrypt":
        n, r, p = params
        actual = hashlib.scrypt(
            secret.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=256 * 1024 * 1024
        )
    else:
        actual = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, params[0], dklen=len(expected))
    return hmac.compare_digest(actual, expected)
