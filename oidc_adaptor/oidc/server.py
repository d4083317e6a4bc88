"""Authlib's authorization server, wired to the waiting room.

Authlib does the protocol: request validation, client authentication (``client_secret_basic``,
``client_secret_post``, ``none``), PKCE, nonce and ``prompt`` checks, error formats. This module
supplies the storage hooks and adds what Authlib leaves to the server: S256-only PKCE (required
for public clients), sealed single-use codes with replay revocation, and tokens signed by
:mod:`core.tokens` through the room's ``issue_oidc_tokens`` use case.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import unquote, unquote_plus

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidGrantError, InvalidRequestError, OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN
from authlib.oidc.core import OpenIDCode
from flask import request as flask_request

from core import errors
from core.model import Status
from core.tokens import KeySet, RememberingVerifier, TokenVerifier, published_key

from .clients import Client, ClientRegistry
from .codes import GRANT_MEMORY, SealedCodes

log = logging.getLogger("waitingroom.oidc")


@dataclass(frozen=True)
class Visitor:
    """The resource owner of this provider: an admitted place in line, authenticated at
    ``authenticated_at`` (epoch seconds; the id token's ``auth_time``)."""

    event_id: str
    request_id: str
    authenticated_at: float


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only: ``plain`` or a missing method is refused, and public clients must use it."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        client: Client = grant.request.client
        if not challenge and client.is_public:
            raise InvalidRequestError("A public client must send a PKCE 'code_challenge' (S256).")
        if (challenge or method) and method != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


def repeated_parameter(values: Any) -> str | None:
    """The name of the first parameter sent more than once in ``values`` (a MultiDict), or None.
    Request parameters must not be repeated (RFC 6749 sections 3.1 and 3.2)."""
    for name in values:
        if len(values.getlist(name)) > 1:
            return name
    return None


def _basic_pair(headers: Any) -> tuple[str, str | None] | None:
    """The user-id and password of an HTTP Basic ``Authorization`` header as sent, before
    their form-urlencoding is undone (password None without a colon); None without such a
    header or for one that is not base64, as Authlib's ``extract_basic_authorization`` reads
    it. Raises InvalidClientError (401) for credentials that are not base64 of UTF-8 text:
    Authlib's parser lets that decoding error through, which would be a 500."""
    auth = headers.get("Authorization")
    if not auth or " " not in auth:
        return None
    scheme, token = auth.split(None, 1)
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(token).decode("utf-8")
    except binascii.Error:  # not base64 (wrong padding, say): no Basic credentials
        return None
    except ValueError:  # UnicodeDecodeError, or non-ASCII text that b64decode refuses
        raise InvalidClientError(
            status_code=401, description="The Basic credentials are not base64 of UTF-8 text."
        ) from None
    user, colon, password = text.partition(":")
    return user, password if colon else None


def basic_credentials(headers: Any) -> tuple[str | None, str | None]:
    """The client id and secret of an HTTP Basic ``Authorization`` header, percent-decoded as
    Authlib does ((None, None) without one). Raises InvalidClientError as :func:`_basic_pair`."""
    pair = _basic_pair(headers)
    if pair is None:
        return None, None
    user, password = pair
    return unquote(user), None if password is None else unquote(password)


def basic_secrets(headers: Any) -> tuple[str, ...]:
    """The client secrets an HTTP Basic ``Authorization`` header may carry, most likely first
    (none without a secret). RFC 6749 section 2.3.1 form-urlencodes the secret before Basic
    (openid-client and Spring Security send a space as "+"); many clients encode nothing (curl
    ``-u``, requests), so "+" or "%41" in their secret is meant as sent. Authlib decodes with
    percent-decoding only, which fits neither when the secret holds a space or a "%"."""
    pair = _basic_pair(headers)
    if pair is None or not pair[1]:
        return ()
    sent = pair[1]
    return tuple(dict.fromkeys((unquote_plus(sent), sent)))


def authenticate_client_secret_basic(query_client: Any, request: OAuth2Request) -> Client | None:
    """Authlib's ``client_secret_basic``, checking each secret :func:`basic_secrets` finds."""
    client_id, _secret = basic_credentials(request.headers)
    candidates = basic_secrets(request.headers)
    if not client_id or not candidates:
        return None
    client: Client | None = query_client(client_id)
    if client is None:
        raise InvalidClientError(status_code=401, description="The client does not exist on this server.")
    return client if client.check_client_secret(*candidates) else None


def check_token_request(request: OAuth2Request) -> None:
    """Raise InvalidRequestError for a token request that sends a parameter in the URI, repeats
    one, or uses more than one client authentication method (RFC 6749 sections 2.3, 2.3.1,
    3.2 and 4.1.3): HTTP Basic with a ``client_secret`` or ``client_assertion`` in the body, or
    with a body ``client_id`` naming another client; a ``client_secret`` beside a
    ``client_assertion`` (which this provider does not support, so never silently ignores).

    The token endpoint's URI has no query of its own, so every parameter there is refused:
    Authlib reads some token parameters from the body only and others (``grant_type``,
    ``redirect_uri``, a public client's ``client_id``) from the body and the URI alike, and a
    client secret in a URI is written to every access log on its way."""
    if request.args:
        raise InvalidRequestError("Send the token request's parameters in the request body, not in the URI.")
    name = repeated_parameter(request.payload.data)
    if name is not None:
        raise InvalidRequestError(f"The parameter '{name}' is repeated.")
    form = request.form
    if "client_assertion" in form and ("client_secret" in form or "authorization" in request.headers):
        raise InvalidRequestError("Use one client authentication method per request.")
    if "authorization" not in request.headers:
        return
    basic_id, _secret = basic_credentials(request.headers)
    if "client_secret" in form:
        raise InvalidRequestError("Use one client authentication method per request.")
    if "client_id" in form and form["client_id"] != basic_id:
        raise InvalidRequestError("The client_id of the body and of the Authorization header differ.")


class WaitingRoomOpenIDCode(OpenIDCode):
    """OpenID checks at the authorization endpoint (nonce, prompt). The id token itself is made
    with the access token by :meth:`CodeGrant.generate_token`, so ``process_token`` adds nothing."""

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # nonce is bound to the code and echoed; replay protection is the RP's job

    def process_token(self, grant: Any, response: Any) -> Any:
        return response[1]


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    @property
    def oidc(self) -> Any:
        return self.server.oidc

    def validate_token_request(self) -> None:
        check_token_request(self.request)
        super().validate_token_request()

    def issue_code(self, visitor: Visitor) -> list[tuple[str, str]]:
        """Issue a code to ``visitor`` for this validated request (a sealed code: no store step)
        and return the response parameters: ``code``, and ``state`` if the request had one.
        What Authlib's ``create_authorization_response`` does, without validating the request
        a second time or choosing the response mode (:mod:`.responses` does)."""
        self.request.user = visitor
        code = self.generate_authorization_code()
        self.save_authorization_code(code, self.request)
        params = [("code", code)]
        if self.request.payload.state:
            params.append(("state", self.request.payload.state))
        return params

    def generate_authorization_code(self) -> str:
        """The sealed code of this request for its visitor (``request.user``): it carries its
        own record, bound to the client, the PKCE challenge and the ``redirect_uri``."""
        request = self.request
        visitor: Visitor = request.user
        data = request.payload.data
        return str(self.oidc.codes.issue(
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            code_challenge=data.get("code_challenge") or None,
            event_id=visitor.event_id,
            request_id=visitor.request_id,
            auth_time=int(visitor.authenticated_at),
            scope=request.scope or "",
            nonce=data.get("nonce") or None,
        ))

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        """Nothing to save: the code carries its record (:mod:`.codes`)."""

    def query_authorization_code(self, code: str, client: Client) -> Any:
        """Redeem ``code`` as the authenticated ``client`` with the request's verifier (one
        atomic step). Only the client the code was issued to, with the right verifier, finds
        it: a replay from that client revokes what the code issued; a presentation by anyone
        else is ``invalid_grant`` and changes nothing (RFC 6749 4.1.3, RFC 9700 4.2)."""
        verifier = self.request.form.get("code_verifier")
        if verifier is not None and not CODE_VERIFIER_PATTERN.match(verifier):
            raise InvalidRequestError("Invalid 'code_verifier'.")
        if verifier is None and client.is_public:
            raise InvalidRequestError("A public client must send its PKCE 'code_verifier'.")
        redirect_uri = self.request.payload.redirect_uri
        try:
            redemption = self.oidc.codes.redeem(self.oidc.room(), client.event_id, code, client.client_id, verifier,
                                                redirect_uri, client.token_lifetime)
        except errors.WaitingRoomError as exc:
            raise _refused_grant(exc) from None
        if redemption.replayed is not None:
            self.oidc.revoke_grant(redemption.replayed)
            raise InvalidGrantError("The authorization code was already used; its tokens are revoked.")
        if redemption.code is None and verifier and \
                self.oidc.codes.issued_without_challenge(code, client.client_id, redirect_uri):
            # RFC 9700 section 4.8: a verifier for a code issued without a challenge is refused.
            raise InvalidRequestError("The authorization request had no 'code_challenge'.")
        self.request.redemption = redemption
        return redemption.code

    def delete_authorization_code(self, authorization_code: Any) -> None:
        """Nothing to do: redemption already recorded the code as used, atomically."""

    def authenticate_user(self, authorization_code: Any) -> Visitor:
        return Visitor(authorization_code.event_id, authorization_code.request_id, authorization_code.auth_time)

    def generate_token(self, user: Any = None, scope: Any = None, grant_type: Any = None,
                       expires_in: Any = None, include_refresh_token: bool = True) -> dict[str, Any]:
        code = self.request.authorization_code
        client: Client = self.request.client
        scopes = (code.scope or "").split()
        id_claims: dict[str, Any] = {}
        if client.email_claim:
            id_claims.update(email_claims(code.event_id, user_sub(code.request_id)))
        redemption = self.request.redemption
        try:
            # The session was opened with the code's redemption, in one store step (a replay
            # after it finds that session and revokes it); this signs its tokens.
            issued = self.oidc.room().issue_oidc_tokens(
                code.event_id,
                code.request_id,
                client_id=client.client_id,
                validity=client.token_lifetime,
                nonce=code.nonce,
                scope=code.scope,
                id_claims=id_claims,
                grant=code.key,
                opened=redemption.opened,
                auth_time=code.auth_time,
            )
        except BaseException as exc:
            # No token leaves, so the code is not used up: a retry gets the tokens once, or
            # the same refusal, and is never taken for a replay that revokes the session.
            self.oidc.codes.release(self.oidc.room(), redemption)
            if isinstance(exc, errors.WaitingRoomError):
                raise _refused_grant(exc) from None
            raise
        if issued.access_claims is not None:  # its /userinfo call, if it reaches this worker, skips the check
            self.oidc.access_token_verifier().remember_signed(issued.access_token, issued.access_claims)
        token: dict[str, Any] = {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
        }
        if "openid" in scopes:
            token["id_token"] = issued.id_token
        if code.scope:
            token["scope"] = code.scope
        return token


def _refused_grant(exc: Exception) -> Exception:
    """The token endpoint's answer to a code whose place can have no tokens."""
    if isinstance(exc, errors.GrantRevoked):
        return InvalidGrantError("The authorization code was already used; its tokens are revoked.")
    if isinstance(exc, (errors.NotAdmitted, errors.PositionExpired, errors.SessionEnded, errors.UnknownRequest)):
        return InvalidGrantError(f"The place in line can no longer receive tokens ({exc.code}).")
    return exc  # StoreUnavailable and the like: their own answers (503)


def user_sub(request_id: str) -> str:
    from core.model import ticket_id_for

    return ticket_id_for(request_id)


def email_claims(event_id: str, sub: str) -> dict[str, Any]:
    """A synthetic, unroutable address (RFC 2606 ``.invalid``) for relying parties that insist on
    an email claim (oauth2-proxy). It identifies the place in line, not a person."""
    return {"email": f"{sub}@{event_id}.waitingroom.invalid", "email_verified": True}


class _Payload(FlaskOAuth2Payload):
    """Authlib's Flask payload with the request's values looked up once: Authlib reads them
    some thirty times per request, each time through werkzeug's property of the request."""

    @cached_property
    def data(self) -> Any:
        return self._request.values


class _Request(FlaskOAuth2Request):
    """Authlib's Flask request over the request object itself, with :class:`_Payload`.

    Authlib reads the request's URI only to refuse plain HTTP to another host (RFC 6749
    section 3.1: ``InsecureTransportError``), for which the scheme and host decide: so it gets
    ``scheme://host/path``, not werkzeug's full IRI-decoded ``request.url``, which costs more
    than the rest of this object."""

    def __init__(self, request: Any) -> None:
        OAuth2Request.__init__(self, method=request.method, uri=f"{request.scheme}://{request.host}{request.path}",
                               headers=request.headers)
        self._request = request
        self.payload = _Payload(request)


class WaitingRoomAuthorizationServer(AuthorizationServer):
    """Authlib's Flask authorization server over the client registry and code store."""

    def __init__(self, oidc: OidcProvider) -> None:
        super().__init__()
        self.oidc = oidc
        self.register_grant(CodeGrant, [S256CodeChallenge(required=True), WaitingRoomOpenIDCode(require_nonce=False)])
        self.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)

    def query_client(self, client_id: str) -> Client | None:
        return self.oidc.clients.get(client_id)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        """Authlib's Flask request over the request object itself: Authlib reads the request's
        parameters dozens of times per request, and each read through Flask's context-local
        proxy costs a lookup of its own."""
        return _Request(flask_request._get_current_object())  # type: ignore[attr-defined]

    def create_token_response(self, request: Any = None) -> Any:
        """Authlib's token response, and RFC 6749 ``insecure_transport`` (400) for a request over
        plain HTTP to a host that is not this machine: Authlib raises that error before its own
        error handling starts, which would otherwise answer 500. Behind a TLS proxy this means
        ``[server] trusted_proxies`` does not count that proxy."""
        try:
            return super().create_token_response(request)
        except InsecureTransportError as error:
            return self.handle_error_response(None, error)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Tokens are self-contained JWTs; the session is recorded by the room when they are issued."""


class OidcProvider:
    """Everything the OIDC endpoints of one app share."""

    def __init__(self, services: Any) -> None:
        from .places import Places

        self.services = services
        now = services.clock.now
        self.clients = ClientRegistry(services.settings.clients, services.settings.events, services.store, now)
        self.codes = SealedCodes(services.keys, now, services.settings.server.clock_skew)
        self.places = Places(services.store, now)
        self.server = WaitingRoomAuthorizationServer(self)
        self._verifier: tuple[KeySet, float, RememberingVerifier] | None = None

    def room(self) -> Any:
        return self.services.room

    def revoke_grant(self, grant: Any) -> None:
        """Revoke what a code's first redemption issued: the session ends as abandoned, so
        /userinfo refuses its tokens (it reads the session by its jti).

        The grant is revoked first: a first redemption still issuing is then refused by the
        store, or it finished, and the read below finds the session it opened. If the store
        cannot record the revocation, StoreUnavailable propagates (503: the client retries);
        after that, every step is best effort, so a replay still gets ``invalid_grant``."""
        room = self.room()
        try:
            room.revoke_grant(grant.event_id, grant.key, GRANT_MEMORY)  # a store failure is not swallowed
        except errors.UnknownEvent:
            return
        try:
            ticket = room.ticket(grant.event_id, grant.request_id)
        except errors.WaitingRoomError:
            return
        if ticket.session is None:
            return
        if ticket.status is Status.ISSUED:
            try:
                room.end_session(grant.event_id, grant.request_id, Status.ABANDONED)
            except errors.WaitingRoomError as exc:
                log.info("session already ended when its code was replayed: %s", exc.code)
        log.warning("authorization code replayed; session revoked", extra={"event_id": grant.event_id})

    def access_token_verifier(self) -> RememberingVerifier:
        """A verifier of access tokens against the keys published now. Rebuilt when the key set
        changes (rotation) or a published key reaches its retirement, not on every request.

        It checks a token's signature once per exact token string and knows the tokens this
        worker signed (the token endpoint tells it), so a relying party calling /userinfo again
        and again with one token pays for the RSA and JWT parsing once; the claim rules (expiry
        included) run on every call, and the session is read from the store on every call."""
        keyset = self.services.keys()
        now = self.services.clock.now()
        cached = self._verifier
        if cached is not None and cached[0] is keyset and now < cached[1]:
            return cached[2]
        published = keyset.published(now)
        until = min((k.retire_at for k in published if k.retire_at is not None), default=math.inf)
        jwks = {k.kid: k.public_jwk for k in published}

        def jwk_for(kid: str) -> Mapping[str, Any] | None:
            # A kid not in the key set this verifier was built on: another worker may sign with
            # a key rotated in a moment ago; look at the key set as it is now.
            known = jwks.get(kid)
            if known is not None:
                return known
            key = published_key(self.services.keys, kid, self.services.clock.now())
            return key.public_jwk if key is not None else None

        verifier = RememberingVerifier(TokenVerifier(jwk_for, issuer=self.services.settings.server.issuer,
                                                     audience=None, required_use="access"))
        self._verifier = (keyset, until, verifier)
        return verifier

    def live_session(self, event_id: str, jti: str) -> bool:
        """Whether the session of an access token is still open: issued, not ended (completed,
        abandoned, revoked through a replayed code), not timed out, not forgotten by a reset of
        the event. One store read."""
        try:
            ticket = self.room().session_ticket(event_id, jti)
        except errors.UnknownRequest:
            return False
        session = ticket.session
        return ticket.status is Status.ISSUED and session is not None and session.expires_at > self.services.clock.now()
