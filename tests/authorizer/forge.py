"""Hand-made bad tokens: each one differs from a genuine waiting-room token in exactly one way."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt

from core.tokens import SigningKey, session_claims

from .conftest import EVENT, RunningRoom


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), signature


def compact(header: dict[str, Any], payload: dict[str, Any], signature: bytes | str) -> str:
    sig = signature if isinstance(signature, str) else b64(signature)
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{sig}"


def claims_for(room: RunningRoom, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = dict(
        issuer=room.url, audience=EVENT, subject="t_forged", event_id=EVENT, queue_position=1,
        jti="forged-jti", issued_at=now, expires_at=now + 600, token_use="access",
    )
    values.update(changes)
    return session_claims(**values)


def signed_by_room(room: RunningRoom, **changes: Any) -> str:
    """Claims of our choosing signed with the waiting room's real current key (valid signature)."""
    return room.app.extensions["waitingroom"].signer.sign(claims_for(room, **changes))


def tampered(token: str) -> str:
    """The genuine signature over a payload with one claim changed (a better place in line)."""
    header, payload, signature = parts(token)
    payload["queue_position"] = 0
    return compact(header, payload, signature)


def alg_none(token: str) -> str:
    header, payload, _ = parts(token)
    return compact({**header, "alg": "none"}, payload, "")


def hs256_with_public_key(token: str, public_pem: str) -> str:
    """The classic key-confusion forgery: HMAC-SHA256 keyed with the published RSA public key."""
    header, payload, _ = parts(token)
    header = {**header, "alg": "HS256"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}".encode()
    signature = hmac.new(public_pem.encode(), signing_input, hashlib.sha256).digest()
    return compact(header, payload, signature)


def unknown_key(room: RunningRoom, kid: str | None = None) -> str:
    """Well-formed, RS256, right claims, signed by a key the waiting room never published."""
    stranger = SigningKey.generate(time.time())
    return jwt.encode(claims_for(room), stranger.private_key, algorithm="RS256",
                      headers={"kid": kid or stranger.kid, "typ": "JWT"})


def random_kid(token: str, kid: str) -> str:
    """A genuine token whose header names another kid (cheap: no key generation)."""
    header, payload, signature = parts(token)
    return compact({**header, "kid": kid}, payload, signature)
