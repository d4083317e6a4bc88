"""The Lambda entry points, driven with event documents of the shapes AWS sends."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify, make_response, request

from core.errors import StoreUnavailable
from core.room import new_request_id
from oidc_adaptor.entrypoints import lambda_handlers
from tests.support import RoundTrips

EVENTS = Path(__file__).parent / "events"
REGION = "eu-west-1"

CONFIG = """
[server]
issuer = "https://wait.example"
admin_keys = ["test-admin-key"]

[events.spring-sale]
name = "Spring sale"
queue_position_expiry = 60
admission = { strategy = "periodic", increment_by = 2, every = 1 }

[events.quiet]
"""


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


class Context:
    function_name = "waitingroom-http"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "waitingroom.toml"
    config.write_text(CONFIG)
    return {"WAITINGROOM_CONFIG": str(config), "WAITINGROOM_STORE": f"sqlite:///{tmp_path}/state.db",
            "WAITINGROOM_KEYS_FILE": str(tmp_path / "keys.json")}


@pytest.fixture
def app(environ: dict[str, str]) -> Iterator[Flask]:
    """The cached app of the handlers, with two test routes added before its first request."""
    lambda_handlers.reset(environ)
    app = lambda_handlers.get_app()

    @app.get("/echo")
    def echo() -> Any:
        response = make_response(jsonify(
            tags=request.args.getlist("tag"), event_id=request.args.get("event_id"),
            cookies=dict(request.cookies), scheme=request.scheme, host=request.host))
        response.set_cookie("first", "1", secure=True, httponly=True)
        response.set_cookie("second", "2", secure=True, httponly=True)
        return response

    @app.post("/echo")
    def echo_body() -> Any:
        return jsonify(body=request.get_data(as_text=True), content_type=request.content_type)

    yield app
    lambda_handlers.reset()


def body(response: dict[str, Any]) -> Any:
    raw = response["body"]
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    return json.loads(raw)


# -- HTTP -----------------------------------------------------------------------------------------


def test_rest_api_v1_keeps_cookies_and_multi_value_query(app: Flask) -> None:
    response = lambda_handlers.http_handler(load("apigw_rest_v1.json"), Context())
    assert response["statusCode"] == 200
    cookies = response["multiValueHeaders"]["Set-Cookie"]
    assert [c.split(";")[0] for c in cookies] == ["first=1", "second=2"]
    data = body(response)
    assert data["tags"] == ["x", "y"]
    assert data["cookies"] == {"a": "1", "b": "2"}
    assert data["scheme"] == "https"


def test_http_api_v2_keeps_cookies_and_multi_value_query(app: Flask) -> None:
    response = lambda_handlers.http_handler(load("apigw_http_v2.json"), Context())
    assert response["statusCode"] == 200
    assert [c.split(";")[0] for c in response["cookies"]] == ["first=1", "second=2"]
    assert "set-cookie" not in response["headers"]
    data = body(response)
    assert data["tags"] == ["x", "y"]
    assert data["cookies"] == {"a": "1", "b": "2"}
    assert data["event_id"] == "spring-sale"


def test_alb_with_multi_value_headers(app: Flask) -> None:
    response = lambda_handlers.http_handler(load("alb_multi_value.json"), Context())
    assert response["statusCode"] == 200
    assert [c.split(";")[0] for c in response["multiValueHeaders"]["Set-Cookie"]] == ["first=1", "second=2"]
    assert body(response)["tags"] == ["x", "y"]


def test_alb_single_value_headers_still_return_every_cookie(app: Flask) -> None:
    response = lambda_handlers.http_handler(load("alb.json"), Context())
    assert response["statusCode"] == 200
    cookies = {k: v for k, v in response["headers"].items() if k.lower() == "set-cookie"}
    assert len(cookies) == 2  # two capitalisations of the name, one cookie each
    assert sorted(v.split(";")[0] for v in cookies.values()) == ["first=1", "second=2"]
    assert body(response)["tags"] == ["y"]  # the ALB sends only the last value without multi-value mode


def test_post_body_base64_and_json_errors(app: Flask) -> None:
    event = load("apigw_rest_v1.json")
    event["httpMethod"] = "POST"
    event["isBase64Encoded"] = True
    event["body"] = base64.b64encode(b'{"event_id": "spring-sale"}').decode()
    event["multiValueHeaders"]["Content-Type"] = ["application/json"]
    response = lambda_handlers.http_handler(event, Context())
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is False  # JSON goes back as text
    assert body(response) == {"body": '{"event_id": "spring-sale"}', "content_type": "application/json"}

    missing = load("apigw_http_v2.json")
    missing["rawPath"] = missing["requestContext"]["http"]["path"] = "/no/such/path"
    response = lambda_handlers.http_handler(missing, Context())
    assert response["statusCode"] == 404
    assert body(response)["error"] == "not_found"


def test_app_is_built_once_per_environment(app: Flask) -> None:
    for _ in range(3):
        lambda_handlers.http_handler(load("apigw_http_v2.json"), Context())
    assert lambda_handlers.get_app() is app


# -- SQS ------------------------------------------------------------------------------------------


def sqs_event(messages: list[tuple[str, Any]]) -> dict[str, Any]:
    template = load("sqs.json")["Records"][0]
    records = []
    for message_id, payload in messages:
        record = copy.deepcopy(template)
        record["messageId"] = message_id
        record["body"] = payload if isinstance(payload, str) else json.dumps(payload)
        records.append(record)
    return {"Records": records}


def rid(n: int) -> str:
    return f"request-{n:04d}-0123456789abcdef"


def test_sqs_consumer_assigns_positions_in_order_and_idempotently(app: Flask) -> None:
    room = app.extensions["waitingroom"].room
    batch = sqs_event([(f"m{n}", {"event_id": "spring-sale", "request_id": rid(n)}) for n in range(1, 6)])
    assert lambda_handlers.sqs_handler(batch, Context()) == {"batchItemFailures": []}
    assert [room.ticket("spring-sale", rid(n)).position for n in range(1, 6)] == [1, 2, 3, 4, 5]

    # the whole batch is delivered again (the consumer timed out after its work): nothing changes
    assert lambda_handlers.sqs_handler(batch, Context()) == {"batchItemFailures": []}
    assert room.counters("spring-sale").last_position == 5

    # a client's own idempotency key: a second request id for the same key gets no second place
    retried = sqs_event([
        ("k1", {"event_id": "spring-sale", "request_id": rid(6), "idempotency_key": "client-key-0123456789abcdef"}),
        ("k2", {"event_id": "spring-sale", "request_id": rid(7), "idempotency_key": "client-key-0123456789abcdef"}),
        ("k3", {"event_id": "spring-sale", "request_id": rid(8)}),
    ])
    assert lambda_handlers.sqs_handler(retried, Context()) == {"batchItemFailures": []}
    assert room.ticket("spring-sale", rid(6)).position == 6
    assert room.ticket("spring-sale", rid(8)).position == 7
    assert room.counters("spring-sale").last_position == 7


def test_sqs_consumer_reports_partial_failures(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    room = app.extensions["waitingroom"].room
    batch = sqs_event([
        ("ok-1", {"event_id": "spring-sale", "request_id": rid(1)}),
        ("bad-json", "{not json"),
        ("unknown-event", {"event_id": "nope", "request_id": rid(2)}),
        ("bad-id", {"event_id": "spring-sale", "request_id": "short"}),
        ("ok-2", {"event_id": "spring-sale", "request_id": rid(3)}),
    ])
    result = lambda_handlers.sqs_handler(batch, Context())
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["bad-json", "unknown-event", "bad-id"]
    assert room.ticket("spring-sale", rid(3)).position == 2  # no gap for the rejected ones

    store = room.store
    real_enter_many = store.enter_many

    def dying_enter_many(event_id: str, entries: list[tuple[str, str | None]], now: float) -> Any:
        real_enter_many(event_id, entries[:2], now)  # the store went away after two of the batch
        raise StoreUnavailable("connection reset")

    monkeypatch.setattr(store, "enter_many", dying_enter_many)
    batch = sqs_event([(f"s{n}", {"event_id": "spring-sale", "request_id": rid(10 + n)}) for n in range(4)])
    result = lambda_handlers.sqs_handler(batch, Context())
    # the whole batch is redelivered: the entered ones find their places, the rest follow in order
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["s0", "s1", "s2", "s3"]
    monkeypatch.setattr(store, "enter_many", real_enter_many)
    redelivered = sqs_event([(f"s{n}", {"event_id": "spring-sale", "request_id": rid(10 + n)}) for n in range(4)])
    assert lambda_handlers.sqs_handler(redelivered, Context()) == {"batchItemFailures": []}
    assert [room.ticket("spring-sale", rid(10 + n)).position for n in range(4)] == [3, 4, 5, 6]
    assert room.counters("spring-sale").last_position == 6


def test_sqs_consumer_enters_each_event_of_a_batch_with_one_store_call(
    app: Flask, monkeypatch: pytest.MonkeyPatch,
) -> None:
    room = app.extensions["waitingroom"].room
    store = room.store
    calls: list[tuple[str, int]] = []
    real_enter_many = store.enter_many

    def counting(event_id: str, entries: list[tuple[str, str | None]], now: float) -> Any:
        calls.append((event_id, len(entries)))
        if event_id == "quiet" and len(calls) > 2:
            raise StoreUnavailable("connection reset")
        return real_enter_many(event_id, entries, now)

    monkeypatch.setattr(store, "enter_many", counting)
    events = ["spring-sale", "quiet", "spring-sale", "bad", "quiet", "spring-sale"]
    batch = sqs_event([(f"m{n}", {"event_id": e, "request_id": rid(n)} if e != "bad" else "{")
                       for n, e in enumerate(events)])
    assert lambda_handlers.sqs_handler(batch, Context()) == {"batchItemFailures": [{"itemIdentifier": "m3"}]}
    assert calls == [("spring-sale", 3), ("quiet", 2)]
    assert [room.ticket("spring-sale", rid(n)).position for n in (0, 2, 5)] == [1, 2, 3]
    assert [room.ticket("quiet", rid(n)).position for n in (1, 4)] == [1, 2]

    # a failing store call returns its event's messages and those of the events after it
    batch = sqs_event([(f"n{n}", {"event_id": e, "request_id": rid(10 + n)})
                       for n, e in enumerate(["quiet", "spring-sale", "quiet"])])
    result = lambda_handlers.sqs_handler(batch, Context())
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["n0", "n1", "n2"]
    assert room.counters("spring-sale").last_position == 3


def test_sqs_consumer_enters_a_batch_in_one_redis_round_trip(
    environ: dict[str, str], redis_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    lambda_handlers.reset({**environ, "WAITINGROOM_STORE": redis_url})
    try:
        room = lambda_handlers.get_app().extensions["waitingroom"].room
        room.store.client.flushdb()
        warm_up = sqs_event([("w", {"event_id": "spring-sale", "request_id": rid(99)})])
        assert lambda_handlers.sqs_handler(warm_up, Context()) == {"batchItemFailures": []}
        trips = RoundTrips(room.store.client, monkeypatch)
        batch = sqs_event([(f"m{n}", {"event_id": "spring-sale", "request_id": rid(n)}) for n in range(10)])
        assert lambda_handlers.sqs_handler(batch, Context()) == {"batchItemFailures": []}
        assert trips.take() == 1
        assert [room.ticket("spring-sale", rid(n)).position for n in range(10)] == list(range(2, 12))
    finally:
        lambda_handlers.reset()


# -- EventBridge schedules ------------------------------------------------------------------------


def test_admission_and_expiry_handlers(app: Flask) -> None:
    room = app.extensions["waitingroom"].room
    for _ in range(5):  # straight into the store: entering through the room may admit at the door
        room.store.enter("spring-sale", new_request_id(), None, room.clock.now())
    result = lambda_handlers.admission_handler(load("eventbridge_scheduled.json"), Context())
    assert result == {"admitted": {"spring-sale": 2, "quiet": 0}}
    assert room.counters("spring-sale").serving == 2
    swept = lambda_handlers.expiry_handler(load("eventbridge_scheduled.json"), Context())
    assert swept["swept"]["spring-sale"]["serving"] == 2


def test_admission_handler_ticks_for_its_window(app: Flask, environ: dict[str, str]) -> None:
    lambda_handlers.reset({**environ, "WAITINGROOM_TICK_WINDOW": "2.5", "WAITINGROOM_SCHEDULER_INTERVAL": "1"})
    room = lambda_handlers.get_app().extensions["waitingroom"].room
    for _ in range(10):
        room.enter("spring-sale")
    result = lambda_handlers.admission_handler(load("eventbridge_scheduled.json"), Context())
    assert result["admitted"]["spring-sale"] >= 4  # two or three one-second ticks of 2 visitors
    # a function about to time out stops after one pass
    result = lambda_handlers.admission_handler(load("eventbridge_scheduled.json"), Context(remaining_ms=3000))
    assert result["admitted"]["spring-sale"] <= 2


def test_status_handler_publishes_events_and_metrics(app: Flask, aws: None) -> None:
    import boto3

    room = app.extensions["waitingroom"].room
    for _ in range(3):  # straight into the store: entering through the room may admit at the door
        room.store.enter("spring-sale", new_request_id(), None, room.clock.now())
    room.advance("spring-sale", 1)
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="status-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="status", EventPattern=json.dumps({"source": ["waitingroom"]}))
    events.put_targets(Rule="status", Targets=[{"Id": "q", "Arn": queue_arn}])

    result = lambda_handlers.status_handler(load("eventbridge_scheduled.json"), Context())
    assert result["status"]["spring-sale"]["waiting"] == 2

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    details = {json.loads(m["Body"])["detail"]["event_id"]: json.loads(m["Body"])["detail"] for m in messages}
    assert details["spring-sale"]["serving_counter"] == 1 and details["spring-sale"]["last_position"] == 3
    assert json.loads(messages[0]["Body"])["detail-type"] == "Waiting room status"

    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    metrics = cloudwatch.list_metrics(Namespace="WaitingRoom")["Metrics"]
    names = {(m["MetricName"], m["Dimensions"][0]["Value"]) for m in metrics}
    assert ("Waiting", "spring-sale") in names and ("ActiveSessions", "quiet") in names
    stats = cloudwatch.get_metric_statistics(
        Namespace="WaitingRoom", MetricName="QueueLength", Dimensions=[{"Name": "EventId", "Value": "spring-sale"}],
        StartTime="2000-01-01T00:00:00Z", EndTime="2100-01-01T00:00:00Z", Period=60, Statistics=["Maximum"])
    assert stats["Datapoints"][0]["Maximum"] == 3.0


# -- the first key set, written at deploy time through a CloudFormation custom resource ------------


class CustomResourceResponses:
    """A local HTTP endpoint standing in for the pre-signed S3 ``ResponseURL`` of custom resource
    events: records the JSON each PUT carries (with the path and query CloudFormation gave)."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []  # type: list[dict[str, Any]]
        paths = self.paths = []  # type: list[str]

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def event(self, name: str, **changes: Any) -> dict[str, Any]:
        from urllib.parse import urlsplit

        event = {**load(name), **changes}
        original = urlsplit(event["ResponseURL"])
        event["ResponseURL"] = f"http://127.0.0.1:{self.server.server_port}{original.path}?{original.query}"
        return event

    def __enter__(self) -> CustomResourceResponses:
        import threading

        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_first_key_set_is_written_once_by_the_custom_resource(aws: None) -> None:
    import boto3

    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="keys", SecretString='{"placeholder": "generated by the deployment"}')["ARN"]
    lambda_handlers.reset({"WAITINGROOM_SIGNING_KEYS_SECRET": arn})
    try:
        with CustomResourceResponses() as responses:
            create = responses.event("cloudformation_create.json")
            lambda_handlers.key_rotation_handler(create, Context())
            first = secrets.get_secret_value(SecretId=arn)["SecretString"]
            lambda_handlers.key_rotation_handler(responses.event("cloudformation_create.json", RequestType="Update"),
                                                 Context())
            lambda_handlers.key_rotation_handler(responses.event("cloudformation_create.json", RequestType="Delete"),
                                                 Context())
        assert [r["Status"] for r in responses.received] == ["SUCCESS"] * 3
        assert {r["RequestId"] for r in responses.received} == {create["RequestId"]}
        assert all(r["PhysicalResourceId"] == arn and r["LogicalResourceId"] == "FirstKeySet"
                   for r in responses.received)
        assert responses.paths[0].startswith("/arn%3Aaws%3Acloudformation") and "X-Amz-Signature" in responses.paths[0]
        kids = [key["kid"] for key in json.loads(first)["keys"]]
        assert responses.received[0]["Data"] == {"Kids": ",".join(kids)}
        assert secrets.get_secret_value(SecretId=arn)["SecretString"] == first  # an update keeps the key set
        assert responses.received[2]["Data"] == {}  # a delete leaves the secret to its own stack

        # a failure reaches CloudFormation as FAILED with the reason (instead of an hour's wait)
        lambda_handlers.reset({"WAITINGROOM_SIGNING_KEYS_SECRET": arn + "-gone"})
        with CustomResourceResponses() as responses:
            lambda_handlers.key_rotation_handler(responses.event("cloudformation_create.json"), Context())
        assert responses.received[0]["Status"] == "FAILED"
        assert "could not write the first key set" in responses.received[0]["Reason"]
    finally:
        lambda_handlers.reset()


