"""HTTP endpoints of the OpenID Connect provider: thin views over Authlib and the room.

``/authorize`` validates the request (an unknown client, a missing or unregistered redirect
URI gets an error page, never a redirect), then either sends an admitted visitor back with
``code``, ``state`` and ``iss`` (RFC 9207), by redirect or form post (:mod:`.responses`), or
shows the waiting page. Every response this endpoint sends to the client, errors included,
carries ``iss``.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import (
    AccountSelectionRequiredError,
    ConsentRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import Blueprint, Response, current_app, jsonify, make_response, request, send_file, url_for
from flask_babel import gettext

from core.errors import StoreUnavailable, WaitingRoomError
from core.messages import shown
from core.model import Queueing, Status, Ticket
from core.opening import Opening
from core.rules import check_issuable
from core.tokens import TokenError
from oidc_adaptor.plumbing import cors, counter_cache, params, ratelimit, security_headers
from oidc_adaptor.plumbing.auth import body_field, require_admin, require_event_admin
from oidc_adaptor.plumbing.errors import error_response
from oidc_adaptor.plumbing.services import services

from . import cookie_check, page
from .clients import CLAIMS, SCOPES, Client, ClientError
from .codes import MAX_CARRIED
from .places import COOKIE_NAME, PLACE_TTL, PlaceRef, cookie_is_secure, new_handle, valid_handle
from .responses import QUERY, RESPONSE_MODES, authorization_response, response_mode
from .server import OidcProvider, Visitor, email_claims, repeated_parameter
from .waiting import (
    LIVE_STATUSES,
    EarlierPlace,
    earlier_place,
    estimate_wait,
    line_state,
    refresh_seconds,
    status_view,
)

log = logging.getLogger("waitingroom.oidc")

blueprint = Blueprint("oidc", __name__)

EXTENSION = "waitingroom_oidc"
HTML_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
MAX_AGE_PATTERN = re.compile(r"[0-9]+")
MAX_AGE_DIGITS = 12
PROMPT_VALUES = ("none", "login")
"""The ``prompt`` values this provider honours (and discovery advertises); others are refused."""
CORS_ENDPOINTS = {"oidc.discovery", "oidc.token", "oidc.userinfo", "oidc.userinfo_alias"}
@blueprint.record_once
def _setup(state: Any) -> None:
    app = state.app
    app.extensions[EXTENSION] = OidcProvider(app.extensions["waitingroom"])
    prefix = app.extensions["waitingroom"].settings.server.admin_prefix
    app.add_url_rule(f"{prefix}/clients", "oidc_admin_clients", admin_list_clients, methods=["GET"])
    app.add_url_rule(f"{prefix}/clients", "oidc_admin_register_client", admin_register_client, methods=["POST"])
    app.add_url_rule(f"{prefix}/clients/<client_id>", "oidc_admin_client", admin_get_client, methods=["GET"])
    app.add_url_rule(f"{prefix}/clients/<client_id>", "oidc_admin_delete_client", admin_delete_client,
                     methods=["DELETE"])


def provider() -> OidcProvider:
    return current_app.extensions[EXTENSION]


def issuer() -> str:
    return services().settings.server.issuer


@blueprint.after_request
def _headers(response: Response) -> Response:
    if request.endpoint in CORS_ENDPOINTS:
        cors.allow_public_clients(request, response)  # browser-based public clients call these cross-origin
    if security_headers.is_html(response):
        response.headers.setdefault("Content-Security-Policy", HTML_CSP)  # form_post sets its own
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
    return response


# -- discovery ------------------------------------------------------------------------------------


@blueprint.get("/.well-known/openid-configuration")
def discovery() -> Response:
    iss = issuer()
    response = jsonify(
        issuer=iss,
        authorization_endpoint=f"{iss}/authorize",
        token_endpoint=f"{iss}/token",
        userinfo_endpoint=f"{iss}/userinfo",
        jwks_uri=f"{iss}/.well-known/jwks.json",
        response_types_supported=["code"],
        response_modes_supported=list(RESPONSE_MODES),
        grant_types_supported=["authorization_code"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=["RS256"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
        code_challenge_methods_supported=["S256"],
        scopes_supported=list(SCOPES),
        claims_supported=list(CLAIMS),
        prompt_values_supported=list(PROMPT_VALUES),
        authorization_response_iss_parameter_supported=True,
        claims_parameter_supported=False,
        request_parameter_supported=False,
        request_uri_parameter_supported=False,
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# -- authorization endpoint -----------------------------------------------------------------------


def error_page(message: str, status: int = 400) -> Response:
    """An error the visitor sees; used whenever redirecting to the client would be unsafe."""
    response = make_response(page.render(None, "oidc_error.html", message=message), status)
    return response


def authorization_error(error: OAuth2Error, redirect_uri: str | None, state: str | None,
                        mode: str = QUERY) -> Response:
    """Send an OAuth error to a validated redirect URI with ``state`` and ``iss`` in the
    request's response mode; without a trusted redirect URI, a page."""
    if not redirect_uri:
        return error_page(error.description or error.error or "invalid request")
    params = [("error", str(error.error))]
    if error.description:
        params.append(("error_description", error.description))
    if state:
        params.append(("state", state))
    params.append(("iss", issuer()))
    return authorization_response(redirect_uri, params, mode)


