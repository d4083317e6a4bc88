"""Revocation: a session the site ended is refused, asked of an HTTP endpoint that reads the real room."""

from __future__ import annotations

from typing import Any

import pytest

from authorizer.lambda_handler import LambdaAuthorizer
from authorizer.session_status import SessionStatusClient
from core.tokens import TokenError

from .conftest import RunningRoom, Served
from .events import rest_token
from .support import FakeMonotonic


def template(endpoint: Served) -> str:
    return endpoint.url + "/session_status?event_id={event_id}&jti={jti}"


def effect(answer: dict[str, Any]) -> str:
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


@pytest.mark.parametrize("ending", ["completed", "abandoned"])
def test_an_ended_session_is_denied(waiting_room: RunningRoom, session_status: Served, ending: str) -> None:
    authorizer = LambdaAuthorizer(waiting_room.config(session_status_url=template(session_status),
                                                      session_status_ttl=0))
    issued, request_id = waiting_room.tokens()
    assert effect(authorizer(rest_token(issued.access_token), None)) == "Allow"
    waiting_room.room.end_session("spring-sale", request_id, ending)
    assert effect(authorizer(rest_token(issued.access_token), None)) == "Deny"
    assert session_status.count("/session_status") == 2


def test_answers_are_cached_and_endings_are_final(waiting_room: RunningRoom, session_status: Served) -> None:
    clock = FakeMonotonic()
    client = SessionStatusClient(template(session_status), ttl=10, clock=clock)
    issued, request_id = waiting_room.tokens()
    claims = {"jti": issued.ticket.session.jti, "event_id": "spring-sale",  # type: ignore[union-attr]
              "exp": issued.ticket.session.expires_at}  # type: ignore[union-attr]
    for _ in range(5):
        client.check(claims)
    assert session_status.count("/session_status") == 1
    waiting_room.room.end_session("spring-sale", request_id, "completed")
    client.check(claims)  # still cached as live: revocation takes effect within the TTL
    clock.advance(10)
    with pytest.raises(TokenError, match="session completed"):
        client.check(claims)
    assert session_status.count("/session_status") == 2
    clock.advance(600)  # the ending is remembered until the token expires: no more questions
    with pytest.raises(TokenError, match="session completed"):
        client.check(claims)
    assert session_status.count("/session_status") == 2


def test_an_unknown_session_is_denied(waiting_room: RunningRoom, session_status: Served) -> None:
    client = SessionStatusClient(template(session_status), ttl=10)
    with pytest.raises(TokenError, match="unknown"):
        client.check({"jti": "never-issued", "event_id": "spring-sale", "exp": 0})


def test_an_unreachable_endpoint_fails_closed_unless_told_otherwise(waiting_room: RunningRoom) -> None:
    dead = "http://127.0.0.1:9/session_status?jti={jti}"
    token = waiting_room.access_token()
    closed = LambdaAuthorizer(waiting_room.config(session_status_url=dead, http_timeout=1))
    assert effect(closed(rest_token(token), None)) == "Deny"
    open_ = LambdaAuthorizer(waiting_room.config(session_status_url=dead, http_timeout=1,
                                                 session_status_fail_open=True))
    assert effect(open_(rest_token(token), None)) == "Allow"


def test_the_template_quotes_claims() -> None:
    client = SessionStatusClient("https://wr.example/s/{sub}?jti={jti}&event={event_id}")
    url = client.url_for({"sub": "t_a/b", "jti": "x&y=z", "event_id": "e 1"})
    assert url == "https://wr.example/s/t_a%2Fb?jti=x%26y%3Dz&event=e%201"
