"""Protect a Python site with waiting-room tokens: WSGI middleware and a Flask decorator.

WSGI, any framework::

    from authorizer.config import AuthorizerConfig
    from authorizer.gate import WaitingRoomGate
    app.wsgi_app = WaitingRoomGate(app.wsgi_app, AuthorizerConfig.from_env(), exempt=("/healthz",))

Flask, per view::

    from authorizer.gate import require_waiting_room_token

    @app.get("/checkout")
    @require_waiting_room_token
    def checkout():
        return {"you are": flask.g.waitingroom_claims["sub"]}

An action that may happen once per admission (an order, a sign-up) ends the visitor's session
in the waiting room first, atomically, and runs only for the request that ended it::

    from authorizer.gate import once_per_admission
    from authorizer.session_end import admin_session_ender

    @app.post("/checkout")
    @require_waiting_room_token
    @once_per_admission(admin_session_ender(ISSUER, EVENT_ADMIN_KEY))
    def checkout():
        ...  # runs at most once per admission, however many requests carry the token

The token is looked for in the configured header (``Authorization: Bearer ...`` by default), then
the configured cookie, then the configured query parameter. A request without a valid token gets
``401`` with ``WWW-Authenticate: Bearer realm="..."`` (RFC 6750: ``error="invalid_token"`` and a
description when a token was presented but failed) and a JSON body ``{"error", "message"}``; or,
when a redirect URL is configured, browsers asking for HTML are redirected to the waiting room
(``303``). Verified claims are in ``environ["waitingroom.claims"]`` and, for Flask views, in
``flask.g.waitingroom_claims``.
"""

from __future__ import annotations

import functools
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from core.tokens import TokenError

from .config import AuthorizerConfig
from .cookies import from_cookies
from .session_end import AdmissionUnconfirmed, AdmissionUsed, SessionEnder
from .verifier import AccessVerifier, from_authorization

log = logging.getLogger("waitingroom.gate")

ENVIRON_KEY = "waitingroom.claims"
FLASK_EXTENSION = "waitingroom_gate"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
F = TypeVar("F", bound=Callable[..., Any])


