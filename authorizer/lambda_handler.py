"""API Gateway Lambda authorizer for waiting-room access tokens.

Point the authorizer's Lambda function at ``authorizer.lambda_handler.handler`` and configure it
with the environment variables of :mod:`authorizer.config`. One handler serves:

- REST API ``TOKEN`` authorizers: ``{"type": "TOKEN", "authorizationToken", "methodArn"}``; the
  token source header may hold ``Bearer <token>`` or the bare token.
- REST API ``REQUEST`` authorizers (and HTTP API payload 1.0): the token comes from the
  configured header (``Authorization`` by default, with or without ``Bearer``), else the
  configured cookie, else the configured query parameter.
- HTTP API payload 2.0 authorizers: same lookup (cookies arrive in ``cookies``), answered with a
  simple response ``{"isAuthorized": ..., "context": ...}`` (or an IAM policy when simple
  responses are turned off).

Answers: a valid token gets an Allow policy whose ``principalId`` is the token's ``sub`` and whose
``context`` carries ``sub``, ``event_id``, ``queue_position``, ``exp`` and ``jti`` (primitives, as API
Gateway requires). No token: ``Exception("Unauthorized")`` for REST, which API Gateway turns into
a 401, or ``isAuthorized: false``. An invalid token: an explicit Deny (403). The reason is logged,
the token never is, and nothing else ever escapes the handler: any unexpected failure denies.

The Allow policy covers the method ARN of the request, or with ``WAITINGROOM_POLICY_SCOPE`` every
method of the same stage or API (needed when API Gateway caches authorizer results per token), never
other APIs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from core.tokens import TokenError

from .config import AuthorizerConfig
from .cookies import from_cookies
from .verifier import AccessVerifier, from_authorization, header, header_values

log = logging.getLogger("waitingroom.authorizer")
log.setLevel(logging.INFO)

UNAUTHORIZED = "Unauthorized"
"""The exact error message API Gateway REST APIs turn into a 401 response."""

DENIED_PRINCIPAL = "unauthenticated"


class _NoToken:
    """Marker result: the request carries no token (raised as Unauthorized at the very end)."""


NO_TOKEN = _NoToken()


def policy_resource(arn: str, scope: str) -> str:
    """The resource an Allow covers: the method ARN itself, or a wildcard of its stage or API.

    ``arn:aws:execute-api:{region}:{account}:{api}/{stage}/{verb}/{path}``: the wildcard never
    widens past ``{api}``.
    """
    if scope == "method":
        return arn
    prefix, sep, path = arn.partition("/")
    if not sep or not prefix.startswith("arn:") or prefix.count(":") != 5 or not path:
        return arn  # not an execute-api ARN we understand: do not guess a wildcard
    if scope == "stage":
        return f"{prefix}/{path.split('/', 1)[0]}/*"
    return f"{prefix}/*"


def iam_policy(principal: str, effect: str, resource: str, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        answer["context"] = dict(context)
    return answer


def claims_context(claims: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """The claims handed to the backend: only primitives, as API Gateway requires."""
    context: dict[str, str | int | float | bool] = {}
    for name in ("sub", "event_id", "queue_position", "exp", "iat", "jti"):
        value = claims.get(name)
        if isinstance(value, str | int | float | bool):
            context[name] = value
    return context


def is_http_api_v2(event: Mapping[str, Any]) -> bool:
    return event.get("version") == "2.0" and "routeArn" in event


class LambdaAuthorizer:
    """The authorizer for one configuration; reuse it across invocations (it caches the JWKS)."""

    def __init__(self, config: AuthorizerConfig, verifier: AccessVerifier | None = None) -> None:
        self.config = config
        self.verifier = verifier or AccessVerifier.from_config(config)

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Answer one authorizer event. Raises only ``Exception("Unauthorized")`` (no token, REST)."""
        result = self.decide(event)
        if result is NO_TOKEN:
            raise Exception(UNAUTHORIZED)  # API Gateway matches this exact message to answer 401
        assert isinstance(result, dict)
        return result

    def decide(self, event: Any) -> dict[str, Any] | _NoToken:
        try:
            return self._decide(event)
        except Exception as exc:  # never let anything but Unauthorized out: deny instead
            log.error("authorizer failure, denying: %s", type(exc).__name__)
            return self._deny(event if isinstance(event, Mapping) else {}, "internal error")

    def _decide(self, event: Any) -> dict[str, Any] | _NoToken:
        if not isinstance(event, Mapping):
            log.warning("denied: the event is not an object")
            return NO_TOKEN
        token = self.token_for(event)
        if token is None:
            log.info("denied: no token in the request (%s)", _describe(event))
            if is_http_api_v2(event) and self.config.http_api_simple_responses:
                return {"isAuthorized": False}
            return NO_TOKEN
        try:
            claims = self.verifier.verify(token)
        except TokenError as exc:
            log.info("denied: %s (%s)", exc.reason, _describe(event))
            return self._deny(event, exc.reason)
        log.info("allowed sub=%s event_id=%s (%s)", claims.get("sub"), claims.get("event_id"), _describe(event))
        return self._allow(event, claims)

    def token_for(self, event: Mapping[str, Any]) -> str | None:
        """The token of the request, from wherever this configuration looks for it."""
        if event.get("type") == "TOKEN":
            value = event.get("authorizationToken")
            return from_authorization(value) if isinstance(value, str) else None
        config = self.config
        headers = event.get("headers") if isinstance(event.get("headers"), Mapping) else None
        multi = event.get("multiValueHeaders") if isinstance(event.get("multiValueHeaders"), Mapping) else None
        token = from_authorization(header(headers, config.token_header))
        if token is None and multi:
            values = header_values(multi, config.token_header)
            token = from_authorization(values[0]) if values else None
        if token is None and config.token_cookie:
            cookies = [c for c in event.get("cookies") or [] if isinstance(c, str)]
            cookies += header_values(multi, "Cookie") or header_values(headers, "Cookie")
            token = from_cookies(cookies, config.token_cookie)
        if token is None and config.token_query_param:
            token = _query_value(event, config.token_query_param)
        if token is None and is_http_api_v2(event):
            # HTTP APIs hand over the configured identity sources even when we look elsewhere.
            sources = event.get("identitySource")
            if isinstance(sources, list) and len(sources) == 1 and isinstance(sources[0], str):
                token = from_authorization(sources[0])
        return token

    def _resource(self, event: Mapping[str, Any]) -> str:
        arn = event.get("methodArn") or event.get("routeArn")
        return policy_resource(arn, self.config.policy_scope) if isinstance(arn, str) and arn else "*"

    def _allow(self, event: Mapping[str, Any], claims: Mapping[str, Any]) -> dict[str, Any]:
        context = claims_context(claims)
        if is_http_api_v2(event) and self.config.http_api_simple_responses:
            return {"isAuthorized": True, "context": context}
        return iam_policy(str(claims["sub"]), "Allow", self._resource(event), context)

    def _deny(self, event: Mapping[str, Any], reason: str) -> dict[str, Any]:
        if is_http_api_v2(event) and self.config.http_api_simple_responses:
            return {"isAuthorized": False}
        return iam_policy(DENIED_PRINCIPAL, "Deny", self._resource(event))


