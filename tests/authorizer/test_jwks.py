"""The JWKS cache against the JWKS a running waiting room serves: TTL, unknown kid, rotation, floods."""

from __future__ import annotations

import json
import secrets
import threading
from pathlib import Path

import pytest

from authorizer.config import AuthorizerConfig
from authorizer.jwks import JwksCache, JwksError, StaticJwks, usable_keys
from authorizer.verifier import AccessVerifier
from core.tokens import TokenError, TokenVerifier

from . import forge
from .conftest import EVENT, RunningRoom
from .support import FakeMonotonic


def verifier_over(cache: JwksCache, room: RunningRoom) -> TokenVerifier:
    return TokenVerifier(cache, issuer=room.url, audience=EVENT, leeway=5)


def test_the_cache_fetches_once_then_serves_from_memory(waiting_room: RunningRoom) -> None:
    clock = FakeMonotonic()
    cache = JwksCache(waiting_room.jwks_url, ttl=300, min_interval=30, clock=clock)
    verifier = verifier_over(cache, waiting_room)
    for _ in range(5):
        verifier.verify(waiting_room.access_token())
    assert waiting_room.jwks_fetches == 1
    clock.advance(299)
    verifier.verify(waiting_room.access_token())
    assert waiting_room.jwks_fetches == 1
    clock.advance(1)  # TTL over: the next use refreshes
    verifier.verify(waiting_room.access_token())
    assert waiting_room.jwks_fetches == 2


