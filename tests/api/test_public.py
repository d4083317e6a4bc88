"""The public REST API through the Flask test client (every response is checked against openapi.json)."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.clock import ManualClock

from .conftest import EVENT, advance, build_app, enter

RETRY_KEY = "k-1-retry-key-0123456789"  # an idempotency key with room for 128 random bits

UNKNOWN_RID = "A" * 32


def test_enter_hands_out_consecutive_positions_as_numbers(client: FlaskClient) -> None:
    first, second = enter(client), enter(client)
    assert (first["queue_number"], second["queue_number"]) == (1, 2)
    assert first["api_request_id"] == first["request_id"] != second["request_id"]
    assert len(first["request_id"]) >= 22  # >= 128 bits, URL-safe
    assert first["status"] == "waiting" and isinstance(first["entry_time"], int)


@pytest.mark.parametrize("where", ["header", "body"])
def test_enter_with_idempotency_key_returns_the_same_place(client: FlaskClient, where: str) -> None:
    def send() -> dict[str, object]:
        if where == "header":
            r = client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": RETRY_KEY})
        else:
            r = client.post("/assign_queue_num", json={"event_id": EVENT, "idempotency_key": RETRY_KEY})
        assert r.status_code == 200
        return dict(r.json)

    first, retry = send(), send()
    assert retry == first
    assert enter(client)["queue_number"] == 2


def test_conflicting_idempotency_keys_are_rejected(client: FlaskClient) -> None:
    r = client.post("/assign_queue_num", json={"event_id": EVENT, "idempotency_key": "a"},
                    headers={"Idempotency-Key": "b"})
    assert r.status_code == 400 and r.json["error"] == "bad_request"


def test_overlong_idempotency_key_is_rejected(client: FlaskClient) -> None:
    r = client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": "k" * 129})
    assert r.status_code == 400


@pytest.mark.parametrize("key", ["a", "k-1", "x" * 21, "0123456789abcdef0123456789abcde",  # 31 hex digits
                                 "1234567890123456789012", "0123-4567-89ab-cdef-0123-4567-89ab-cde",
                                 "key with spaces and more than 22", "kéy-0123456789abcdefghij"])
def test_guessable_idempotency_keys_are_refused(client: FlaskClient, key: str) -> None:
    """A repeated key returns the first request's place and request id, so a key must be as hard
    to guess as that secret: a short key would let anyone who guesses it take someone's place."""
    holder = client.post("/assign_queue_num", json={"event_id": EVENT}).json
    for r in (client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": key}),
              client.post("/assign_queue_num", json={"event_id": EVENT, "idempotency_key": key})):
        assert r.status_code == 400 and r.json["error"] == "invalid_argument", key
        assert "128" in r.json["message"] and holder["request_id"] not in r.get_data(as_text=True)


KEY_MAKERS = {  # made per test, not at collection: pytest-xdist workers must collect the same ids
    "uuid4": lambda: str(uuid.uuid4()),
    "urlsafe-22": lambda: secrets.token_urlsafe(16),
    "hex-32": lambda: secrets.token_hex(16),
    "hex-32-upper": lambda: uuid.uuid4().hex.upper(),
    "urlsafe-128": lambda: secrets.token_urlsafe(96),
}


@pytest.mark.parametrize("kind", sorted(KEY_MAKERS))
def test_keys_with_128_random_bits_are_accepted(client: FlaskClient, kind: str) -> None:
    key = KEY_MAKERS[kind]()
    first = client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": key})
    again = client.post("/assign_queue_num", json={"event_id": EVENT}, headers={"Idempotency-Key": key})
    assert first.status_code == 200 and again.json["request_id"] == first.json["request_id"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"spring-sale"', "JSON object"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 100_00 + b"]" * 100_00, ""),
        (b"{}", "'event_id' is required"),
        (b'{"event_id": 5}', "must be a string"),
        (b'{"event_id": null}', "required"),
        (b'{"event_id": "a:b"}', "not a valid event id"),
        (b'{"event_id": "spring-sale", "idempotency_key": 7}', "must be a string"),
    ],
)
def test_malformed_enter_bodies_get_400(client: FlaskClient, data: bytes, message: str) -> None:
    r = client.post("/assign_queue_num", data=data, content_type="application/json")
    assert r.status_code in (400, 413), r.json
    assert set(r.json) == {"error", "message"}
    assert message in r.json["message"]
    assert client.get("/waiting_num", query_string={"event_id": EVENT}).json["waiting_num"] == 0


