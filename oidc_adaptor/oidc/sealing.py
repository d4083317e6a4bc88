"""Sealing keys: AES-256-GCM keys derived from the token signing keys, one per ``kid``.

What the provider hands out and takes back itself (an authorization code carrying its own
record) is sealed rather than stored. Every worker and instance shares the signing key set
(:class:`core.tokens.KeySet`), so each derives the same sealing key from the same signing key:
HKDF-SHA256 (RFC 5869) over the signing key's private key (PKCS #8 DER), with an ``info``
naming the use, so the sealing key reveals nothing of the signing key and serves no other
purpose. A sealed value names the ``kid`` it was sealed under: one sealed just before a
rotation opens as long as that key is published (:meth:`core.tokens.KeySet.published`);
a value naming any other ``kid`` does not open. A ``kid`` this worker does not know yet is
looked for in the key set as it is now (:func:`core.tokens.published_key`): another worker may
seal under a key rotated in a moment ago.

AES-GCM with a 96-bit random nonce per seal (NIST SP 800-38D section 8.2.2): at the rate of a
million seals a second, the birthday bound on nonces is met after far longer than a signing
key lives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core import randomness
from core.tokens import KeySet, SigningKey, published_key

NONCE_BYTES = 12
TAG_BYTES = 16


def derive_sealing_key(key: SigningKey, info: bytes) -> AESGCM:
    """The AES-256-GCM key of ``key`` for the use ``info``: HKDF-SHA256, no salt (RFC 5869
    section 3.1: the input is already a uniformly secret key), 32 bytes."""
    secret = key.private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret))


class SealingKeys:
    """The sealing keys of one use (``info``), derived from a live key set once per ``kid``.

    ``keyset()`` is read on every call (rotation applies at once); the derivation, an HKDF and
    a DER encoding of the RSA key, runs once per kid and process."""

    def __init__(self, keyset: Callable[[], KeySet], clock: Callable[[], float], info: bytes) -> None:
        self._keyset = keyset
        self._clock = clock
        self._info = info
        self._derived: dict[str, AESGCM] = {}
        self._lock = threading.Lock()

    def _aead(self, key: SigningKey) -> AESGCM:
        aead = self._derived.get(key.kid)
        if aead is None:
            with self._lock:
                if len(self._derived) >= 16:  # keys rotate rarely; a long-lived process must not grow this
                    self._derived.clear()
                aead = self._derived[key.kid] = derive_sealing_key(key, self._info)
        return aead

    def seal(self, plaintext: bytes, associated_data: bytes) -> tuple[str, bytes]:
        """Seal ``plaintext`` under the current signing key's sealing key, bound to
        ``associated_data`` (authenticated, not included). Returns the ``kid`` and nonce +
        ciphertext + tag. The kid needs no authenticating: another kid names another key,
        under which the value does not open."""
        key = self._keyset().current(self._clock())
        nonce = randomness.token_bytes(NONCE_BYTES)
        return key.kid, nonce + self._aead(key).encrypt(nonce, plaintext, associated_data)

    def open(self, kid: str, sealed: bytes, associated_data: bytes) -> bytes | None:
        """The plaintext of ``sealed`` (as :meth:`seal` made it) under the key ``kid``, or None
        when no published key has that kid, or the value or ``associated_data`` differ in any
        bit from what was sealed."""
        key = published_key(self._keyset, kid, self._clock())
        if key is None or len(sealed) < NONCE_BYTES + TAG_BYTES:
            return None
        try:
            return self._aead(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
        except InvalidTag:
            return None
