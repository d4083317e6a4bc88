"""AWS Lambda entry points: the same Flask app and the same use cases as ``waitingroom serve``.

``http_handler``
    The Flask app behind API Gateway REST APIs (payload 1.0), HTTP APIs (payload 2.0) and
    Application Load Balancers, through apig-wsgi. apig-wsgi builds the WSGI environ from all
    three event kinds and returns several ``Set-Cookie`` headers (``multiValueHeaders`` for REST
    APIs and ALBs with multi-value headers on, ``cookies`` for HTTP APIs) and multi-value query
    strings intact. aws-wsgi 0.2.7 was tried first: it raises ``KeyError: 'httpMethod'`` on
    HTTP API 2.0 events and keeps only the last ``Set-Cookie``.
``sqs_handler``
    Consumes ``assign_queue_num`` messages (see :mod:`core.adapters.sqs`) in order and reports
    partial batch failures.
``admission_handler`` / ``expiry_handler`` / ``status_handler`` / ``key_rotation_handler``
    EventBridge scheduled jobs.

The app is built on the first invocation and reused while the execution environment lives.
Configuration is the usual ``WAITINGROOM_*`` environment (see :mod:`core.settings`), plus:

``WAITINGROOM_SETTINGS_JSON``        events and clients as JSON (the TOML tables), instead of a config file
``WAITINGROOM_ADMIN_KEYS_SECRET``     secret holding the admin bearer keys (comma-separated)
``WAITINGROOM_SIGNING_KEYS_SECRET``   Secrets Manager id of the signing key set (else ``keys_file``)
``WAITINGROOM_KEYS_CACHE_SECONDS``    how long a process keeps the key set (default 300)
``WAITINGROOM_STORE_AUTH_SECRET``     secret whose value replaces ``{auth_token}`` in the store URL
                                      (the ElastiCache auth token: ``rediss://:{auth_token}@host:6379/0``)
``WAITINGROOM_ORIGIN_SECRET``         secret the CDN sends as ``X-Origin-Verify``; requests without it get
                                      403 (see :mod:`oidc_adaptor.plumbing.origin_verify`)
``WAITINGROOM_ASSIGN_QUEUE_URL``      SQS queue that buffers ``POST /assign_queue_num``
``WAITINGROOM_STATUS_BUS``            EventBridge bus for status events (default: the default bus)
``WAITINGROOM_METRICS_NAMESPACE``     CloudWatch namespace of the status metrics (default ``WaitingRoom``)
``WAITINGROOM_TICK_WINDOW``           seconds one admission invocation keeps ticking (default 0: one pass)
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from flask import Flask

from core.errors import InvalidArgument, UnknownEvent
from core.settings import Settings

log = logging.getLogger("waitingroom.lambda")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

_lock = threading.Lock()
_app: Flask | None = None
_wsgi_handler: Handler | None = None
_environ: Mapping[str, str] = os.environ


# -- building the app once per execution environment -----------------------------------------


def _secret_string(secret_id: str) -> str:
    import boto3

    value = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    try:  # a generated secret is often JSON like {"password": "..."}; take the one value it holds
        data = json.loads(value)
    except ValueError:
        return str(value)
    if isinstance(data, dict) and len(data) == 1:
        return str(next(iter(data.values())))
    return str(value)


def _load_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from ``WAITINGROOM_SETTINGS_JSON`` (the deployment's events and clients, as the
    TOML file's tables in JSON) or the config file, with ``WAITINGROOM_*`` variables on top."""
    document = environ.get("WAITINGROOM_SETTINGS_JSON")
    if not document:
        return Settings.load(environ=environ)
    from core.settings import _merge_environment

    data = json.loads(document)
    _merge_environment(data, environ)
    return Settings.from_mapping(data, source="WAITINGROOM_SETTINGS_JSON")


def check_configuration(environ: Mapping[str, str]) -> Settings:
    """Validate the configuration a function with ``environ`` would run, without touching AWS.

    The deployment calls this at synth time: it loads the settings exactly as :func:`build_app`
    does and builds the app with them (every check the app makes at start: clients, secret
    hashes, redirect URIs, rates), on an in-memory store and a throwaway signing key instead of
    the deployed ones. Raises :class:`core.settings.SettingsError` (or ``ValueError``) naming
    the key at fault; returns the settings otherwise.
    """
    from core.adapters.sqlite import SqliteStore
    from core.tokens import KeySet, SigningKey
    from oidc_adaptor.app import create_app

    settings = _load_settings(environ)
    store = SqliteStore(":memory:")
    try:
        create_app(settings, store=store, keyset=KeySet([SigningKey.generate(time.time())]), start_scheduler=False)
    finally:
        store.close()
    return settings


