"""The local panel for AWS deployments: signs admin calls, injects the admin key, guards itself."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from oidc_adaptor.panel.aws_proxy import _region_from_url, create_proxy_app, sigv4_query_signer
from tests.support import free_port

LOCAL_KEY = "local-panel-key"
HOST = "127.0.0.1:8090"


@pytest.fixture
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in for the admin API that records what reaches it."""
    seen: list[dict[str, Any]] = []
    app = Flask("upstream")

    @app.route("/prod/admin/<path:rest>", methods=["GET", "POST"])
    def record(rest: str) -> Any:
        seen.append({"path": request.path, "args": request.args.to_dict(), "auth": request.headers.get("Authorization"),
                     "body": request.get_data()})
        if rest == "denied":
            return jsonify(error="unauthorized"), 401
        return jsonify(ok=True, path=request.path)

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/prod", seen
    server.shutdown()


def fake_signer(method: str, url: str, body: bytes, headers: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + "X-Amz-Signature=signed"


def proxy(upstream_url: str) -> Any:
    app = create_proxy_app(upstream_url, "the-real-admin-key", fake_signer, local_key=LOCAL_KEY,
                           allowed_hosts=[HOST])
    return app.test_client()


def test_serves_the_panel_page_locally(upstream: Any) -> None:
    client = proxy(upstream[0])
    page = client.get("/admin/panel", headers={"Host": HOST})
    assert page.status_code == 200
    assert b'data-admin-prefix="/admin"' in page.data
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.get("/admin/panel/static/panel.js", headers={"Host": HOST}).status_code == 200
    assert upstream[1] == []


def test_forwards_signed_calls_with_the_admin_key_and_never_the_local_one(upstream: Any) -> None:
    url, seen = upstream
    client = proxy(url)
    auth = {"Host": HOST, "Authorization": f"Bearer {LOCAL_KEY}"}
    counts = client.get("/admin/events/demo-sale/counts", headers=auth)
    assert counts.status_code == 200 and counts.json == {"ok": True, "path": "/prod/admin/events/demo-sale/counts"}
    client.get("/admin/panel/history", query_string={"event_id": "demo-sale"}, headers=auth)
    client.post("/admin/increment_serving_counter", json={"event_id": "demo-sale", "increment_by": 2}, headers=auth)
    assert [s["path"] for s in seen] == ["/prod/admin/events/demo-sale/counts", "/prod/admin/panel/history",
                                         "/prod/admin/increment_serving_counter"]
    assert all(s["auth"] == "Bearer the-real-admin-key" for s in seen)
    assert all(s["args"].get("X-Amz-Signature") == "signed" for s in seen)
    assert seen[1]["args"]["event_id"] == "demo-sale"
    assert b'"increment_by": 2' in seen[2]["body"] or b'"increment_by":2' in seen[2]["body"]


def test_refuses_other_keys_other_hosts_and_maps_upstream_refusals(upstream: Any) -> None:
    url, seen = upstream
    client = proxy(url)
    assert client.get("/admin/events", headers={"Host": HOST, "Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/admin/events", headers={"Host": HOST}).status_code == 401
    rebinding = client.get("/admin/events", headers={"Host": "evil.example", "Authorization": f"Bearer {LOCAL_KEY}"})
    assert rebinding.status_code == 421
    assert seen == []
    denied = client.get("/admin/denied", headers={"Host": HOST, "Authorization": f"Bearer {LOCAL_KEY}"})
    assert denied.status_code == 502  # not 401: that would sign the operator out of the panel


def test_plain_http_admin_api_is_refused() -> None:
    with pytest.raises(ValueError):
        create_proxy_app("http://admin.example/prod", "k", fake_signer, local_key="x", allowed_hosts=[HOST])


def test_sigv4_signer_puts_the_signature_in_the_query(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret-key-example-secret-key-1")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "example-session-token")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    sign = sigv4_query_signer("eu-west-1")
    signed = sign("GET", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/admin/events", b"", {})
    query = parse_qs(urlsplit(signed).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "/eu-west-1/execute-api/aws4_request" in query["X-Amz-Credential"][0]
    assert query["X-Amz-Security-Token"] == ["example-session-token"]
    assert len(query["X-Amz-Signature"][0]) == 64
    assert _region_from_url("https://abc123.execute-api.eu-west-1.amazonaws.com/prod") == "eu-west-1"