def test_oversized_body_gets_413_json(client: FlaskClient) -> None:
    r = client.post("/assign_queue_num", data=b'{"event_id": "' + b"x" * 40_000 + b'"}',
                    content_type="application/json")
    assert r.status_code == 413
    assert r.json["error"] == "request_entity_too_large"


def test_unknown_event_gets_404(client: FlaskClient) -> None:
    r = client.post("/assign_queue_num", json={"event_id": "other-sale"})
    assert r.status_code == 404 and r.json["error"] == "unknown_event"
    r = client.get("/serving_num", query_string={"event_id": "other-sale"})
    assert r.status_code == 404


def test_queue_num_reports_position_serving_and_people_ahead(client: FlaskClient) -> None:
    places = [enter(client) for _ in range(4)]
    advance(client, 1)
    r = client.get("/queue_num", query_string={"event_id": EVENT, "request_id": places[3]["request_id"]})
    assert r.status_code == 200
    assert r.json == {"event_id": EVENT, "queue_number": 4, "serving_counter": 1, "ahead": 2,
                      "status": "waiting", "entry_time": places[3]["entry_time"]}
    r = client.get("/queue_num", query_string={"event_id": EVENT, "request_id": places[0]["request_id"]})
    assert r.json["status"] == "admitted" and r.json["ahead"] == 0


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"event_id": EVENT}, 400),
        ({"request_id": UNKNOWN_RID}, 400),
        ({"event_id": EVENT, "request_id": "short"}, 400),
        ({"event_id": EVENT, "request_id": "x" * 22 + "!"}, 400),
        ({"event_id": "{bad}", "request_id": UNKNOWN_RID}, 400),
        ({"event_id": EVENT, "request_id": UNKNOWN_RID}, 404),
        ({"event_id": "nope", "request_id": UNKNOWN_RID}, 404),
    ],
)
def test_queue_num_input_errors(client: FlaskClient, query: dict[str, str], status: int) -> None:
    for path in ("/queue_num", "/queue_pos_expiry"):
        r = client.get(path, query_string=query)
        assert r.status_code == status, (path, r.json)


def test_repeated_query_parameter_is_rejected(client: FlaskClient) -> None:
    r = client.get("/serving_num?event_id=spring-sale&event_id=other")
    assert r.status_code == 400


def test_serving_and_waiting_numbers_are_json_numbers(client: FlaskClient) -> None:
    for _ in range(5):
        enter(client)
    advance(client, 2)
    query = {"event_id": EVENT}
    assert client.get("/serving_num", query_string=query).json == {"event_id": EVENT, "serving_counter": 2}
    assert client.get("/waiting_num", query_string=query).json == {"event_id": EVENT, "waiting_num": 3}
    assert client.get("/serving_num").status_code == 400


def test_a_waiting_visitor_never_gets_a_token(client: FlaskClient) -> None:
    first, second = enter(client), enter(client)
    advance(client, 1)
    for _ in range(3):
        r = client.post("/generate_token", json={"event_id": EVENT, "request_id": second["request_id"]})
        assert r.status_code == 403 and r.json["error"] == "not_admitted"
        assert "access_token" not in r.json
    # nothing a client sends moves the counter: extra fields are ignored
    r = client.post("/generate_token", json={"event_id": EVENT, "request_id": second["request_id"],
                                             "queue_number": 1, "serving_counter": 99})
    assert r.status_code == 403
    r = client.post("/generate_token", json={"event_id": EVENT, "request_id": first["request_id"]})
    assert r.status_code == 200


def test_tokens_are_rs256_with_kid_and_idempotent(client: FlaskClient) -> None:
    place = enter(client)
    advance(client, 1)
    body = {"event_id": EVENT, "request_id": place["request_id"]}
    first = client.post("/generate_token", json=body).json
    again = client.post("/generate_token", json=body).json
    jwks = client.get("/.well-known/jwks.json").json
    header = jwt.get_unverified_header(first["access_token"])
    assert header["alg"] == "RS256" and header["kid"] in {k["kid"] for k in jwks["keys"]}
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"])).key
    claims = jwt.decode(first["access_token"], key, algorithms=["RS256"], audience=EVENT,
                        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})
    again_claims = jwt.decode(again["access_token"], key, algorithms=["RS256"], audience=EVENT,
                              options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})
    assert claims == again_claims
    assert claims["queue_position"] == 1 and claims["token_use"] == "access"
    assert claims["sub"] != place["request_id"]
    assert first["token_type"] == "Bearer" and first["expires_in"] == 3600