def build_app(environ: Mapping[str, str] | None = None) -> Flask:
    """The Flask app configured from ``environ`` for Lambda (no scheduler thread: EventBridge ticks)."""
    from core.adapters.stores import open_store
    from oidc_adaptor.app import create_app

    environ = dict(os.environ if environ is None else environ)
    admin_secret = environ.get("WAITINGROOM_ADMIN_KEYS_SECRET")
    if admin_secret:  # the admin API's bearer keys, kept out of the function's configuration
        environ["WAITINGROOM_ADMIN_KEYS"] = _secret_string(admin_secret)
    settings = _load_settings(environ)
    store_url = settings.server.store
    auth_secret = environ.get("WAITINGROOM_STORE_AUTH_SECRET")
    if auth_secret and "{auth_token}" in store_url:
        store_url = store_url.replace("{auth_token}", quote(_secret_string(auth_secret), safe=""))
    store = open_store(store_url, timeout=settings.server.store_timeout,
                       allow_redis_eviction=settings.server.allow_redis_eviction)
    keyset = None
    key_secret = environ.get("WAITINGROOM_SIGNING_KEYS_SECRET")
    if key_secret:
        from core.adapters.secrets import SecretsManagerKeySource

        source = SecretsManagerKeySource(key_secret, ttl=float(environ.get("WAITINGROOM_KEYS_CACHE_SECONDS", "300")))
        # Read only: the first key set is written at deploy time by the key rotation function (see
        # key_rotation_handler), the only one allowed to write it. A secret without one fails here.
        source()
        keyset = source
    app = create_app(settings, store=store, keyset=keyset, start_scheduler=False)
    origin_secret = environ.get("WAITINGROOM_ORIGIN_SECRET")
    if origin_secret:
        from oidc_adaptor.plumbing import origin_verify

        origin_verify.init_app(app, origin_verify.OriginVerifier(lambda: _secret_string(origin_secret)))
    queue_url = environ.get("WAITINGROOM_ASSIGN_QUEUE_URL")
    if queue_url:
        from core.adapters.sqs import SqsEnqueuer

        # POST /assign_queue_num looks for this and, when present, queues instead of entering.
        app.extensions["waitingroom_enqueuer"] = SqsEnqueuer(queue_url)
    return app


def get_app() -> Flask:
    """The app of this execution environment, built on first use."""
    global _app
    if _app is None:
        with _lock:
            if _app is None:
                _app = build_app(_environ)
    return _app


def reset(environ: Mapping[str, str] | None = None) -> None:
    """Forget the cached app (tests, or after a configuration change); optionally use ``environ``."""
    global _app, _wsgi_handler, _environ
    with _lock:
        _app = None
        _wsgi_handler = None
        _environ = os.environ if environ is None else environ


# -- HTTP ---------------------------------------------------------------------------------------


def make_http_handler(app: Any) -> Handler:
    """A Lambda handler serving the WSGI ``app`` for REST API v1, HTTP API v2 and ALB events."""
    from apig_wsgi import make_lambda_handler

    # Binary support on: apig-wsgi base64-encodes only what is not text or JSON by content type.
    return make_lambda_handler(_SingleValueCookies(app), binary_support=True)


def _cookie_header_names() -> Iterator[str]:
    """``Set-Cookie``, then the other capitalisations of it (2**9 in all)."""
    letters = "setcookie"
    for mask in range(2 ** len(letters)):
        cased = [c.upper() if mask >> i & 1 else c for i, c in enumerate(letters)]
        yield "".join(cased[:3]) + "-" + "".join(cased[3:])


class _SingleValueCookies:
    """WSGI middleware that keeps every ``Set-Cookie`` when the event has no multi-value headers.

    An ALB target group without ``lambda.multi_value_headers.enabled`` (or a REST API console
    test without ``multiValueHeaders``) takes one value per header name, so a second
    ``Set-Cookie`` would overwrite the first. Header names are case-insensitive: each further
    cookie goes out under another capitalisation of the name, and every one reaches the browser.
    HTTP API (2.0) responses are unaffected: apig-wsgi moves every ``set-cookie`` to ``cookies``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("apig_wsgi.multi_value_headers", True):
            return self.app(environ, start_response)

        def fold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            names = _cookie_header_names()
            folded = [(next(names), v) if k.lower() == "set-cookie" else (k, v) for k, v in headers]
            return start_response(status, folded, exc_info)

        return self.app(environ, fold)


def http_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for API Gateway (REST and HTTP APIs) and ALB events."""
    global _wsgi_handler
    if _wsgi_handler is None:
        _wsgi_handler = make_http_handler(get_app())
    return _wsgi_handler(event, context)