def _query_value(event: Mapping[str, Any], name: str) -> str | None:
    single = event.get("queryStringParameters")
    if isinstance(single, Mapping) and isinstance(single.get(name), str):
        return single[name] or None
    multi = event.get("multiValueQueryStringParameters")
    if isinstance(multi, Mapping) and isinstance(multi.get(name), list) and multi[name]:
        value = multi[name][0]
        return value if isinstance(value, str) and value else None
    return None


def _describe(event: Mapping[str, Any]) -> str:
    """Where a request went, for logs: the method/route ARN and API Gateway's request id."""
    arn = event.get("methodArn") or event.get("routeArn") or "?"
    request_context = event.get("requestContext")
    request_id = request_context.get("requestId") if isinstance(request_context, Mapping) else None
    return f"{arn}, request {request_id}" if request_id else str(arn)


# -- the Lambda entry point ------------------------------------------------------------------

_lock = threading.Lock()
_default: LambdaAuthorizer | None = None


def default_authorizer() -> LambdaAuthorizer:
    """The authorizer configured from the environment, built on first use and kept warm."""
    global _default
    with _lock:
        if _default is None:
            _default = LambdaAuthorizer(AuthorizerConfig.from_env())
        return _default


def reset() -> None:
    """Forget the warm authorizer so the next call re-reads the environment (tests)."""
    global _default
    with _lock:
        _default = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda function handler."""
    try:
        authorizer = default_authorizer()
    except Exception as exc:  # misconfiguration: deny everything, say why in the logs
        log.error("authorizer is misconfigured, denying: %s", exc)
        if isinstance(event, Mapping) and is_http_api_v2(event):
            return {"isAuthorized": False}
        arn = event.get("methodArn") if isinstance(event, Mapping) else None
        return iam_policy(DENIED_PRINCIPAL, "Deny", arn if isinstance(arn, str) and arn else "*")
    return authorizer(event, context)
