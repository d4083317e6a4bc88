"""Put the waiting room in front of a CloudFront site: a Lambda@Edge viewer-request gate.

The function is an OpenID Connect relying party of the waiting room (a public client:
authorization code flow with PKCE S256, ``state`` and ``nonce``), in the shape of
aws-samples' cloudfront-authorization-at-edge:

- a viewer request with a valid access token in the gate's cookie (RS256 against the waiting
  room's keys, ``iss``, ``aud`` = the event, ``exp``/``nbf`` with leeway, ``token_use`` access:
  :mod:`core.token_rules`) goes on to the origin, without the gate's cookies;
- a request without one is answered at the edge with ``302`` to the waiting room's
  ``/authorize``; the PKCE verifier, state, nonce and the requested path ride in a signed
  sign-in cookie (:mod:`authorizer.edge_login`);
- the callback path checks ``state`` and ``iss`` (RFC 9207), redeems the code at ``/token``,
  verifies the id token (``aud`` = the client, ``nonce``, ``at_hash``, the event) and the access
  token, sets the cookie (``Secure; HttpOnly; SameSite=Lax``, ``Max-Age`` = the token's remaining
  lifetime) and sends the visitor back where they were going;
- paths under ``unprotected_paths`` pass untouched.

Every failure is a small HTML page with a "Try again" link; nothing raises out of the handler.

Lambda@Edge has no environment variables: :func:`handler` reads the configuration bundled beside
this module (:meth:`authorizer.edge_config.EdgeConfig.bundled`) on its first call, and keeps one
:class:`EdgeGate` per container. Event and response shapes: "Lambda@Edge event structure" and
"Generating HTTP responses in request triggers" in the Amazon CloudFront Developer Guide.
Standard library plus ``rsa`` only, so the bundle runs on a bare Python.
"""

from __future__ import annotations

import dataclasses
import hmac
import html
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from core.token_rules import TokenError, at_hash

from .cookies import cookie_values, without_cookies
from .edge_config import EdgeConfig, EdgeConfigError
from .edge_login import Login, safe_return_path
from .edge_verifier import RsaTokenVerifier
from .http import FetchError, http_post_form
from .jwks import JwksCache

log = logging.getLogger("waitingroom.edge")

MAX_TOKEN_RESPONSE_BYTES = 64 * 1024
MAX_SAME_NAME_COOKIES = 4
"""Cookies of one name checked per request: enough for stale and parent-domain copies, while
bounding the signature checks a request can cost."""
CloudFrontRequest = dict[str, Any]
CloudFrontResponse = dict[str, Any]