def authorization_url() -> str:
    """The URL that re-requests this authorization (a POSTed request becomes the same GET, with
    the parameters of its URI and of its form), without the cookie check's marker."""
    base = url_for("oidc.authorize")
    if request.method == "POST":
        return cookie_check.without_marker(f"{base}?{urlencode(params.request_parameters())}")
    query = request.query_string.decode("latin-1")
    return cookie_check.without_marker(f"{base}?{query}" if query else base)


def _max_age() -> int | None:
    """The request's ``max_age`` in seconds, or None. Only ASCII digits are a number here
    (``str.isdigit`` also holds for "²", which ``int`` refuses); a value longer than
    :data:`MAX_AGE_DIGITS` digits is longer ago than any admission, and ``int`` would refuse
    one of thousands of digits. Raises InvalidRequestError."""
    raw = request.values.get("max_age")
    if raw is None or raw == "":
        return None
    if not MAX_AGE_PATTERN.fullmatch(raw):
        raise InvalidRequestError("'max_age' must be a non-negative whole number of seconds.")
    digits = raw.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_AGE_DIGITS else 10**MAX_AGE_DIGITS


def _current_place(handle: str | None, event_id: str) -> tuple[PlaceRef | None, Ticket | None]:
    if handle is None:
        return None, None
    return provider().places.find(handle, event_id)


def _visitor(ref: PlaceRef | None, ticket: Ticket | None, max_age: int | None, login: bool) -> Visitor | None:
    """The admitted visitor this browser is, or None (waiting, ended, or asked to
    re-authenticate: ``prompt=login``, or authenticated too long ago for ``max_age``; then a
    new place in line is the re-authentication, and a place taken so is ``fresh``).

    The visitor's authentication (the id token's ``auth_time``) is their admission, or, on a
    place taken to re-authenticate, the request that comes back to claim it once admitted:
    however long after the admission that is, the relying party that asked for ``max_age``
    gets an ``auth_time`` within it (OIDC Core 3.1.3.7 item 13), rather than asking again
    and sending the visitor to the back of the line once more."""
    if ref is None or ticket is None or ticket.status not in (Status.ADMITTED, Status.ISSUED):
        return None
    now = services().clock.now()
    if ticket.session is not None and ticket.session.expires_at <= now:
        return None  # the session ran out (a sweep will mark it timed out): a new place
    try:
        check_issuable(ticket, now, services().room.claim_deadline(ticket.event_id))
    except WaitingRoomError:
        # Admitted but unclaimed past queue_position_expiry (a sweep will mark it expired): a
        # code would only ever get invalid_grant at the token endpoint, so a new place instead.
        return None
    if ref.fresh:
        return Visitor(ticket.event_id, ticket.request_id, int(now))
    if ref.authenticated_at is not None:
        authenticated_at: float = ref.authenticated_at
    else:
        authenticated_at = ticket.admitted_at if ticket.admitted_at is not None else ticket.entered_at
    if login or (max_age is not None and now - authenticated_at > max_age):
        return None
    return Visitor(ticket.event_id, ticket.request_id, authenticated_at)