# -- SQS: assign_queue_num -----------------------------------------------------------------------


def process_assign_records(room: Any, records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Enter each message's visitor, in the order given; return message ids to redeliver.

    The messages of one event are entered with one store call (:meth:`core.room.WaitingRoom.enter_many`:
    one round trip on Redis). Idempotent per message: entering uses the message's idempotency
    key (the request id unless the client sent its own), so a redelivered message finds the
    place handed out the first time. When the store fails, every message of that call and of
    the events after it is returned: some of them may have been entered, and their redelivery
    finds those places again, while the rest are retried in order, so none is entered out of
    turn. A malformed message, or one for an unknown event, is set aside before the store call
    and returned alone: after the queue's receive limit it lands in the DLQ.
    """
    from core.adapters.sqs import AssignMessage

    failures: list[tuple[int, str]] = []
    by_event: dict[str, list[tuple[int, str, AssignMessage]]] = {}
    for index, record in enumerate(records):
        message_id = str(record.get("messageId", ""))
        try:
            message = AssignMessage.from_json(str(record.get("body", "")))
            room.check_entry(message.event_id, message.request_id, message.effective_key)
        except (ValueError, UnknownEvent, InvalidArgument) as exc:
            log.error("dropping malformed assign message %s to the DLQ path: %s", message_id, exc)
            failures.append((index, message_id))
            continue
        by_event.setdefault(message.event_id, []).append((index, message_id, message))
    batches = list(by_event.items())
    for number, (event_id, batch) in enumerate(batches):
        try:
            tickets = room.enter_many(event_id, [(m.request_id, m.effective_key) for _, _, m in batch])
        except Exception as exc:  # StoreUnavailable above all; whatever it is, redeliver rather than lose
            retried = [(index, message_id) for _, later in batches[number:] for index, message_id, _ in later]
            log.warning("store failed on the batch of %s (%d messages), retrying it and the %d after it: %s",
                        event_id, len(batch), len(retried) - len(batch), exc)
            failures.extend(retried)
            break
        for ticket in tickets:
            log.info("entered", extra={"event_id": event_id, "position": ticket.position})
    return [message_id for _, message_id in sorted(failures)]


def sqs_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS event source entry point (with ``ReportBatchItemFailures``)."""
    room = get_app().extensions["waitingroom"].room
    failures = process_assign_records(room, event.get("Records", []))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


# -- EventBridge schedules -------------------------------------------------------------------------


def _remaining_seconds(context: Any) -> float:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return getter() / 1000.0 if callable(getter) else float("inf")


def admission_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run every event's admission strategy (and expiry sweep) once per second for the tick window.

    EventBridge schedules fire at most once a minute, so one invocation keeps ticking for
    ``WAITINGROOM_TICK_WINDOW`` seconds (the store's tick claims keep each tick single even if
    invocations overlap), stopping early when the function's time runs short.
    """
    from oidc_adaptor.background.scheduler import AdmissionScheduler

    services = get_app().extensions["waitingroom"]
    scheduler = AdmissionScheduler(services.room, services.settings.server.scheduler_interval)
    window = float(_environ.get("WAITINGROOM_TICK_WINDOW", "0"))
    started = time.monotonic()
    admitted: dict[str, int] = {}
    while True:
        for event_id, count in scheduler.run_once().items():
            admitted[event_id] = admitted.get(event_id, 0) + count
        elapsed = time.monotonic() - started
        if elapsed + scheduler.interval >= window or _remaining_seconds(context) < scheduler.interval + 5:
            break
        time.sleep(scheduler.interval)
    return {"admitted": admitted}


def expiry_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Expire unclaimed places and time out sessions of every event."""
    room = get_app().extensions["waitingroom"].room
    results = {}
    for event_id in room.events:
        result = room.sweep(event_id)
        results[event_id] = {"expired": result.expired, "timed_out": result.timed_out, "serving": result.serving}
    return {"swept": results}


METRICS = {
    "serving_counter": "ServingCounter",
    "last_position": "QueueLength",
    "waiting": "Waiting",
    "active": "ActiveSessions",
    "issued": "TokensIssued",
    "completed": "SessionsCompleted",
    "abandoned": "SessionsAbandoned",
    "expired": "PositionsExpired",
    "timed_out": "SessionsTimedOut",
}


def status_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Publish every event's counters as an EventBridge event and as CloudWatch metrics."""
    import boto3

    room = get_app().extensions["waitingroom"].room
    bus = _environ.get("WAITINGROOM_STATUS_BUS", "default")
    namespace = _environ.get("WAITINGROOM_METRICS_NAMESPACE", "WaitingRoom")
    events_client = boto3.client("events")
    metrics_client = boto3.client("cloudwatch")
    statuses = {}
    entries = []
    metric_data: list[dict[str, Any]] = []
    for event_id in room.events:
        counters = room.counters(event_id).as_dict()
        statuses[event_id] = counters
        entries.append({"Source": "waitingroom", "DetailType": "Waiting room status", "EventBusName": bus,
                        "Detail": json.dumps({"event_id": event_id, **counters})})
        dimensions = [{"Name": "EventId", "Value": event_id}]
        metric_data.extend({"MetricName": name, "Dimensions": dimensions, "Value": float(counters[key]),
                            "Unit": "Count"} for key, name in METRICS.items())
    for start in range(0, len(entries), 10):  # PutEvents takes at most 10 entries
        result = events_client.put_events(Entries=entries[start:start + 10])
        if result.get("FailedEntryCount"):
            log.warning("%d status events were not published", result["FailedEntryCount"])
    for start in range(0, len(metric_data), 500):  # PutMetricData takes at most 1000 metrics
        metrics_client.put_metric_data(Namespace=namespace, MetricData=metric_data[start:start + 500])
    return {"status": statuses}


def key_rotation_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Rotate the signing keys in Secrets Manager (scheduled, for example monthly); or, called by
    CloudFormation as a custom resource at deploy time, write the first key set.

    The new key signs after ``WAITINGROOM_KEY_ACTIVATE_AFTER`` seconds (default 3600: longer than
    every key cache), older keys stay published for ``WAITINGROOM_KEY_KEEP_OLD_FOR`` seconds
    after that (default 7 days: longer than any token lives).

    A custom resource event (it has ``RequestType``) is answered through its ``ResponseURL``
    (AWS: "Custom resource request objects", "Custom resource response objects"): ``Create``
    and ``Update`` write a first key set unless the secret holds one (idempotent), ``Delete``
    leaves the secret alone (it belongs to the stateful stack).
    """
    from core.adapters.secrets import SecretsManagerKeySource

    secret = _environ["WAITINGROOM_SIGNING_KEYS_SECRET"]
    source = SecretsManagerKeySource(secret)
    if "RequestType" in event:
        return _answer_custom_resource(event, secret, lambda: [key.kid for key in source.ensure(time.time()).keys])
    rotated = source.rotate(time.time(), float(_environ.get("WAITINGROOM_KEY_ACTIVATE_AFTER", "3600")),
                            float(_environ.get("WAITINGROOM_KEY_KEEP_OLD_FOR", str(7 * 24 * 3600))))
    return {"kids": [key.kid for key in rotated.keys]}


def _answer_custom_resource(
    event: Mapping[str, Any], physical_id: str, create: Callable[[], list[str]]
) -> dict[str, Any]:
    """Run ``create`` for a ``Create``/``Update`` request and PUT the outcome to the ``ResponseURL``.

    A failure is reported as ``FAILED`` with its reason (so the deployment stops and rolls back
    instead of waiting an hour for an answer) and never raised.
    """
    import urllib.request

    answer: dict[str, Any] = {
        "Status": "SUCCESS", "PhysicalResourceId": physical_id, "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"), "LogicalResourceId": event.get("LogicalResourceId"), "Data": {}}
    if event.get("RequestType") in ("Create", "Update"):
        try:
            answer["Data"] = {"Kids": ",".join(create())}
        except Exception as exc:  # reported to CloudFormation, which shows the reason
            log.error("could not write the first key set: %s", exc)
            answer.update(Status="FAILED", Reason=f"could not write the first key set: {exc}"[:1000])
    url = str(event.get("ResponseURL", ""))
    if not url.startswith(("https://", "http://")):
        raise ValueError("a custom resource request needs an http(s) ResponseURL")
    body = json.dumps(answer).encode()
    request = urllib.request.Request(url, data=body, method="PUT",  # noqa: S310 - scheme checked above
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - scheme checked above
        response.read()
    return answer
