"""Relying parties (OAuth clients): from the configuration file and from the admin API.

Configured clients are read once per app; their plain ``secret`` is hashed at load and then
forgotten. Clients registered through the admin API live in the shared store (so every worker
sees them) with only the secret hash. Redirect URIs match exactly; plain ``http`` is allowed only
for loopback hosts unless a client sets ``allow_insecure_http``.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin

from core.model import EventSettings
from core.settings import ClientSettings, SettingsError
from oidc_adaptor.plumbing import failed_auth

from .passwords import generate_secret, hash_secret, is_fast_hash, is_valid_hash, quick_verify, verify_secret

CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.~-]{0,127}$")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
AUTH_METHODS = (*SECRET_METHODS, "none")
SCOPES = ("openid", "email")
"""Scopes this provider grants: ``openid``, and ``email`` to a client with ``email_claim`` (the
only one given the synthetic ``email`` claims). Discovery advertises exactly these."""
CLAIMS = (
    "iss", "sub", "aud", "azp", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "at_hash",
    "token_use", "event_id", "queue_position", "email", "email_verified",
)
"""Claims of the id token and /userinfo, every one of them (discovery's ``claims_supported``);
``email`` and ``email_verified`` for ``email_claim`` clients only."""
MAX_TOKEN_LIFETIME = 7 * 24 * 3600
CLIENT_NAMESPACE = "oidc-client"
INDEX_NAMESPACE = "oidc-client-index"
RECORD_TTL = 10 * 365 * 24 * 3600.0  # registered clients do not expire; the store wants a TTL


class ClientError(ValueError):
    """A client definition is invalid; the message says which field and why."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: str, allow_insecure_http: bool) -> None:
    """Raise ClientError unless ``uri`` is an acceptable registered redirect URI."""
    if not isinstance(uri, str) or not uri:
        raise ClientError("redirect URIs must be non-empty strings")
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(f"redirect URI {uri!r} must be an absolute http(s) URL")
    if parts.fragment or "#" in uri:
        raise ClientError(f"redirect URI {uri!r} must not contain a fragment")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise ClientError(
            f"redirect URI {uri!r} uses plain http on a non-loopback host; use https or set allow_insecure_http"
        )


@dataclass(frozen=True)
class Client(ClientMixin):
    """One relying party, as the authorization server sees it. Never holds a plain secret."""

    client_id: str
    event_id: str
    redirect_uris: tuple[str, ...]
    secret_hash: str | None = None
    auth_methods: tuple[str, ...] = ("none",)
    token_lifetime: int = 3600
    allow_insecure_http: bool = False
    email_claim: bool = False
    name: str = ""
    source: str = "config"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None

    # -- Authlib ClientMixin ---------------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes this client is granted; the others (``profile``, ``email`` for a
        client without ``email_claim``, unknown ones) are left out, not refused (RFC 6749
        section 3.3), and the token response names what was granted."""
        granted = SCOPES if self.email_claim else ("openid",)
        requested = (scope or "").split()
        return " ".join(s for s in dict.fromkeys(requested) if s in granted)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str, *alternatives: str) -> bool:
        """Whether ``client_secret``, or one of ``alternatives`` (other readings of the same
        credential: :func:`oidc_adaptor.oidc.server.basic_secrets`), is this client's. A secret
        checked cheaply (generated, or verified before in this worker) is always answered; the
        slow hash of a chosen secret is not computed for an address blocked for failing too
        often, for this client or any (:mod:`oidc_adaptor.plumbing.failed_auth`). A failure is
        counted once, whatever the number of readings."""
        if self.secret_hash is None:
            return False
        candidates = (client_secret, *alternatives)
        quick = [quick_verify(candidate, self.secret_hash) for candidate in candidates]
        if True in quick:
            return True
        throttle, now, address = failed_auth.throttle(), failed_auth.now(), failed_auth.address()
        # a client id is public: once a client has failed too often, what is refused is each
        # address that fails for it, so wrong secrets from others never lock its own party out
        pair = ("client-pair", f"{self.client_id}\n{address}")
        slow = [candidate for candidate, ok in zip(candidates, quick, strict=True) if ok is None]
        if slow and throttle.retry_after(now, pair, ("client-address", address)):
            return False
        if any(verify_secret(candidate, self.secret_hash) for candidate in slow):
            return True
        throttle.failed(now, ("client", self.client_id), ("client-address", address), block={"client": pair})
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in self.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"

    # -- serialisation ---------------------------------------------------------------------------

    def public_view(self) -> dict[str, Any]:
        """What the admin API shows: everything except the secret hash."""
        return {
            "client_id": self.client_id,
            "event": self.event_id,
            "name": self.name,
            "redirect_uris": list(self.redirect_uris),
            "public": self.is_public,
            "auth_methods": list(self.auth_methods),
            "token_lifetime": self.token_lifetime,
            "allow_insecure_http": self.allow_insecure_http,
            "email_claim": self.email_claim,
            "source": self.source,
        }

    def to_record(self) -> str:
        data = asdict(self)
        data.pop("extra", None)
        return json.dumps(data)

    @classmethod
    def from_record(cls, text: str) -> Client:
        data = json.loads(text)
        data["redirect_uris"] = tuple(data["redirect_uris"])
        data["auth_methods"] = tuple(data["auth_methods"])
        data.pop("extra", None)
        return cls(**data)


def build_client(
    *,
    client_id: str,
    event_id: str,
    redirect_uris: Any,
    events: Mapping[str, EventSettings],
    secret: str | None = None,
    secret_hash: str | None = None,
    generated_hash: str | None = None,
    auth_methods: Any = None,
    token_lifetime: Any = 3600,
    allow_insecure_http: Any = False,
    email_claim: Any = False,
    name: Any = "",
    source: str,
) -> Client:
    """Validate one client definition (from either source) and hash its secret.

    ``secret`` and ``secret_hash`` are a secret a person chose (hashed slowly); ``generated_hash``
    is the fast hash of a secret this server generated (:func:`passwords.generate_secret`)."""
    if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.match(client_id):
        raise ClientError("client_id must be 1-128 letters, digits, '-', '_', '.' or '~'")
    if event_id not in events:
        raise ClientError(f"event {event_id!r} is not defined")
    if not isinstance(allow_insecure_http, bool) or not isinstance(email_claim, bool):
        raise ClientError("allow_insecure_http and email_claim must be true or false")
    if not isinstance(redirect_uris, (list, tuple)) or not redirect_uris:
        raise ClientError("redirect_uris must be a non-empty list of URLs")
    for uri in redirect_uris:
        check_redirect_uri(uri, allow_insecure_http)
    if secret is not None and secret_hash is not None:
        raise ClientError("give either secret or secret_hash, not both")
    if secret is not None:
        if not isinstance(secret, str) or len(secret) < 16:
            raise ClientError("secret must be at least 16 characters")
        secret_hash = hash_secret(secret)
    elif secret_hash is not None and (
        not isinstance(secret_hash, str) or not is_valid_hash(secret_hash) or is_fast_hash(secret_hash)
    ):
        raise ClientError("secret_hash is not a valid scrypt or pbkdf2_sha256 hash")
    if generated_hash is not None:
        if secret_hash is not None:
            raise ClientError("a generated secret cannot have a secret or secret_hash too")
        secret_hash = generated_hash
    public = secret_hash is None
    if auth_methods is None or auth_methods == [] or auth_methods == ():
        auth_methods = ("none",) if public else SECRET_METHODS
    if not isinstance(auth_methods, (list, tuple)) or not all(m in AUTH_METHODS for m in auth_methods):
        raise ClientError(f"auth_methods must be a list drawn from {', '.join(AUTH_METHODS)}")
    if public and set(auth_methods) != {"none"}:
        raise ClientError("a public client (no secret) can only use auth method 'none' (with PKCE)")
    if not public and "none" in auth_methods:
        raise ClientError("a confidential client cannot use auth method 'none'")
    if isinstance(token_lifetime, bool) or not isinstance(token_lifetime, int):
        raise ClientError("token_lifetime must be a whole number of seconds")
    if not 0 < token_lifetime <= MAX_TOKEN_LIFETIME:
        raise ClientError(f"token_lifetime must be between 1 and {MAX_TOKEN_LIFETIME} seconds")
    return Client(
        client_id=client_id,
        event_id=event_id,
        redirect_uris=tuple(redirect_uris),
        secret_hash=secret_hash,
        auth_methods=tuple(auth_methods),
        token_lifetime=token_lifetime,
        allow_insecure_http=allow_insecure_http,
        email_claim=email_claim,
        name=str(name or ""),
        source=source,
    )


def client_from_settings(settings: ClientSettings, events: Mapping[str, EventSettings]) -> Client:
    try:
        return build_client(
            client_id=settings.client_id,
            event_id=settings.event_id,
            redirect_uris=list(settings.redirect_uris),
            events=events,
            secret=settings.secret,
            secret_hash=settings.secret_hash,
            auth_methods=list(settings.auth_methods) or None,
            token_lifetime=settings.token_lifetime,
            allow_insecure_http=settings.allow_insecure_http,
            email_claim=settings.email_claim,
            name=settings.name,
            source="config",
        )
    except ClientError as exc:
        raise SettingsError(f"[clients.{settings.client_id}] {exc}") from None


class ClientRegistry:
    """Looks clients up by id: configured ones first, then those registered in the store.

    Registration and deletion are admin actions; the index that lists registered clients is a
    read-modify-write of one record, so two admins registering at the same instant may need to
    list again (the clients themselves are never lost).
    """

    def __init__(
        self,
        configured: Mapping[str, ClientSettings],
        events: Mapping[str, EventSettings],
        store: Any,
        now: Any,
    ) -> None:
        self.events = events
        self.store = store
        self._now = now
        self.configured = {cid: client_from_settings(c, events) for cid, c in configured.items()}

    def get(self, client_id: str | None) -> Client | None:
        if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.match(client_id):
            return None
        if client_id in self.configured:
            return self.configured[client_id]
        record = self.store.get(CLIENT_NAMESPACE, client_id, self._now())
        return None if record is None else Client.from_record(record)

    def _index(self) -> list[str]:
        raw = self.store.get(INDEX_NAMESPACE, "ids", self._now())
        return list(json.loads(raw)) if raw else []

    def _save_index(self, ids: list[str]) -> None:
        self.store.put(INDEX_NAMESPACE, "ids", json.dumps(sorted(set(ids))), RECORD_TTL, self._now())

    def all(self) -> list[Client]:
        found = list(self.configured.values())
        for cid in self._index():
            client = self.get(cid)
            if client is not None and client.source == "api":
                found.append(client)
        return found

    def register(self, data: Mapping[str, Any]) -> tuple[Client, str | None]:
        """Register a client from an admin request. Returns the client and, for a confidential
        client, its secret in clear (shown once; only its hash is stored)."""
        allowed = {
            "client_id", "event", "redirect_uris", "public", "secret", "secret_hash", "auth_methods",
            "token_lifetime", "allow_insecure_http", "email_claim", "name",
        }
        unknown = set(data) - allowed
        if unknown:
            raise ClientError(f"unknown field(s): {', '.join(sorted(unknown))}")
        client_id = data.get("client_id") or "c_" + secrets.token_urlsafe(12)
        if not isinstance(client_id, str):
            raise ClientError("client_id must be a string")
        if client_id in self.configured or self.get(client_id) is not None:
            raise ClientError(f"client {client_id!r} already exists")
        public = data.get("public", False)
        if not isinstance(public, bool):
            raise ClientError("public must be true or false")
        secret = data.get("secret")
        secret_hash = data.get("secret_hash")
        if public and (secret is not None or secret_hash is not None):
            raise ClientError("a public client has no secret")
        generated_hash = None
        if not public and secret is None and secret_hash is None:
            secret, generated_hash = generate_secret()
        client = build_client(
            client_id=client_id,
            event_id=data.get("event", ""),
            redirect_uris=data.get("redirect_uris"),
            events=self.events,
            secret=None if generated_hash else secret,
            secret_hash=secret_hash,
            generated_hash=generated_hash,
            auth_methods=data.get("auth_methods"),
            token_lifetime=data.get("token_lifetime", 3600),
            allow_insecure_http=data.get("allow_insecure_http", False),
            email_claim=data.get("email_claim", False),
            name=data.get("name", ""),
            source="api",
        )
        self.store.put(CLIENT_NAMESPACE, client_id, client.to_record(), RECORD_TTL, self._now())
        self._save_index([*self._index(), client_id])
        return client, secret

    def delete(self, client_id: str) -> bool:
        """Remove a registered client. Configured clients cannot be deleted here (ClientError)."""
        if client_id in self.configured:
            raise ClientError("this client comes from the configuration file; remove it there")
        client = self.get(client_id)
        if client is None:
            return False
        self.store.delete(CLIENT_NAMESPACE, client_id)
        self._save_index([cid for cid in self._index() if cid != client_id])
        return True