def _enter(handle: str, event_id: str, ref: PlaceRef | None, ticket: Ticket | None,
           reauthenticate: bool) -> tuple[PlaceRef, Ticket]:
    """Keep a live, waiting place; otherwise take a new one (idempotent per browser and generation)."""
    if ref is not None and ticket is not None and ticket.status is Status.WAITING:
        if reauthenticate and not ref.fresh:
            # Still waiting, so its admission will come after this request: it re-authenticates.
            ref = PlaceRef(ref.request_id, ref.generation, fresh=True)
            provider().places.remember(handle, event_id, ref)
        return ref, ticket
    ratelimit.check_entry()  # a new place: counts against [server] enter_rate_limit
    generation = 0 if ref is None else ref.generation + 1
    places = provider().places
    for _ in range(3):  # an old idempotency key may return an ended place: move on to the next
        ticket = services().room.enter(event_id, places.idempotency_key(handle, event_id, generation))
        if ticket.status in LIVE_STATUSES:
            break
        generation += 1
    assert ticket is not None
    ref = PlaceRef(ticket.request_id, generation, fresh=reauthenticate)
    places.remember(handle, event_id, ref)
    return ref, ticket


def _set_cookie(response: Response, handle: str) -> None:
    response.set_cookie(
        COOKIE_NAME, handle, max_age=PLACE_TTL, path="/", httponly=True, samesite="Lax",
        secure=cookie_is_secure(issuer()),
    )


def _redirect_uri(client: Client, values: Any) -> str | Response:
    """The request's redirect URI, exactly as registered, or the error page to answer. It is
    required in an OpenID request (OIDC Core 3.1.2.1); a plain OAuth request may leave it out
    when the client registered exactly one (RFC 6749 section 3.1.2.3)."""
    uris = values.getlist("redirect_uri")
    if not uris:
        default = client.get_default_redirect_uri()
        if default is None or "openid" in (values.get("scope") or "").split():
            return error_page(gettext("This sign-in link does not say where to return (redirect_uri is missing)."))
        return default
    if len(uris) > 1 or not client.check_redirect_uri(uris[0]):
        return error_page(gettext("This sign-in link asks to return to an address the application did not register."))
    return str(uris[0])


def _check_authorization_request(values: Any) -> None:
    """Raise the OAuth error of a request this provider refuses before Authlib's checks."""
    name = repeated_parameter(values)
    if name is not None:
        raise InvalidRequestError(f"The parameter '{name}' is repeated.")
    if "request" in values:
        raise RequestNotSupportedError()
    if "request_uri" in values:
        raise RequestURINotSupportedError()
    for carried in ("nonce", "scope"):  # sealed into the code, which must stay redeemable
        if len(values.get(carried) or "") > MAX_CARRIED:
            raise InvalidRequestError(f"'{carried}' is longer than {MAX_CARRIED} characters.")
    prompts = (values.get("prompt") or "").split()
    # OIDC Core 3.1.2.1: a provider that cannot show consent or an account choice answers
    # with the error for it, rather than a code as if it had.
    if "consent" in prompts:
        raise ConsentRequiredError()
    if "select_account" in prompts:
        raise AccountSelectionRequiredError()
    unknown = [p for p in prompts if p not in PROMPT_VALUES]
    if unknown:
        raise InvalidRequestError(f"The prompt value {unknown[0]!r} is not supported; use none or login.")


@blueprint.errorhandler(StoreUnavailable)
def _store_unavailable(exc: StoreUnavailable) -> Response:
    """503 with Retry-After, as everywhere (:mod:`oidc_adaptor.plumbing.errors`); at
    ``/authorize``, the browser's endpoint, as a page that requests the same authorization
    again after Retry-After seconds without JavaScript: a JSON body there would end a waiting
    visitor's refreshes, and leave them on it, during a store's failover of a few seconds."""
    response = error_response(503, exc.code, str(exc))
    if request.endpoint != "oidc.authorize":
        return response
    retry_after = response.headers["Retry-After"]
    client = provider().clients.configured.get(request.values.get("client_id") or "")
    html = page.render(client.event_id if client is not None else None, "unavailable.html",
                       authorize_url=authorization_url(), retry_after=retry_after)
    page_response = make_response(html, 503)
    page_response.headers["Retry-After"] = retry_after
    page_response.headers["Cache-Control"] = "no-store"
    return page_response


