"""The floor with its store round trips (``bench.reference:oidc_store_floor_app``) is what the
benchmark says it is: the Flask floor plus exactly one Redis command a request, a code used once,
each command a single write and a single read on a blocking socket.

Run in process against a real redis-server; its command counters (``INFO commandstats``) say
what each request sent.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from flask.testing import FlaskClient

from bench import reference
from core.adapters.filekeys import FileKeySource

REDIRECT_URI = "https://rp.example/cb"


@pytest.fixture
def store_floor(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    FileKeySource(tmp_path / "keys.json").ensure(0.0)
    monkeypatch.setenv("BENCH_REDIS_URL", redis_url)
    monkeypatch.setenv("BENCH_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setattr(reference, "_per_thread", type(reference._per_thread)())  # a connection to this server
    monkeypatch.setattr(reference, "_signer", None)
    redis.Redis.from_url(redis_url).flushall()
    yield reference.oidc_store_floor_app.test_client()
    client = getattr(reference._per_thread, "client", None)
    if client is not None:
        client.close()


def _calls(redis_url: str) -> dict[str, int]:
    stats = redis.Redis.from_url(redis_url).info("commandstats")
    return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("get", "set", "exists")}


def _sent(redis_url: str, before: dict[str, int]) -> dict[str, int]:
    return {name: calls - before[name] for name, calls in _calls(redis_url).items() if calls != before[name]}


def test_each_request_of_a_flow_sends_one_store_command_and_a_code_is_used_once(
        store_floor: FlaskClient, redis_url: str) -> None:
    before = _calls(redis_url)
    authorize = store_floor.get("/authorize", query_string={"redirect_uri": REDIRECT_URI, "state": "s1"})
    assert authorize.status_code == 302 and _sent(redis_url, before) == {"get": 1}
    code = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]

    before = _calls(redis_url)
    token = store_floor.post("/token", data={"code": code})
    assert token.status_code == 200 and _sent(redis_url, before) == {"set": 1}
    assert {"access_token", "id_token"} <= set(token.get_json())

    before = _calls(redis_url)
    assert store_floor.get("/userinfo").status_code == 200 and _sent(redis_url, before) == {"exists": 1}

    replay = store_floor.post("/token", data={"code": code})
    assert replay.status_code == 400 and replay.get_json() == {"error": "invalid_grant"}


def test_the_store_connection_is_a_blocking_socket(store_floor: FlaskClient) -> None:
    """No socket timeout, so Python waits in the read itself, with no ``poll`` before each read
    and write: the cheapest way redis-py sends a command (redis-py 8's default is 5 s)."""
    store_floor.get("/userinfo")
    sock = reference._per_thread.client.connection._sock
    assert isinstance(sock, socket.socket) and sock.gettimeout() is None
