"""The Lambda authorizer against tokens minted by a real waiting room served over HTTP."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from authorizer import lambda_handler
from authorizer.lambda_handler import LambdaAuthorizer, policy_resource

from . import forge
from .conftest import EVENT, METHOD_ARN, OTHER_EVENT, RunningRoom
from .events import ROUTE_ARN, http_api_v2, rest_request, rest_token


@pytest.fixture
def authorizer(waiting_room: RunningRoom) -> LambdaAuthorizer:
    return LambdaAuthorizer(waiting_room.config(token_cookie="wr_token", token_query_param="wr_token"))


def statement(answer: dict[str, Any]) -> dict[str, Any]:
    statements = answer["policyDocument"]["Statement"]
    assert len(statements) == 1
    assert answer["policyDocument"]["Version"] == "2012-10-17"
    return dict(statements[0])


def assert_allowed(answer: dict[str, Any], room: RunningRoom, resource: str = METHOD_ARN) -> None:
    assert statement(answer) == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}
    assert answer["principalId"].startswith("t_")
    context = answer["context"]
    assert context["sub"] == answer["principalId"]
    assert context["event_id"] == EVENT
    assert isinstance(context["queue_position"], int) and context["queue_position"] >= 1
    assert isinstance(context["exp"], int)
    assert all(isinstance(v, str | int | float | bool) for v in context.values())


def assert_denied(answer: dict[str, Any], resource: str = METHOD_ARN) -> None:
    assert statement(answer) == {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": resource}
    assert "context" not in answer


# -- the three event shapes, allowed ---------------------------------------------------------


@pytest.mark.parametrize("prefix", ["Bearer ", "bearer ", ""])
def test_rest_token_authorizer_allows_a_waiting_room_token(waiting_room: RunningRoom, authorizer: LambdaAuthorizer,
                                                           prefix: str) -> None:
    issued, _ = waiting_room.tokens()
    answer = authorizer(rest_token(prefix + issued.access_token), None)
    assert_allowed(answer, waiting_room)
    assert answer["principalId"] == issued.ticket.ticket_id
    assert answer["context"]["queue_position"] == issued.ticket.position
    assert waiting_room.jwks_fetches == 1  # fetched from the running waiting room, over HTTP


def test_rest_request_authorizer_reads_the_authorization_header(waiting_room: RunningRoom,
                                                                authorizer: LambdaAuthorizer) -> None:
    token = waiting_room.access_token()
    assert_allowed(authorizer(rest_request({"Authorization": f"Bearer {token}"}), None), waiting_room)
    assert_allowed(authorizer(rest_request({"authorization": token}), None), waiting_room)


def test_rest_request_authorizer_reads_the_cookie_and_the_query_parameter(waiting_room: RunningRoom,
                                                                          authorizer: LambdaAuthorizer) -> None:
    token = waiting_room.access_token()
    cookie = {"Cookie": f"theme=dark; wr_token={token}; other=1"}
    assert_allowed(authorizer(rest_request(cookie), None), waiting_room)
    assert_allowed(authorizer(rest_request(query={"wr_token": token}), None), waiting_room)


def test_http_api_v2_simple_response(waiting_room: RunningRoom, authorizer: LambdaAuthorizer) -> None:
    token = waiting_room.access_token()
    for event in (
        http_api_v2({"Authorization": f"Bearer {token}"}, identity_source=[f"Bearer {token}"]),
        http_api_v2(cookies=["theme=dark", f"wr_token={token}"]),
        http_api_v2(query={"wr_token": token}),
    ):
        answer = authorizer(event, None)
        assert answer["isAuthorized"] is True
        assert answer["context"]["event_id"] == EVENT
        assert set(answer) == {"isAuthorized", "context"}


def test_http_api_v2_with_iam_policy_responses(waiting_room: RunningRoom) -> None:
    authorizer = LambdaAuthorizer(waiting_room.config(http_api_simple_responses=False))
    token = waiting_room.access_token()
    assert_allowed(authorizer(http_api_v2({"Authorization": f"Bearer {token}"}), None), waiting_room, ROUTE_ARN)
    assert_denied(authorizer(http_api_v2({"Authorization": "Bearer x.y.z"}), None), ROUTE_ARN)


# -- missing token: 401 for REST, isAuthorized false for HTTP APIs ---------------------------


@pytest.mark.parametrize(
    "event",
    [
        rest_token(""),
        rest_token("Basic dXNlcjpwYXNz"),
        rest_request(),
        rest_request({"Authorization": "Bearer "}),
        rest_request({"Cookie": "theme=dark"}),
    ],
    ids=["empty-token", "basic-auth", "no-header", "empty-bearer", "other-cookie"],
)
def test_missing_token_raises_unauthorized_for_rest(authorizer: LambdaAuthorizer, event: dict[str, Any]) -> None:
    with pytest.raises(Exception) as raised:
        authorizer(event, None)
    assert type(raised.value) is Exception
    assert str(raised.value) == "Unauthorized"  # the exact message API Gateway maps to 401


def test_missing_token_is_not_authorized_for_http_api(authorizer: LambdaAuthorizer) -> None:
    assert authorizer(http_api_v2(), None) == {"isAuthorized": False}


# -- every rejection is an explicit Deny, with the reason logged and the token not -----------


def rejections(room: RunningRoom) -> dict[str, tuple[str, str]]:
    """name -> (token, the reason the verifier must give)."""
    genuine, _ = room.tokens()
    room.clock.offset = -7200  # minted two hours ago, valid one hour: expired an hour ago
    expired = room.access_token(validity=3600)
    room.clock.offset = +3600  # minted an hour from now
    not_yet_valid = room.access_token()
    room.clock.offset = 0
    public_pem = room.app.extensions["waitingroom"].signer.current_public_pem()
    return {
        "expired": (expired, "token expired"),
        "not-yet-valid": (not_yet_valid, "token not yet valid"),
        "wrong-issuer": (forge.signed_by_room(room, issuer="https://impostor.example"), "wrong issuer"),
        "wrong-audience": (room.access_token(OTHER_EVENT), "wrong audience"),
        "id-token": (genuine.id_token, "wrong token_use"),
        "unknown-kid": (forge.unknown_key(room), "unknown kid"),
        "tampered": (forge.tampered(genuine.access_token), "bad signature"),
        "alg-none": (forge.alg_none(genuine.access_token), "algorithm 'none' is not accepted"),
        "hs256-public-key": (forge.hs256_with_public_key(genuine.access_token, public_pem),
                             "algorithm 'HS256' is not accepted"),
        "garbage": ("not-a-jwt", "malformed token"),
    }


def test_each_rejection_denies_with_its_reason(waiting_room: RunningRoom, authorizer: LambdaAuthorizer,
                                                caplog: pytest.LogCaptureFixture) -> None:
    cases = rejections(waiting_room)
    for name, (token, reason) in cases.items():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="waitingroom.authorizer"):
            rest = authorizer(rest_token(f"Bearer {token}"), None)
            request = authorizer(rest_request({"Authorization": f"Bearer {token}"}), None)
            http = authorizer(http_api_v2({"Authorization": f"Bearer {token}"}), None)
        assert_denied(rest)
        assert_denied(request)
        assert http == {"isAuthorized": False}, name
        logged = caplog.text
        assert reason in logged, f"{name}: expected {reason!r} in {logged!r}"
        for segment in token.split("."):
            if len(segment) > 8:
                assert segment not in logged, f"{name}: the token leaked into the logs"


def test_the_verifier_rejects_the_hs256_forgery_even_if_the_header_claims_rs256(waiting_room: RunningRoom,
                                                                                 authorizer: LambdaAuthorizer) -> None:
    genuine = waiting_room.access_token()
    public_pem = waiting_room.app.extensions["waitingroom"].signer.current_public_pem()
    forged = forge.hs256_with_public_key(genuine, public_pem)
    header, payload, signature = forge.parts(forged)
    relabelled = forge.compact({**header, "alg": "RS256"}, payload, signature)
    assert_denied(authorizer(rest_token(relabelled), None))


def test_a_token_from_another_event_is_allowed_when_that_event_is_configured(waiting_room: RunningRoom) -> None:
    authorizer = LambdaAuthorizer(waiting_room.config(audience=(EVENT, OTHER_EVENT)))
    answer = authorizer(rest_token(waiting_room.access_token(OTHER_EVENT)), None)
    assert statement(answer)["Effect"] == "Allow"
    assert answer["context"]["event_id"] == OTHER_EVENT


# -- policy scoping ----------------------------------------------------------------------------


def test_policy_scope_never_widens_past_the_api() -> None:
    arn = "arn:aws:execute-api:eu-west-1:123456789012:abcdef123/prod/POST/orders/42"
    assert policy_resource(arn, "method") == arn
    assert policy_resource(arn, "stage") == "arn:aws:execute-api:eu-west-1:123456789012:abcdef123/prod/*"
    assert policy_resource(arn, "api") == "arn:aws:execute-api:eu-west-1:123456789012:abcdef123/*"
    assert policy_resource("not-an-arn", "stage") == "not-an-arn"


def test_stage_scope_in_answers(waiting_room: RunningRoom) -> None:
    authorizer = LambdaAuthorizer(waiting_room.config(policy_scope="stage"))
    wildcard = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*"
    assert_allowed(authorizer(rest_token(waiting_room.access_token()), None), waiting_room, wildcard)
    assert_denied(authorizer(rest_token("x.y.z"), None), wildcard)


# -- robustness: nothing but Unauthorized ever escapes -----------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"type": "TOKEN", "authorizationToken": "a.b.c"},  # no methodArn
        {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": {"Authorization": 12}},
        {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": None, "multiValueHeaders": {"Cookie": None}},
        {"version": "2.0", "routeArn": ROUTE_ARN, "cookies": [None, 3], "headers": []},
    ],
)
def test_odd_events_never_raise_anything_but_unauthorized(authorizer: LambdaAuthorizer, event: dict[str, Any]) -> None:
    try:
        answer = authorizer(event, None)
    except Exception as exc:
        assert str(exc) == "Unauthorized"
    else:
        assert answer.get("isAuthorized") is False or statement(answer)["Effect"] == "Deny"


def test_a_crash_inside_the_verifier_denies(waiting_room: RunningRoom, caplog: pytest.LogCaptureFixture) -> None:
    authorizer = LambdaAuthorizer(waiting_room.config())

    def explode(token: str) -> dict[str, Any]:
        raise RuntimeError("boom " + token)

    authorizer.verifier.verify = explode  # type: ignore[method-assign]
    token = waiting_room.access_token()
    assert_denied(authorizer(rest_token(token), None))
    assert token not in caplog.text


# -- the Lambda entry point, configured from the environment ----------------------------------


def test_handler_reads_its_configuration_from_the_environment(waiting_room: RunningRoom,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAITINGROOM_ISSUER", waiting_room.url + "/")
    monkeypatch.setenv("WAITINGROOM_EVENT_ID", EVENT)
    monkeypatch.setenv("WAITINGROOM_TOKEN_COOKIE", "wr")
    lambda_handler.reset()
    try:
        token = waiting_room.access_token()
        assert_allowed(lambda_handler.handler(rest_request({"Cookie": f"wr={token}"}), None), waiting_room)
        assert_denied(lambda_handler.handler(rest_token(forge.tampered(token)), None))
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            lambda_handler.handler(rest_request(), None)
    finally:
        lambda_handler.reset()


def test_handler_denies_everything_when_misconfigured(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("WAITINGROOM_ISSUER", raising=False)
    monkeypatch.delenv("WAITINGROOM_EVENT_ID", raising=False)
    lambda_handler.reset()
    try:
        assert_denied(lambda_handler.handler(rest_token("Bearer a.b.c"), None))
        assert lambda_handler.handler(http_api_v2({"Authorization": "Bearer a.b.c"}), None) == {"isAuthorized": False}
        assert "WAITINGROOM_ISSUER is required" in caplog.text
    finally:
        lambda_handler.reset()
