"""The sample site's checkout API: a tiny Flask app behind the project's site gate.

``POST /checkout`` with ``Authorization: Bearer <access token>`` first ends the visitor's session
in the waiting room (``completed``), atomically, and places a (pretend) order only if this
request was the one that ended it (:func:`authorizer.gate.once_per_admission`): one admission
buys one order, however many requests carry the token at once; the others get 409. Ending the
session frees the slot for the next visitor and, with the authorizer's session check on, revokes
the token. Requests without a valid waiting-room access token get the gate's ``401``.

The site is static and may live on another origin (another port locally, S3 + CloudFront on
AWS), so the API answers CORS preflights for the configured site origins only.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, request

from authorizer.config import AuthorizerConfig
from authorizer.gate import init_app, once_per_admission, require_waiting_room_token
from authorizer.session_end import SessionEnder, admin_session_ender
from authorizer.verifier import AccessVerifier

log = logging.getLogger("waitingroom.demo.checkout")

MAX_TICKETS = 10

def create_checkout_app(
    verifier: AccessVerifier | AuthorizerConfig,
    *,
    allowed_origins: Iterable[str] = (),
    end_session: SessionEnder | None = None,
) -> Flask:
    """Build the checkout API. ``end_session`` spends the admission before each order (see the module
    docstring); None (no admin key) places orders without limit until the token expires."""
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    origins = frozenset(o.rstrip("/") for o in allowed_origins)
    init_app(app, verifier)

    @app.after_request
    def _cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
                response.headers["Access-Control-Max-Age"] = "600"
            response.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.route("/checkout", methods=["OPTIONS"])
    def checkout_preflight() -> Response:
        return Response(status=204)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/me")
    @require_waiting_room_token
    def me() -> Response:
        claims = g.waitingroom_claims
        return jsonify(sub=claims["sub"], event_id=claims.get("event_id"), queue_position=claims.get("queue_position"),
                       expires_at=claims.get("exp"))

    def place_order(quantity: int) -> tuple[Response, int]:
        claims = g.waitingroom_claims
        order = {
            "order_id": "ord_" + secrets.token_hex(6),
            "quantity": quantity,
            "event_id": claims.get("event_id"),
            "queue_position": claims.get("queue_position"),
            "session": "completed" if end_session is not None else "active",
        }
        log.info("order %s: %s ticket(s) for %s", order["order_id"], quantity, claims["sub"])
        return jsonify(order), 201

    if end_session is not None:
        place_order = once_per_admission(end_session)(place_order)
    else:
        log.warning("no way to end sessions: one admission may place several orders until its token expires")

    @app.post("/checkout")
    @require_waiting_room_token
    def checkout() -> tuple[Response, int]:
        body = request.get_json(silent=True)
        quantity = body.get("quantity", 1) if isinstance(body, dict) else 1
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_TICKETS:
            return jsonify(error="bad_request", message=f"quantity must be a whole number from 1 to {MAX_TICKETS}"), 400
        return place_order(quantity)  # validated first: the admission is spent only on a good order

    return app


# -- on AWS Lambda ------------------------------------------------------------------------------------


def app_from_env(environ: Mapping[str, str] | None = None) -> Flask:
    """The checkout API configured from environment variables (the Lambda function's).

    Every variable of :mod:`authorizer.config` (``WAITINGROOM_ISSUER``, ``WAITINGROOM_EVENT_ID``,
    ...): the gate checks the token again even behind the API Gateway authorizer. Plus:

    ``WAITINGROOM_CHECKOUT_ORIGINS``   site origins allowed by CORS, comma-separated
    ``WAITINGROOM_ADMIN_API_URL``      where the admin API is (default: the issuer)
    ``WAITINGROOM_ADMIN_KEYS_SECRET``  Secrets Manager id of the admin keys (the first is used), or
    ``WAITINGROOM_ADMIN_KEY``          the key itself; without either, sessions are not ended at
                                       checkout and simply time out
    ``WAITINGROOM_ADMIN_API_IAM``      ``true``: sign admin calls with the function's role (SigV4)
    """
    env = os.environ if environ is None else environ
    config = AuthorizerConfig.from_env(env)
    origins = [o.strip() for o in env.get("WAITINGROOM_CHECKOUT_ORIGINS", "").split(",") if o.strip()]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    admin_key = env.get("WAITINGROOM_ADMIN_KEY", "").strip()
    secret_id = env.get("WAITINGROOM_ADMIN_KEYS_SECRET", "").strip()
    if not admin_key and secret_id:
        from oidc_adaptor.panel.aws_proxy import admin_key_from_secret

        admin_key = admin_key_from_secret(secret_id, region)
    ender = None
    if admin_key:
        sign = None
        if env.get("WAITINGROOM_ADMIN_API_IAM", "").strip().lower() in ("1", "true", "yes", "on"):
            from oidc_adaptor.panel.aws_proxy import sigv4_query_signer

            sign = sigv4_query_signer(region)
        ender = admin_session_ender(config.issuer, admin_key, admin_api_url=env.get("WAITINGROOM_ADMIN_API_URL"),
                                    sign=sign)
    return create_checkout_app(config, allowed_origins=origins, end_session=ender)


_handler: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway (REST or HTTP API) or ALB entry point; the app is built on the first call."""
    global _handler
    if _handler is None:
        from apig_wsgi import make_lambda_handler

        _handler = make_lambda_handler(app_from_env(), binary_support=True)
    return _handler(event, context)