def test_generate_token_input_errors(client: FlaskClient) -> None:
    assert client.post("/generate_token", json={"event_id": EVENT}).status_code == 400
    assert client.post("/generate_token", json={"request_id": UNKNOWN_RID}).status_code == 400
    assert client.post("/generate_token", json={"event_id": EVENT, "request_id": 12}).status_code == 400
    r = client.post("/generate_token", json={"event_id": EVENT, "request_id": UNKNOWN_RID})
    assert r.status_code == 404 and r.json["error"] == "unknown_request"


def test_expiry_with_an_injected_clock(app, client: FlaskClient, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    waiting, admitted = enter(client), enter(client)
    query = {"event_id": EVENT, "request_id": waiting["request_id"]}
    r = client.get("/queue_pos_expiry", query_string=query)
    assert r.status_code == 200 and r.json["expires_in"] is None and r.json["status"] == "waiting"

    advance(client, 1)
    query = {"event_id": EVENT, "request_id": waiting["request_id"]}
    r = client.get("/queue_pos_expiry", query_string=query)
    # 60 s of queue_position_expiry plus the 2 s allowed clock skew between workers
    assert r.json["status"] == "admitted" and r.json["expires_in"] == 62
    clock.advance(45)
    assert client.get("/queue_pos_expiry", query_string=query).json["expires_in"] == 17
    clock.advance(18)
    r = client.get("/queue_pos_expiry", query_string=query)
    assert r.status_code == 410 and r.json["error"] == "position_expired"
    # refused at once, even before the scheduler's sweep has marked the place expired
    r = client.post("/generate_token", json=query)
    assert r.status_code == 410 and r.json["error"] == "position_expired"

    app.extensions["waitingroom"].room.sweep(EVENT)  # what the scheduler does every second
    r = client.post("/generate_token", json=query)
    assert r.status_code == 410 and r.json["error"] == "position_expired"
    # the expired place was replaced: the next visitor is admitted
    r = client.get("/queue_num", query_string={"event_id": EVENT, "request_id": admitted["request_id"]})
    assert r.json["status"] == "admitted"


def test_tokens_time_out_and_then_are_gone(app, client: FlaskClient, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    place = enter(client)
    advance(client, 1)
    body = {"event_id": EVENT, "request_id": place["request_id"]}
    assert client.post("/generate_token", json=body).status_code == 200
    r = client.get("/queue_pos_expiry", query_string=body)
    assert r.json["status"] == "issued" and r.json["expires_in"] is None
    clock.advance(3601)
    app.extensions["waitingroom"].room.sweep(EVENT)
    r = client.post("/generate_token", json=body)
    assert r.status_code == 410 and r.json["error"] == "session_ended"


def test_expiry_disabled_reports_null(tmp_path: Path, clock: ManualClock) -> None:
    app = build_app(tmp_path, clock, events={EVENT: {"queue_position_expiry": 0}})
    client = app.test_client()
    place = enter(client)
    advance(client, 1)
    clock.advance(10_000)
    r = client.get("/queue_pos_expiry", query_string={"event_id": EVENT, "request_id": place["request_id"]})
    assert r.status_code == 200 and r.json["expires_in"] is None and r.json["queue_position_expiry"] == 0


def test_public_key_as_jwk_and_pem(client: FlaskClient) -> None:
    jwk = client.get("/public_key", query_string={"event_id": EVENT}).json
    assert jwk["kty"] == "RSA" and jwk["kid"] in {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}
    assert client.get("/public_key").status_code == 200
    pem = client.get("/public_key", query_string={"format": "pem"})
    assert pem.status_code == 200 and pem.data.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert client.get("/public_key", query_string={"format": "der"}).status_code == 400
    assert client.get("/public_key", query_string={"event_id": "nope"}).status_code == 404
    assert client.get("/public_key", query_string={"event_id": "a b"}).status_code == 400


def test_jwks_is_cacheable(client: FlaskClient) -> None:
    r = client.get("/.well-known/jwks.json")
    assert r.status_code == 200 and "max-age=300" in r.headers["Cache-Control"]


def test_wrong_method_and_unknown_path_are_json(client: FlaskClient) -> None:
    from .conftest import CheckedClient

    raw = FlaskClient.open  # these responses are not in the document by design
    r = raw(client, "/assign_queue_num", method="GET")
    assert r.status_code == 405 and r.json["error"] == "method_not_allowed" and "POST" in r.headers["Allow"]
    r = raw(client, "/no/such/path")
    assert r.status_code == 404 and set(r.json) == {"error", "message"}
    assert CheckedClient  # imported for the reader: other requests go through the checked client


def test_store_unavailable_gets_503_with_retry_after(down_client: FlaskClient) -> None:
    r = down_client.post("/assign_queue_num", json={"event_id": EVENT})
    assert r.status_code == 503 and r.json["error"] == "store_unavailable"
    assert r.headers["Retry-After"] == "2"
    for path, query in [("/serving_num", {"event_id": EVENT}), ("/waiting_num", {"event_id": EVENT}),
                        ("/queue_num", {"event_id": EVENT, "request_id": UNKNOWN_RID}),
                        ("/queue_pos_expiry", {"event_id": EVENT, "request_id": UNKNOWN_RID})]:
        r = down_client.get(path, query_string=query)
        assert r.status_code == 503 and "Retry-After" in r.headers, path
    r = down_client.post("/generate_token", json={"event_id": EVENT, "request_id": UNKNOWN_RID})
    assert r.status_code == 503


class TestCors:
    def test_no_cors_headers_by_default(self, client: FlaskClient) -> None:
        r = client.get("/serving_num", query_string={"event_id": EVENT}, headers={"Origin": "https://shop.example"})
        assert "Access-Control-Allow-Origin" not in r.headers

    def test_configured_origin_is_allowed_and_preflight_answered(self, tmp_path: Path, clock: ManualClock) -> None:
        app = build_app(tmp_path, clock, server={"cors_origins": ["https://shop.example"]})
        client = app.test_client()
        # (/queue_num: the public cacheable counters allow every origin, tests/api/test_event_status.py)
        mine = {"event_id": EVENT, "request_id": UNKNOWN_RID}
        r = client.get("/queue_num", query_string=mine, headers={"Origin": "https://shop.example"})
        assert r.headers["Access-Control-Allow-Origin"] == "https://shop.example"
        assert "Origin" in r.headers["Vary"]
        r = client.options("/assign_queue_num", headers={
            "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, idempotency-key"})
        assert r.status_code == 200
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert "Idempotency-Key" in r.headers["Access-Control-Allow-Headers"]
        r = client.get("/queue_num", query_string=mine, headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in r.headers
        # errors carry the CORS headers too, so browsers can read them
        r = client.get("/serving_num", query_string={"event_id": "nope"}, headers={"Origin": "https://shop.example"})
        assert r.status_code == 404 and r.headers["Access-Control-Allow-Origin"] == "https://shop.example"

    def test_admin_api_never_answers_cors(self, tmp_path: Path, clock: ManualClock) -> None:
        app = build_app(tmp_path, clock, server={"cors_origins": ["*"]})
        r = app.test_client().get("/admin/events", headers={"Origin": "https://shop.example",
                                                              "Authorization": "Bearer test-admin-key"})
        assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers


def test_hot_path_answers_are_byte_for_byte_what_jsonify_writes(app: Flask, client: FlaskClient) -> None:
    entered = client.post("/assign_queue_num", json={"event_id": EVENT})
    place = entered.get_json()
    polled = client.get("/queue_num", query_string={"event_id": EVENT, "request_id": place["request_id"]})
    serving = client.get("/serving_num", query_string={"event_id": EVENT})
    waiting = client.get("/waiting_num", query_string={"event_id": EVENT})
    with app.app_context():
        for response in (entered, polled, serving, waiting):
            assert response.mimetype == "application/json"
            assert response.data == app.json.response(response.get_json()).get_data()  # type: ignore[attr-defined]
