"""Client secrets: a secret verified once is recognised quickly; a wrong one always pays the slow hash."""

from __future__ import annotations

import pytest

from oidc_adaptor.oidc import passwords


def test_a_verified_secret_skips_the_slow_hash_and_a_wrong_one_never_does(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = passwords.hash_secret("right-secret")
    assert passwords.verify_secret("right-secret", stored)
    slow_calls: list[str] = []
    real_slow = passwords._slow_verify

    def counting(secret: str, hashed: str) -> bool:
        slow_calls.append(secret)
        return real_slow(secret, hashed)

    monkeypatch.setattr(passwords, "_slow_verify", counting)
    assert passwords.verify_secret("right-secret", stored)
    assert slow_calls == []
    assert not passwords.verify_secret("wrong-secret", stored)
    assert slow_calls == ["wrong-secret"]
    assert not passwords.verify_secret("right-secret", passwords.hash_secret("other"))
