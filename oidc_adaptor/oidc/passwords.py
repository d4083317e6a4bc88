"""Client secrets are stored only as salted, slow hashes, and compared in constant time.

The format is self-describing so the cost can be raised later without breaking stored hashes:
``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (the default) or ``pbkdf2_sha256$<iterations>$<salt>$<hash>``,
salt and hash base64url without padding. Only the standard library is used.
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
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid secret hash: {exc}") from None
    raise ValueError("invalid secret hash: use scrypt$n$r$p$salt$hash or pbkdf2_sha256$iterations$salt$hash")


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches ``stored``. Constant-time comparison; False for a malformed hash."""
    try:
        kind, params, salt, expected = _parse(stored)
    except ValueError:
        return False
    if kind == "scrypt":
        n, r, p = params
        actual = hashlib.scrypt(
            secret.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=256 * 1024 * 1024
        )
    else:
        actual = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, params[0], dklen=len(expected))
    return hmac.compare_digest(actual, expected)
