"""Operations endpoints, request logs and the OpenAPI document."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from core.clock import ManualClock
from oidc_adaptor.plumbing.logging_setup import BufferedStderrHandler, JsonFormatter, configure_logging

from .conftest import EVENT, advance, build_app, enter


def test_healthz_and_readyz(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


def test_readyz_reports_store_down_but_healthz_stays_up(down_client: FlaskClient) -> None:
    assert down_client.get("/healthz").status_code == 200
    r = down_client.get("/readyz")
    assert r.status_code == 503 and r.headers["Retry-After"] == "2" and r.json["error"] == "store_unavailable"


def test_metrics_count_requests_by_route_and_report_event_gauges(client: FlaskClient) -> None:
    for _ in range(3):
        enter(client)
    advance(client, 1)
    client.get("/queue_num", query_string={"event_id": EVENT, "request_id": "A" * 32})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'waitingroom_http_requests_total{method="POST",route="/assign_queue_num",status="200"}' in text
    assert 'route="/queue_num",status="404"' in text
    assert 'waitingroom_http_request_duration_seconds_bucket{le="0.005",route="/assign_queue_num"}' in text
    assert 'waitingroom_waiting{event_id="spring-sale"} 2.0' in text
    assert 'waitingroom_serving_counter{event_id="spring-sale"} 1.0' in text
    assert 'waitingroom_active_sessions{event_id="spring-sale"} 1.0' in text
    assert "waitingroom_store_up 1.0" in text
    assert "A" * 32 not in text


def test_metrics_survive_a_store_outage(down_client: FlaskClient) -> None:
    r = down_client.get("/metrics")
    assert r.status_code == 200 and "waitingroom_store_up 0.0" in r.get_data(as_text=True)


def test_unmatched_paths_share_one_metrics_label(client: FlaskClient) -> None:
    FlaskClient.open(client, "/random/path/12345")
    text = client.get("/metrics").get_data(as_text=True)
    assert "/random/path/12345" not in text and 'route="unmatched"' in text


def test_openapi_document_is_served_with_this_deployment(tmp_path: Path, clock: ManualClock) -> None:
    client = build_app(tmp_path, clock, server={"admin_prefix": "/ops-admin", "issuer": "https://wr.example"}).test_client()
    doc = FlaskClient.open(client, "/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": "https://wr.example"}]
    assert "/ops-admin/increment_serving_counter" in doc["paths"] and "/admin/events" not in doc["paths"]
    r = FlaskClient.open(client, "/ops-admin/events", headers={"Authorization": "Bearer test-admin-key"})
    assert r.status_code == 200


def test_request_logs_hold_no_request_id_or_token(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="waitingroom.request")  # successful polls log at DEBUG
    place = enter(client)
    advance(client, 1)
    tokens = client.post("/generate_token", json={"event_id": EVENT, "request_id": place["request_id"]}).json
    client.get("/queue_num", query_string={"event_id": EVENT, "request_id": place["request_id"]})
    records = [r for r in caplog.records if r.name == "waitingroom.request"]
    assert {r.route for r in records} >= {"/assign_queue_num", "/generate_token", "/queue_num"}  # type: ignore[attr-defined]
    formatted = "\n".join(JsonFormatter().format(r) for r in records)
    assert place["request_id"] not in formatted and tokens["access_token"] not in formatted
    assert "test-admin-key" not in formatted
    entry = json.loads(JsonFormatter().format(records[-1]))
    assert entry["route"] == "/queue_num" and entry["status"] == 200 and "duration_ms" in entry


def test_high_volume_successes_log_at_debug_and_everything_else_at_info(
        client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="waitingroom.request")
    place = enter(client)
    client.get("/serving_num", query_string={"event_id": EVENT})
    client.post("/assign_queue_num", json={"event_id": 7})
    advance(client, 1)
    client.post("/generate_token", json={"event_id": EVENT, "request_id": place["request_id"]})
    levels = [(r.route, r.status, r.levelname) for r in caplog.records  # type: ignore[attr-defined]
              if r.name == "waitingroom.request"]
    assert ("/assign_queue_num", 200, "DEBUG") in levels and ("/serving_num", 200, "DEBUG") in levels
    assert ("/assign_queue_num", 400, "INFO") in levels, "a refused entry is logged like any request"
    assert ("/generate_token", 200, "DEBUG") in levels, "every admitted visitor gets tokens once: high volume"
    assert ("/admin/increment_serving_counter", 200, "INFO") in levels


def test_json_formatter_drops_secret_looking_extras() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.access_token = "secret-token"
    record.request_id = "secret-rid"
    record.event_id = "spring-sale"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "hello world" and entry["event_id"] == "spring-sale"
    assert "access_token" not in entry and "request_id" not in entry


def test_configure_logging_is_idempotent() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        configure_logging(json_logs=True)
        configure_logging(json_logs=False, level="warning")
        ours = [h for h in root.handlers if h.get_name() == "waitingroom"]
        assert len(ours) == 1
    finally:
        root.handlers[:] = before
        root.setLevel(level)


def test_buffered_handler_batches_lines_but_never_delays_warnings_or_loses_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "log.txt"
    with out.open("wb") as sink:
        handler = BufferedStderrHandler(interval=60, fd=sink.fileno())
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger = logging.Logger("buffered-test")
        logger.addHandler(handler)
        logger.info("first")
        logger.info("second")
        assert out.read_text() == "", "INFO lines wait for the next batch"
        logger.warning("third")
        assert out.read_text() == "INFO first\nINFO second\nWARNING third\n", "with what was before"
        logger.info("fourth")
        handler.close()
        assert out.read_text().endswith("WARNING third\nINFO fourth\n"), "closing writes the rest"


def test_buffered_handler_writes_a_batch_within_its_interval(tmp_path: Path) -> None:
    out = tmp_path / "log.txt"
    with out.open("wb") as sink:
        handler = BufferedStderrHandler(interval=0.05, fd=sink.fileno())
        logger = logging.Logger("buffered-test-2")
        logger.addHandler(handler)
        logger.info("soon")
        deadline = time.monotonic() + 5
        while "soon" not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert out.read_text() == "soon\n"
        handler.close()


def test_gathered_observations_export_exactly_what_observing_each_would() -> None:
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    from oidc_adaptor.plumbing import metrics

    values = [0.0004, 0.001, 0.0011, 0.003, 0.003, 0.2, 0.5, 7.0, 0.0]
    registry_each, registry_batched = CollectorRegistry(), CollectorRegistry()
    buckets = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
    each = Histogram("h", "h", ["route"], buckets=buckets, registry=registry_each)
    batched = Histogram("h", "h", ["route"], buckets=buckets, registry=registry_batched)
    for value in values:
        each.labels(route="/r").observe(value)
    metrics._observe_many(batched.labels(route="/r"), values)

    def samples(registry: CollectorRegistry) -> str:
        return "\n".join(line for line in generate_latest(registry).decode().splitlines() if "_created" not in line)

    assert samples(registry_batched) == samples(registry_each)
    assert 'h_bucket{le="0.001",route="/r"} 3.0' in samples(registry_each)  # the bound itself counts as "<="

    counts = CollectorRegistry()
    counter = Counter("c", "c", ["route", "method", "status"], registry=counts)
    original = metrics.REQUESTS
    try:
        metrics.REQUESTS = counter
        for _ in range(5):
            metrics.observe_request("/x", "GET", 200, 0.001)
        metrics.flush()
        assert 'c_total{method="GET",route="/x",status="200"} 5.0' in generate_latest(counts).decode()
    finally:
        metrics.REQUESTS = original