class Denial:
    """Why a request was refused, and the response that says so."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def status_line(self) -> str:
        return {401: "401 Unauthorized", 303: "303 See Other"}.get(self.status, str(self.status))


class Gatekeeper:
    """The framework-neutral part: find the token in a WSGI environ, verify it, or say how to refuse."""

    def __init__(
        self,
        verifier: AccessVerifier | AuthorizerConfig,
        *,
        config: AuthorizerConfig | None = None,
        redirect_url: str | None = None,
        redirect_html_only: bool = True,
        realm: str | None = None,
    ) -> None:
        if isinstance(verifier, AuthorizerConfig):
            config = config or verifier
            verifier = AccessVerifier.from_config(verifier)
        self.verifier = verifier
        self.token_header = config.token_header if config else "Authorization"
        self.token_cookie = config.token_cookie if config else None
        self.token_query_param = config.token_query_param if config else None
        self.redirect_url = redirect_url if redirect_url is not None else (config.redirect_url if config else None)
        self.redirect_html_only = redirect_html_only
        self.realm = realm or (config.realm if config else "waitingroom")

    def token_for(self, environ: dict[str, Any]) -> str | None:
        name = "HTTP_" + self.token_header.upper().replace("-", "_")
        token = from_authorization(environ.get(name))
        if token is None and self.token_cookie:
            token = from_cookies([environ.get("HTTP_COOKIE", "")], self.token_cookie)
        if token is None and self.token_query_param:
            values = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get(self.token_query_param)
            token = values[0] if values else None
        return token

    def check(self, environ: dict[str, Any]) -> dict[str, Any] | Denial:
        """The verified claims, or the denial to send."""
        token = self.token_for(environ)
        if token is None:
            log.info("no token: %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            return self.denial(environ, None)
        try:
            return self.verifier.verify(token)
        except TokenError as exc:
            log.info("invalid token (%s): %s %s", exc.reason, environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            return self.denial(environ, exc.reason)
        except Exception as exc:  # fail closed, never crash the site
            log.error("token check failed, denying: %s", type(exc).__name__)
            return self.denial(environ, "token could not be checked")

    def denial(self, environ: dict[str, Any], reason: str | None) -> Denial:
        if self.redirect_url and (not self.redirect_html_only or _wants_html(environ)):
            location = self.redirect_url.replace("{return_to}", urllib.parse.quote(_request_url(environ), safe=""))
            return Denial(303, [("Location", location), ("Content-Length", "0"), ("Cache-Control", "no-store")], b"")
        challenge = f'Bearer realm="{_quote(self.realm)}"'
        if reason is None:
            body = {"error": "unauthorized", "message": "a waiting room token is required"}
        else:
            challenge += f', error="invalid_token", error_description="{_quote(reason)}"'
            body = {"error": "invalid_token", "message": reason}
        payload = json.dumps(body).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("WWW-Authenticate", challenge),
            ("Cache-Control", "no-store"),
        ]
        return Denial(401, headers, payload)


class WaitingRoomGate:
    """WSGI middleware letting through only requests with a valid waiting-room access token.

    ``exempt``: path prefixes served without a token (health checks, static assets, the login
    callback of the site).
    """

    def __init__(
        self,
        app: WSGIApp,
        verifier_config: AuthorizerConfig | AccessVerifier,
        *,
        config: AuthorizerConfig | None = None,
        redirect_url: str | None = None,
        redirect_html_only: bool = True,
        realm: str | None = None,
        exempt: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.gatekeeper = Gatekeeper(
            verifier_config,
            config=config,
            redirect_url=redirect_url,
            redirect_html_only=redirect_html_only,
            realm=realm,
        )
        self.exempt = tuple(exempt)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in self.exempt):
            return self.app(environ, start_response)
        outcome = self.gatekeeper.check(environ)
        if isinstance(outcome, Denial):
            start_response(outcome.status_line, outcome.headers)
            return [outcome.body]
        environ[ENVIRON_KEY] = outcome
        return self.app(environ, start_response)


def require_waiting_room_token(
    view: F | None = None,
    *,
    verifier: AccessVerifier | AuthorizerConfig | None = None,
    redirect_url: str | None = None,
    redirect_html_only: bool = True,
) -> Any:
    """Flask view decorator; usable bare (``@require_waiting_room_token``) or with arguments.

    Without ``verifier`` it uses the :class:`Gatekeeper` in ``app.extensions["waitingroom_gate"]``
    (see :func:`init_app`), else one built from the environment on first use.
    """

    def decorate(fn: F) -> F:
        own: list[Gatekeeper] = []  # built on first request, so importing the views needs no configuration

        def gatekeeper_for_view() -> Gatekeeper:
            if verifier is None and redirect_url is None:
                return _app_gatekeeper()
            if not own:
                own.append(Gatekeeper(verifier or AuthorizerConfig.from_env(), redirect_url=redirect_url,
                                      redirect_html_only=redirect_html_only))
            return own[0]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from flask import Response, g, request

            gatekeeper = gatekeeper_for_view()
            outcome = gatekeeper.check(request.environ)
            if isinstance(outcome, Denial):
                return Response(outcome.body, status=outcome.status, headers=outcome.headers)
            request.environ[ENVIRON_KEY] = outcome
            g.waitingroom_claims = outcome
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate(view) if view is not None else decorate


def once_per_admission(end_session: SessionEnder, *, retry_after: int = 2) -> Callable[[F], F]:
    """Flask view decorator: the view runs at most once per admission.

    Place it under :func:`require_waiting_room_token`. Before the view runs, the visitor's
    session (``flask.g.waitingroom_claims``) is ended in the waiting room with ``end_session``,
    which is atomic there: only the one request whose call ended the session runs the view.
    Every other request with the same token gets ``409`` ``{"error": "admission_used"}``; when
    the waiting room cannot confirm, ``503`` with ``Retry-After`` and the view does not run
    (acting without the confirmation could act twice). Validate the request before this point
    (a nested function decorated with this is one way), since the admission is spent once the
    view is reached.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from flask import Response, g

            claims = g.get("waitingroom_claims")
            if claims is None:
                raise RuntimeError("once_per_admission needs require_waiting_room_token above it")
            try:
                end_session(claims)
            except AdmissionUsed:
                log.info("admission used already: %s", claims.get("sub"))
                return _json_response(409, "admission_used", "this admission has been used already")
            except AdmissionUnconfirmed as exc:
                log.warning("could not end the session, not acting: %s", exc)
                response: Response = _json_response(503, "temporarily_unavailable",
                                                    "the waiting room could not confirm this admission; retry")
                response.headers["Retry-After"] = str(retry_after)
                return response
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _json_response(status: int, error: str, message: str) -> Any:
    from flask import Response

    return Response(json.dumps({"error": error, "message": message}), status=status,
                    headers={"Content-Type": "application/json", "Cache-Control": "no-store"})


def init_app(app: Any, verifier: AccessVerifier | AuthorizerConfig | None = None, **options: Any) -> Gatekeeper:
    """Attach the gatekeeper that bare ``@require_waiting_room_token`` views of ``app`` use."""
    gatekeeper = Gatekeeper(verifier or AuthorizerConfig.from_env(), **options)
    app.extensions[FLASK_EXTENSION] = gatekeeper
    return gatekeeper


def _app_gatekeeper() -> Gatekeeper:
    from flask import current_app

    gatekeeper = current_app.extensions.get(FLASK_EXTENSION)
    if gatekeeper is None:
        gatekeeper = init_app(current_app)
    assert isinstance(gatekeeper, Gatekeeper)
    return gatekeeper


def _wants_html(environ: dict[str, Any]) -> bool:
    return environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD") and "text/html" in environ.get("HTTP_ACCEPT", "")


def _request_url(environ: dict[str, Any]) -> str:
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    path = urllib.parse.quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/%")
    query = environ.get("QUERY_STRING", "")
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


def _quote(text: str) -> str:
    """A value safe inside a quoted-string of an HTTP header."""
    return "".join(c for c in text if c.isprintable() and c not in '"\\')