class SignInFailed(Exception):
    """The callback cannot complete the sign-in; ``message`` is shown to the visitor, ``status`` sent.
    ``spent``: the sign-in is over (its code went to the token endpoint, or there is none), so its
    cookie is cleared; a response that never reached that point leaves the sign-in under way alone."""

    def __init__(self, message: str, status: int = 400, *, spent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.spent = spent


class EdgeGate:
    """The gate for one configuration. Build once per container; :meth:`handle` per viewer request."""

    def __init__(self, config: EdgeConfig, *, clock: Callable[[], float] = time.time) -> None:
        if not config.state_secret:
            raise EdgeConfigError("state_secret is required at run time (the bundle command generates one)")
        self.config = config
        self.clock = clock
        self.jwks = JwksCache(config.jwks_uri, ttl=config.jwks_ttl, min_interval=config.jwks_min_interval,
                              timeout=config.http_timeout, seed=config.keys)
        common: dict[str, Any] = {"issuer": config.issuer, "leeway": config.leeway, "clock": clock}
        self.access_tokens = RsaTokenVerifier(self.jwks, audience=config.event_id, required_use="access", **common)
        self.id_tokens = RsaTokenVerifier(self.jwks, audience=config.client_id, required_use="id", **common)
        self.login_cookie = f"{config.cookie_name}_login"
        self.secure = not (config.site_origin or "").startswith("http://")

    def handle_event(self, event: dict[str, Any]) -> CloudFrontRequest | CloudFrontResponse:
        """Answer a viewer-request event: the request to forward, or a response to send."""
        return self.handle(event["Records"][0]["cf"]["request"])

    def handle(self, request: CloudFrontRequest) -> CloudFrontRequest | CloudFrontResponse:
        uri = request.get("uri") or "/"
        if uri == self.config.callback_path:
            return self.callback(request)
        if is_unprotected(uri, self.config.unprotected_paths):
            return request
        cookies = header_values(request, "cookie")
        if self._valid_token(cookies):
            return self._forward(request, cookies)
        return self.sign_in(request, cookies)

    def _valid_token(self, cookies: list[str]) -> bool:
        for token in cookie_values(cookies, self.config.cookie_name, MAX_SAME_NAME_COOKIES):
            try:
                self.access_tokens.verify(token)
            except TokenError as exc:
                log.info("token refused: %s", exc.reason)
                continue
            return True
        return False

    def _login(self, cookies: list[str], now: float) -> Login | None:
        """The sign-in under way: the first of the sign-in cookies that is genuine and current."""
        for value in cookie_values(cookies, self.login_cookie, MAX_SAME_NAME_COOKIES):
            login = Login.unseal(value, self.config.state_secret, now)
            if login is not None:
                return login
        return None

    # -- no valid token: off to the waiting room ---------------------------------------------

    def sign_in(self, request: CloudFrontRequest, cookies: list[str]) -> CloudFrontResponse:
        now = self.clock()
        query = request.get("querystring") or ""
        return_to = safe_return_path((request.get("uri") or "/") + (f"?{query}" if query else ""))
        login = self._login(cookies, now)
        if login is None:
            login = Login.start(return_to, self.config.login_ttl, now)
        else:
            # A sign-in already under way (another tab, a background request) keeps its state, so
            # whichever callback arrives first still matches the cookie.
            login = dataclasses.replace(login, return_to=return_to)
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": self.redirect_uri(request),
            "scope": self.config.scope,
            "state": login.state,
            "nonce": login.nonce,
            "code_challenge": login.code_challenge,
            "code_challenge_method": "S256",
        }
        location = self.config.authorization_endpoint + "?" + urllib.parse.urlencode(params)
        cookie = self._cookie(self.login_cookie, login.seal(self.config.state_secret), login.expires_at - int(now))
        return response(302, location=location, cookies=[cookie])

    def redirect_uri(self, request: CloudFrontRequest) -> str:
        origin = self.config.site_origin
        if origin is None:
            hosts = header_values(request, "host")
            origin = "https://" + (hosts[0] if hosts else "")
        return origin.rstrip("/") + self.config.callback_path

    # -- the callback ---------------------------------------------------------------------------

    def callback(self, request: CloudFrontRequest) -> CloudFrontResponse:
        now = self.clock()
        cookies = header_values(request, "cookie")
        login = self._login(cookies, now)
        clear = self._cookie(self.login_cookie, "", 0)
        if login is None and self._valid_token(cookies):
            return response(302, location="/")  # signed in already (the back button): nothing to redo
        try:
            if login is None:
                raise SignInFailed("This sign-in has expired or was already completed.")
            access_token, lifetime = self._complete(request, login, now)
        except SignInFailed as failed:
            log.info("sign-in failed: %s", failed.message)
            return error_page(failed.status, failed.message, login.return_to if login else "/",
                              [clear] if failed.spent else [])
        token_cookie = self._cookie(self.config.cookie_name, access_token, lifetime)
        return response(302, location=login.return_to, cookies=[token_cookie, clear])

    def _complete(self, request: CloudFrontRequest, login: Login, now: float) -> tuple[str, int]:
        """Check the authorization response, redeem the code; the access token and its lifetime."""
        # Until the code goes to the token endpoint, anyone's link can bring a visitor here: a
        # failure leaves the sign-in under way (spent=False), so a forged link cannot cancel it.
        params = urllib.parse.parse_qs(request.get("querystring") or "", keep_blank_values=True)
        if any(len(v) != 1 for v in params.values()):
            raise SignInFailed("This sign-in response repeats a parameter.", spent=False)
        values = {k: v[0] for k, v in params.items()}
        if "error" in values:
            raise SignInFailed(f"The waiting room did not complete this sign-in ({values['error'][:64]}).",
                               spent=False)
        if values.get("iss") != self.config.issuer:  # RFC 9207: the response comes from our issuer
            raise SignInFailed("This sign-in response does not come from the waiting room.", spent=False)
        if not hmac.compare_digest(values.get("state", "").encode(), login.state.encode()):
            raise SignInFailed("This sign-in response does not belong to this browser's sign-in.", spent=False)
        code = values.get("code")
        if not code:
            raise SignInFailed("This sign-in response carries no authorization code.", spent=False)
        tokens = self._redeem(code, login, request)
        try:
            id_claims = self.id_tokens.verify(tokens["id_token"])
            access_claims = self.access_tokens.verify(tokens["access_token"])
        except TokenError as exc:
            log.warning("token response refused: %s", exc.reason)
            raise SignInFailed("The waiting room's tokens did not pass the checks.", 502) from None
        if not hmac.compare_digest(str(id_claims.get("nonce", "")).encode(), login.nonce.encode()):
            raise SignInFailed("The id token was not issued for this sign-in (nonce).", 502)
        if id_claims.get("event_id") != self.config.event_id or id_claims.get("sub") != access_claims.get("sub"):
            raise SignInFailed("The waiting room's tokens are for another event.", 502)
        if id_claims.get("at_hash") != at_hash(tokens["access_token"]):
            raise SignInFailed("The id token does not match the access token (at_hash).", 502)
        return tokens["access_token"], max(0, int(access_claims["exp"] - now))

    def _redeem(self, code: str, login: Login, request: CloudFrontRequest) -> dict[str, str]:
        """POST the code to the token endpoint (RFC 6749 section 4.1.3, RFC 7636 section 4.5)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri(request),
            "client_id": self.config.client_id,
            "code_verifier": login.code_verifier,
        }
        try:
            status, body = http_post_form(self.config.token_endpoint, form, self.config.http_timeout,
                                          MAX_TOKEN_RESPONSE_BYTES)
        except FetchError as exc:
            log.warning("token request failed: %s", exc)
            raise SignInFailed("The waiting room could not be reached. Please try again.", 502) from None
        try:
            answer = json.loads(body) if len(body) <= MAX_TOKEN_RESPONSE_BYTES else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise SignInFailed("The waiting room's answer could not be read.", 502)
        if status != 200:
            log.info("token request refused: HTTP %d %s", status, str(answer.get("error"))[:64])
            raise SignInFailed("This sign-in could not be completed (it may have been used already).")
        if not all(isinstance(answer.get(k), str) and answer[k] for k in ("id_token", "access_token")):
            raise SignInFailed("The waiting room's answer holds no tokens.", 502)
        return {"id_token": answer["id_token"], "access_token": answer["access_token"]}

    # -- helpers ---------------------------------------------------------------------------------

    def _forward(self, request: CloudFrontRequest, cookies: list[str]) -> CloudFrontRequest:
        """The request as the origin should see it: the gate's cookies removed (the token is the
        visitor's credential for the site, not the origin's business)."""
        headers = request.setdefault("headers", {})
        rest = without_cookies(cookies, (self.config.cookie_name, self.login_cookie))
        if rest:
            headers["cookie"] = [{"key": "Cookie", "value": rest}]
        else:
            headers.pop("cookie", None)
        return request

    def _cookie(self, name: str, value: str, max_age: int) -> str:
        return (f"{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
                + ("; Secure" if self.secure else ""))


def is_unprotected(uri: str, prefixes: Sequence[str]) -> bool:
    """Whether ``uri`` lies under one of the ``unprotected_paths`` and nowhere else.

    CloudFront hands Lambda@Edge the URI as the viewer sent it and forwards it so: it resolves dot
    segments only to choose the cache behavior. Many origins (nginx, Express, Tomcat) decode
    ``%2e``/``%2f``/``%5c`` and resolve ``..`` themselves, so ``/healthz/../admin`` or
    ``/healthz/%2e%2e/admin`` would reach ``/admin`` past the gate. A path with a dot segment
    (encoded or not, with or without a ``;`` parameter) or a backslash is therefore gated whatever
    its prefix; a visitor with a token still gets through.
    """
    decoded = uri
    for _ in range(3):  # double encoding (%252e) too: some origins decode twice
        decoded, before = urllib.parse.unquote(decoded), decoded
        if decoded == before:
            break
    if "\\" in decoded or any(segment.partition(";")[0] in (".", "..") for segment in decoded.split("/")):
        return False
    return any(uri == p or uri.startswith(p.rstrip("/") + "/") for p in prefixes)


def header_values(request: CloudFrontRequest, name: str) -> list[str]:
    """Every value of header ``name`` (lower case) of a CloudFront request: ``headers`` maps lower-case
    names to lists of ``{"key": ..., "value": ...}``."""
    entries = (request.get("headers") or {}).get(name) or []
    return [e["value"] for e in entries if isinstance(e, dict) and isinstance(e.get("value"), str)]


def response(status: int, *, location: str | None = None, cookies: Sequence[str] = (),
             body: str | None = None) -> CloudFrontResponse:
    """A response generated at the edge, in the shape CloudFront expects from a viewer-request function."""
    headers: dict[str, list[dict[str, str]]] = {"cache-control": [{"key": "Cache-Control", "value": "no-store"}]}
    if location is not None:
        headers["location"] = [{"key": "Location", "value": location}]
    if cookies:
        headers["set-cookie"] = [{"key": "Set-Cookie", "value": c} for c in cookies]
    answer: CloudFrontResponse = {"status": str(status), "statusDescription": _REASONS.get(status, ""),
                                  "headers": headers}
    if body is not None:
        headers["content-type"] = [{"key": "Content-Type", "value": "text/html; charset=utf-8"}]
        answer["body"] = body
    return answer


def error_page(status: int, message: str, retry: str, cookies: Sequence[str]) -> CloudFrontResponse:
    """A small HTML page saying what went wrong, with a link that starts over."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        f'<body><main><h1>Sign-in failed</h1><p>{html.escape(message)}</p>'
        f'<p><a id="wr-retry" href="{html.escape(safe_return_path(retry))}">Try again</a></p></main></body></html>'
    )
    return response(status, cookies=cookies, body=body)


_REASONS = {302: "Found", 400: "Bad Request", 500: "Internal Server Error", 502: "Bad Gateway"}
_gate: EdgeGate | None = None


def handler(event: dict[str, Any], context: Any) -> CloudFrontRequest | CloudFrontResponse:
    """The Lambda@Edge entry point (``authorizer.edge.handler``) for viewer-request events."""
    global _gate
    try:
        if _gate is None:
            _gate = EdgeGate(EdgeConfig.bundled())
        return _gate.handle_event(event)
    except Exception as exc:  # never a stack trace to the visitor; fail closed
        log.error("edge gate failed: %s", type(exc).__name__)
        return error_page(500, "The waiting room gate could not check this request.", "/", [])
