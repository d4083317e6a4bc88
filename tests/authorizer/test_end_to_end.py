"""The whole journey over HTTP only: enter the line, get admitted, take a token, pass the authorizer."""

from __future__ import annotations

from typing import Any

import requests

from authorizer.lambda_handler import LambdaAuthorizer

from .conftest import EVENT, RunningRoom
from .events import http_api_v2, rest_request

ADMIN = {"Authorization": "Bearer test-admin-key"}


def post(room: RunningRoom, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    response = requests.post(room.url + path, json=body, headers=headers or {}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_visitor_admitted_over_http_passes_the_authorizer(waiting_room: RunningRoom) -> None:
    entered = post(waiting_room, "/assign_queue_num", {"event_id": EVENT})
    post(waiting_room, "/admin/increment_serving_counter", {"event_id": EVENT, "increment_by": 1}, ADMIN)
    tokens = post(waiting_room, "/generate_token", {"event_id": EVENT, "request_id": entered["request_id"]})

    # The revocation check asks the waiting room's own GET /session_status, over HTTP.
    authorizer = LambdaAuthorizer(waiting_room.config(
        session_status_url=waiting_room.url + "/session_status?event_id={event_id}&jti={jti}",
        session_status_ttl=0,
    ))
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    answer = authorizer(rest_request(bearer), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert answer["context"]["queue_position"] == entered["queue_number"]
    assert authorizer(http_api_v2(bearer), None)["isAuthorized"] is True

    # The site reports the visitor done through the admin API: the same token is now refused.
    post(waiting_room, "/admin/update_session",
         {"event_id": EVENT, "request_id": entered["request_id"], "status": "completed"}, ADMIN)
    assert authorizer(rest_request(bearer), None)["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert authorizer(http_api_v2(bearer), None) == {"isAuthorized": False}