@blueprint.route("/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    oidc = provider()
    values = request.values
    state = values.get("state")
    client_ids = values.getlist("client_id")
    client: Client | None = oidc.clients.get(client_ids[0]) if len(client_ids) == 1 else None
    if client is None:
        return error_page(gettext("This sign-in link names an application this waiting room does not know."))
    redirect_uri = _redirect_uri(client, values)
    if isinstance(redirect_uri, Response):
        return redirect_uri

    try:
        mode = response_mode(values.get("response_mode"))
    except OAuth2Error as error:  # refused before the visitor is put in line, in the default mode
        return authorization_error(error, redirect_uri, state)
    try:
        _check_authorization_request(values)
        max_age = _max_age()
    except OAuth2Error as error:
        return authorization_error(error, redirect_uri, state, mode)

    event_id = client.event_id
    handle = valid_handle(request.cookies.get(COOKIE_NAME))
    ref, ticket = _current_place(handle, event_id)
    prompts = (values.get("prompt") or "").split()
    login = "login" in prompts
    visitor = _visitor(ref, ticket, max_age, login)

    try:
        grant = oidc.server.get_consent_grant(end_user=visitor)
        if visitor is None and "none" in prompts:
            raise LoginRequiredError()  # OpenIDCode checks this only for the openid scope
    except OAuth2Error as error:
        return authorization_error(error, redirect_uri if error.error != "invalid_client" else None, state, mode)

    if handle is None:  # no place for a browser that has not shown it returns the cookie
        now = services().clock.now()
        if cookie_check.returned_before(values.get(cookie_check.MARKER), now):
            return cookie_check.cookies_needed_page(
                page.render(event_id, "cookies_needed.html", authorize_url=authorization_url()))
        response = cookie_check.ask_for_cookie(authorization_url(), now)
        _set_cookie(response, new_handle())
        return response
    room = services().room
    previous = earlier_place(ticket, room.event(event_id).queue_position_expiry, services().clock.now(),
                             room.claim_deadline(event_id))
    entered = visitor is None
    if entered:
        ref, ticket = _enter(handle, event_id, ref, ticket, login or max_age is not None)
        visitor = _visitor(ref, ticket, max_age, login)
    if visitor is not None:
        params = grant.issue_code(visitor)
        params.append(("iss", issuer()))
        response = authorization_response(grant.redirect_uri, params, mode)
        if ref is not None and ref.fresh:  # authenticated now: later requests measure max_age from here
            oidc.places.remember(handle, event_id, PlaceRef(ref.request_id, ref.generation, fresh=False,
                                                            authenticated_at=int(visitor.authenticated_at)))
        # The browser sent this cookie, so it has it: a sign-in that goes straight through to its
        # place need not set it again (one header less on every sign-in). One that took a new
        # place here, remembered for PLACE_TTL from now, renews the cookie's lifetime with it,
        # as the waiting page does, or the cookie would end before the place it finds.
        if entered:
            _set_cookie(response, handle)
        return response

    assert ticket is not None
    response = waiting_page(event_id, ticket, previous)
    _set_cookie(response, handle)
    return response


def _opening(event_id: str) -> Opening | None:
    """The event's opening, for an event that has one configured (random or fifo); None for the
    others, whose waiting page then costs no extra store read."""
    settings = services().room.event(event_id)
    if settings.opens_at is None and settings.queueing is Queueing.FIFO:
        return None
    return services().room.opening(event_id)


def waiting_page(event_id: str, ticket: Ticket, previous: EarlierPlace | None = None) -> Response:
    room = services().room
    cache = counter_cache.for_app()
    rate = cache.admission_rate(event_id)
    opening = _opening(event_id)  # opens a due draw, before the place's position is used
    drawn = opening is not None and opening.is_random
    if drawn and opening is not None and not opening.is_gated and ticket.position <= (opening.pre_queue_size or 0):
        ticket = room.ticket(event_id, ticket.request_id)  # read before the draw: its arrival index
    view = status_view(ticket, cache.serving_seen_by(ticket), rate)
    state = room.event_state(event_id)  # live: a pause or message set a moment ago shows on this page
    now = services().clock.now()
    line = line_state(state.policy, state.paused, now, opening)
    estimate = estimate_wait(view["ahead"], rate) if line.moving else None
    html = page.render(
        event_id,
        "waiting.html",
        event_id=event_id,
        event_name=room.event(event_id).display_name,
        # A place in a random draw's pre-queue has no position yet; its arrival index is not one
        # and must not read as one in the page's data (SECURITY.md: no position before the draw)...
        position=None if drawn and line.pre_queue else ticket.position,
        # ... but it is the visitor's receipt: the published list must put the ticket at it, so
        # a list reordered after the opening shows (README, "a fair opening").
        arrival=ticket.position if drawn and line.pre_queue else None,
        ahead=view["ahead"],
        estimate=estimate,
        authorize_url=authorization_url(),
        event_status_url=url_for("api.event_status", event_id=event_id),
        rendered_at=int(now),
        message=shown(state.message, now),
        refresh_seconds=refresh_seconds(line, now, room.claim_deadline(event_id), room.clock_skew),
        previous=previous,
        line=line,
        ticket_id=ticket.ticket_id,
        draw_check_url=url_for("oidc.draw_verify", event_id=event_id, ticket=ticket.ticket_id) if drawn else None,
    )
    return make_response(html, 200)


@blueprint.get("/events/<event_id>/theme.css")
def event_theme(event_id: str) -> Response:
    """The event's colours as a style sheet (:func:`oidc_adaptor.oidc.page.theme_css`); 404 when
    the event configures none. Public and cacheable: it changes only with the configuration."""
    chosen = page.look(event_id)
    if not chosen.colours:
        return Response(status=404)
    response = make_response(page.theme_css(chosen), 200)
    response.mimetype = "text/css"
    response.headers["Cache-Control"] = f"public, max-age={page.ASSET_MAX_AGE}"
    return response


@blueprint.get("/events/<event_id>/logo")
def event_logo(event_id: str) -> Response:
    """The event's configured logo file; 404 when there is none or it cannot be read. Served with
    a policy that runs nothing in it (an SVG opened on its own included)."""
    chosen = page.look(event_id)
    path = page.logo_file(chosen)
    if path is None:
        return Response(status=404)
    response = send_file(path, mimetype=chosen.logo_type, max_age=page.ASSET_MAX_AGE, conditional=True)
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = f"public, max-age={page.ASSET_MAX_AGE}"
    return response


@blueprint.get("/authorize/status")
def waiting_status() -> Response:
    """The place this browser holds in one event, as JSON (``no-store``: it reads the cookie).

    The waiting page itself polls the event's cacheable status document instead; this stays for
    clients that want the server to compute people ahead and the estimate for them."""
    event_id = request.args.get("event", "")
    services().room.event(event_id)
    handle = valid_handle(request.cookies.get(COOKIE_NAME))
    _ref, ticket = _current_place(handle, event_id)
    if ticket is None:
        response = jsonify(status="unknown", admitted=False)
        response.status_code = 404
    elif (opening := _opening(event_id)) is not None and opening.is_random and opening.is_gated:
        response = jsonify(status="pre_queue", admitted=False, position=None, opens_at=opening.opens_at)
    else:
        cache = counter_cache.for_app()
        if opening is not None and opening.is_random and ticket.position <= (opening.pre_queue_size or 0):
            ticket = services().room.ticket(event_id, ticket.request_id)  # may predate the draw
        response = jsonify(status_view(ticket, cache.serving_seen_by(ticket), cache.admission_rate(event_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- token endpoint -------------------------------------------------------------------------------


@blueprint.post("/token")
def token() -> Response:
    response = provider().server.create_token_response()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


# -- userinfo -------------------------------------------------------------------------------------


def _bearer_error(status: int, error: str, description: str, *, challenge_error: bool = True,
                  scope: str | None = None) -> Response:
    """A refusal of /userinfo with its RFC 6750 section 3 challenge. A request that sent no
    token gets a challenge without ``error`` (section 3.1); the body always names the error."""
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    challenge = f'Bearer error="{error}", error_description="{description}"' if challenge_error else "Bearer"
    if scope:
        challenge += f', scope="{scope}"'
    response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response


def _access_tokens() -> list[str]:
    """The access tokens the request sends: in the ``Authorization`` header, in a form body
    (RFC 6750 sections 2.1 and 2.2). More than one is a client error (section 2)."""
    found = []
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        found.append(value.strip())
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        found.extend(t for t in request.form.getlist("access_token") if t)
    return found


@blueprint.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    tokens = _access_tokens()
    if len(tokens) > 1:
        return _bearer_error(400, "invalid_request", "send the access token one way only")
    token_value = tokens[0] if tokens else None
    if token_value is None:
        return _bearer_error(401, "invalid_request", "an access token is required", challenge_error=False)
    oidc = provider()
    try:
        claims = oidc.access_token_verifier().verify(token_value)
    except TokenError as exc:
        return _bearer_error(401, "invalid_token", exc.reason)
    event_id = claims.get("event_id")
    if event_id not in services().settings.events or claims.get("aud") != event_id:
        return _bearer_error(401, "invalid_token", "the token is not for an event of this waiting room")
    if "openid" not in str(claims.get("scope") or "").split():
        # OIDC Core 5.3: the UserInfo endpoint serves access tokens granted for OpenID only.
        return _bearer_error(403, "insufficient_scope", "the token was not granted the openid scope",
                             scope="openid")
    if not oidc.live_session(str(event_id), str(claims.get("jti"))):
        return _bearer_error(401, "invalid_token", "the session of this token has ended")
    info: dict[str, Any] = {"sub": claims["sub"], "event_id": event_id, "queue_position": claims.get("queue_position")}
    client = oidc.clients.get(claims.get("client_id"))
    if client is not None and client.email_claim:
        info.update(email_claims(str(event_id), claims["sub"]))
    response = jsonify(info)
    response.headers["Cache-Control"] = "no-store"
    return response


blueprint.add_url_rule("/userInfo", "userinfo_alias", userinfo, methods=["GET", "POST"])


# -- admin: clients -------------------------------------------------------------------------------


def _admin_error(status: int, code: str, message: str) -> Response:
    response = jsonify(error=code, message=message)
    response.status_code = status
    return response


@require_admin
def admin_list_clients() -> Response:
    return jsonify(clients=[c.public_view() for c in provider().clients.all()])


def _client_event(view_args: dict[str, Any]) -> list[object]:
    """The event of the client the request reads or deletes (none for an unknown client)."""
    client = provider().clients.get(view_args.get("client_id"))
    return [client.event_id] if client is not None else []


@require_event_admin(_client_event)
def admin_get_client(client_id: str) -> Response:
    client = provider().clients.get(client_id)
    if client is None:
        return _admin_error(404, "unknown_client", "no such client")
    return jsonify(client.public_view())


@require_event_admin(body_field("event"))
def admin_register_client() -> Response:
    data = params.json_object()  # 400 for a body that is not a JSON object (deep nesting included)
    try:
        client, secret = provider().clients.register(data)
    except ClientError as exc:
        status = 409 if "already exists" in str(exc) else 400
        return _admin_error(status, "invalid_client_metadata" if status == 400 else "conflict", str(exc))
    body = client.public_view()
    if secret is not None:
        body["client_secret"] = secret  # shown once; only its hash is stored
    response = jsonify(body)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@require_event_admin(_client_event)
def admin_delete_client(client_id: str) -> Response:
    try:
        deleted = provider().clients.delete(client_id)
    except ClientError as exc:
        return _admin_error(409, "conflict", str(exc))
    if not deleted:
        return _admin_error(404, "unknown_client", "no such client")
    return Response(status=204)