# -- the whole AWS wiring: DynamoDB store, Secrets Manager keys, SQS queue --------------------------


def test_build_app_on_aws_services(environ: dict[str, str], aws: None) -> None:
    import boto3

    from core.adapters.dynamodb import create_table

    create_table(boto3.client("dynamodb", region_name=REGION), "state")
    secrets = boto3.client("secretsmanager", region_name=REGION)
    key_secret = secrets.create_secret(Name="keys", SecretString='{"placeholder": "replaced at deploy time"}')["ARN"]
    auth_secret = secrets.create_secret(Name="auth", SecretString=json.dumps({"password": "s3cr/t"}))["ARN"]
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="assign")["QueueUrl"]
    aws_environ = {
        **environ,
        "WAITINGROOM_STORE": "dynamodb://state?region=eu-west-1&kv_table={auth_token}",
        "WAITINGROOM_STORE_AUTH_SECRET": auth_secret,
        "WAITINGROOM_SIGNING_KEYS_SECRET": key_secret,
        "WAITINGROOM_ASSIGN_QUEUE_URL": queue_url,
    }
    lambda_handlers.reset(aws_environ)
    try:
        with pytest.raises(StoreUnavailable, match="holds no key set"):  # the functions only read the key set
            lambda_handlers.get_app()
        # ... which the rotation function writes at deploy time, called by CloudFormation
        with CustomResourceResponses() as responses:
            lambda_handlers.key_rotation_handler(responses.event("cloudformation_create.json"), Context())
        assert responses.received[0]["Status"] == "SUCCESS"
        app = lambda_handlers.get_app()
        services = app.extensions["waitingroom"]
        assert services.store.kv_table == "s3cr/t"  # the auth token went into the URL (quoted, then parsed)
        services.store.kv_table = "state"  # a real table from here on: queued entry remembers ids there
        assert len(services.signer.jwks()["keys"]) == 1  # the first key set, from the secret

        # POST /assign_queue_num answers 200 with the request id at once (as the AWS API does) and
        # leaves the entry in the SQS queue; GET /queue_num answers 202 until the consumer ran
        client = app.test_client()
        answers = [client.post("/assign_queue_num", json={"event_id": "spring-sale"}) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        request_ids = [a.json["api_request_id"] for a in answers]
        assert services.room.counters("spring-sale").last_position == 0
        pending = client.get("/queue_num", query_string={"event_id": "spring-sale", "request_id": request_ids[0]})
        assert pending.status_code == 202 and pending.json["status"] == "queued"
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        event = sqs_event([(m["MessageId"], m["Body"]) for m in received])
        assert lambda_handlers.sqs_handler(event, Context()) == {"batchItemFailures": []}
        positions = sorted(services.room.ticket("spring-sale", r).position for r in request_ids)
        assert positions == [1, 2, 3]
        entered = client.get("/queue_num", query_string={"event_id": "spring-sale", "request_id": request_ids[0]})
        assert entered.status_code == 200 and entered.json["queue_number"] in (1, 2, 3)

        rotated = lambda_handlers.key_rotation_handler(load("eventbridge_scheduled.json"), Context())
        assert len(rotated["kids"]) == 2
    finally:
        lambda_handlers.reset()


# -- only requests through the CDN: the X-Origin-Verify header ------------------------------------


def test_requests_without_the_cdn_header_are_refused(environ: dict[str, str], aws: None) -> None:
    import boto3

    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="origin", SecretString="first-origin-secret-value")["ARN"]
    lambda_handlers.reset({**environ, "WAITINGROOM_ORIGIN_SECRET": arn})
    try:
        app = lambda_handlers.get_app()
        verifier = app.extensions["waitingroom_origin_verifier"]

        def call(header: str | None) -> dict[str, Any]:
            event = load("apigw_rest_v1.json")
            event["path"] = event["requestContext"]["path"] = "/serving_num"
            event["multiValueQueryStringParameters"] = {"event_id": ["spring-sale"]}
            event["queryStringParameters"] = {"event_id": "spring-sale"}
            if header is not None:
                event["headers"]["X-Origin-Verify"] = header
                event["multiValueHeaders"]["X-Origin-Verify"] = [header]
            return lambda_handlers.http_handler(event, Context())

        around = call(None)
        assert around["statusCode"] == 403 and body(around)["error"] == "forbidden"
        assert call("a-guess")["statusCode"] == 403
        assert call("first-origin-secret-value")["statusCode"] == 200

        # rotation: the secret gets a new value; once the CDN sends it, both values are accepted
        secrets.put_secret_value(SecretId=arn, SecretString="second-origin-secret-value")
        verifier._fetched_at -= 120  # the refresh interval has passed
        assert call("second-origin-secret-value")["statusCode"] == 200
        assert call("first-origin-secret-value")["statusCode"] == 200  # edges still sending the old value
        assert call("a-guess")["statusCode"] == 403  # and nothing else
    finally:
        lambda_handlers.reset()


def test_a_new_execution_environment_accepts_the_value_the_cdn_still_sends(
        environ: dict[str, str], aws: None) -> None:
    """Between ``put-secret-value`` and the deploy that makes CloudFront send the new value (and
    while the distribution's change reaches every edge), CloudFront sends the previous value: a
    function instance that starts then must accept it as well as the new one."""
    import boto3

    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="origin-rotated", SecretString="first-origin-secret-value")["ARN"]
    secrets.put_secret_value(SecretId=arn, SecretString="second-origin-secret-value")
    lambda_handlers.reset({**environ, "WAITINGROOM_ORIGIN_SECRET": arn})
    try:
        verifier = lambda_handlers.get_app().extensions["waitingroom_origin_verifier"]
        assert verifier.verify("first-origin-secret-value")  # what the distribution still sends
        assert verifier.verify("second-origin-secret-value")  # what it sends after the deploy
        assert not verifier.verify("a-guess")
    finally:
        lambda_handlers.reset()