def test_a_flood_of_unknown_kids_fetches_at_most_once_per_interval(waiting_room: RunningRoom) -> None:
    clock = FakeMonotonic()
    cache = JwksCache(waiting_room.jwks_url, ttl=300, min_interval=30, clock=clock)
    verifier = verifier_over(cache, waiting_room)
    genuine = waiting_room.access_token()
    verifier.verify(genuine)
    assert waiting_room.jwks_fetches == 1

    def flood(results: list[str]) -> None:
        for _ in range(50):
            try:
                verifier.verify(forge.random_kid(genuine, secrets.token_urlsafe(32)))
            except TokenError as exc:
                results.append(exc.reason)

    def storm() -> list[str]:
        results: list[str] = []
        threads = [threading.Thread(target=flood, args=(results,)) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    # Inside the interval of the last fetch: 800 bad kids, not one request to the waiting room.
    results = storm()
    assert results == ["unknown kid"] * 800
    assert waiting_room.jwks_fetches == 1

    # The interval passes: the next storm may fetch, exactly once, however many threads miss at once.
    clock.advance(30)
    assert storm() == ["unknown kid"] * 800
    assert waiting_room.jwks_fetches == 2
    assert storm() == ["unknown kid"] * 800
    assert waiting_room.jwks_fetches == 2
    assert cache.fetches == 2

    # Genuine tokens were served from the cache throughout.
    verifier.verify(genuine)
    assert waiting_room.jwks_fetches == 2


def test_rotation_new_key_after_one_refetch_old_tokens_until_they_expire(waiting_room: RunningRoom) -> None:
    clock = FakeMonotonic()
    cache = JwksCache(waiting_room.jwks_url, ttl=300, min_interval=30, clock=clock)
    verifier = verifier_over(cache, waiting_room)
    old_token = waiting_room.access_token()
    old_kid = forge.parts(old_token)[0]["kid"]
    verifier.verify(old_token)
    assert waiting_room.jwks_fetches == 1

    # The operator rotates: a new key signs from now on; the old one stays published for an hour.
    now = waiting_room.clock.now()
    waiting_room.keys.keyset = waiting_room.keys.keyset.rotated(now, activate_after=0, keep_old_for=3600)
    new_token = waiting_room.access_token()
    new_kid = forge.parts(new_token)[0]["kid"]
    assert new_kid != old_kid

    clock.advance(30)  # past the refetch interval of the first fetch
    assert verifier.verify(new_token)["sub"]  # unknown kid -> one refetch -> known
    assert waiting_room.jwks_fetches == 2
    assert verifier.verify(old_token)["sub"]  # old tokens still pass
    for _ in range(3):
        verifier.verify(waiting_room.access_token())
    assert waiting_room.jwks_fetches == 2  # no more fetches for the new key

    # An hour later the old key leaves the JWKS (its tokens, valid an hour, have expired by then);
    # once the cache refreshes, anything still signed with it is refused.
    waiting_room.clock.offset = 3601 + 60
    clock.advance(300)
    with pytest.raises(TokenError, match="unknown kid"):
        verifier.verify(old_token)
    waiting_room.clock.offset = 0
    assert verifier.verify(waiting_room.access_token())["sub"]


def test_rotation_published_ahead_needs_no_extra_fetch(waiting_room: RunningRoom) -> None:
    """``keys rotate`` publishes the new key before it signs; a cache refreshed in between knows it."""
    clock = FakeMonotonic()
    cache = JwksCache(waiting_room.jwks_url, ttl=60, min_interval=30, clock=clock)
    verifier = verifier_over(cache, waiting_room)
    verifier.verify(waiting_room.access_token())
    now = waiting_room.clock.now()
    waiting_room.keys.keyset = waiting_room.keys.keyset.rotated(now, activate_after=120, keep_old_for=3600)
    clock.advance(60)
    verifier.verify(waiting_room.access_token())  # TTL refresh: picks up the published, not yet active, key
    assert waiting_room.jwks_fetches == 2
    waiting_room.clock.offset = 121  # the new key starts signing
    new_token = waiting_room.access_token()
    waiting_room.clock.offset = 0
    # The token's iat is two minutes ahead of the real clock: accept it with enough leeway.
    lenient = TokenVerifier(cache, issuer=waiting_room.url, audience=EVENT, leeway=180)
    assert lenient.verify(new_token)["sub"]
    assert waiting_room.jwks_fetches == 2


def test_seeded_keys_serve_without_a_fetch_until_a_rotation(waiting_room: RunningRoom) -> None:
    """The CloudFront gate bundles the JWKS of its build time: no fetch until a token names a new kid."""
    clock = FakeMonotonic()
    seed = waiting_room.app.extensions["waitingroom"].signer.jwks()
    cache = JwksCache(waiting_room.jwks_url, ttl=3600, min_interval=30, clock=clock, seed=seed)
    verifier = verifier_over(cache, waiting_room)
    for _ in range(3):
        verifier.verify(waiting_room.access_token())
    assert waiting_room.jwks_fetches == 0
    now = waiting_room.clock.now()
    waiting_room.keys.keyset = waiting_room.keys.keyset.rotated(now, activate_after=0, keep_old_for=3600)
    verifier.verify(waiting_room.access_token())  # signed with the new key: one fetch learns it
    assert waiting_room.jwks_fetches == 1


def test_a_failed_refresh_keeps_the_cached_keys(waiting_room: RunningRoom) -> None:
    clock = FakeMonotonic()
    cache = JwksCache(waiting_room.jwks_url, ttl=60, min_interval=10, timeout=1, clock=clock)
    verifier = verifier_over(cache, waiting_room)
    token = waiting_room.access_token()
    verifier.verify(token)
    cache.url = "http://127.0.0.1:9/.well-known/jwks.json"  # the waiting room becomes unreachable
    clock.advance(61)
    assert verifier.verify(token)["sub"]
    assert cache.fetches == 2
    assert verifier.verify(token)["sub"]
    assert cache.fetches == 2  # and the failing source is not retried before the interval


def test_the_cache_refuses_non_http_urls() -> None:
    cache = JwksCache("file:///etc/passwd", ttl=60, min_interval=0)
    assert cache("anything") is None


def test_only_rs256_signing_keys_are_kept(waiting_room: RunningRoom) -> None:
    genuine = waiting_room.app.extensions["waitingroom"].signer.jwks()["keys"][0]
    document = {"keys": [
        genuine,
        {**genuine, "kid": "enc", "use": "enc"},
        {**genuine, "kid": "ps", "alg": "PS256"},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "a", "y": "b"},
        "not a key",
    ]}
    assert list(usable_keys(document)) == [genuine["kid"]]
    with pytest.raises(JwksError):
        usable_keys({"keys": "nope"})


def test_static_jwks_from_text_and_file(waiting_room: RunningRoom, tmp_path: Path) -> None:
    document = waiting_room.app.extensions["waitingroom"].signer.jwks()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(document))
    token = waiting_room.access_token()
    for setting in (json.dumps(document), str(path)):
        config = AuthorizerConfig.from_env(
            {"WAITINGROOM_ISSUER": waiting_room.url, "WAITINGROOM_EVENT_ID": EVENT, "WAITINGROOM_JWKS": setting}
        )
        assert AccessVerifier.from_config(config).verify(token)["event_id"] == EVENT
    assert waiting_room.jwks_fetches == 0  # air-gapped: the waiting room was never asked
    with pytest.raises(JwksError):
        StaticJwks.from_setting(str(tmp_path / "missing.json"))
    with pytest.raises(JwksError):
        StaticJwks.from_setting('{"keys": []}')
