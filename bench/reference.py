"""The reference apps the project is measured against: the least a Flask view can do.

* ``bench.reference:incr_app``: ``POST /assign_queue_num`` does exactly one Redis ``INCR`` and
  returns the number as JSON. The floor of any "take a number" endpoint on Flask + Redis.
  ``GET /queue_num`` does exactly one Redis ``HGET`` (the floor of any endpoint that must read
  one visitor's state from the store).
* ``bench.reference:constant_app``: ``GET /serving_num`` and ``GET /queue_num`` return a constant
  JSON object. The floor of any Flask endpoint at all.
* ``bench.reference:oidc_floor_app``: the three requests of an authorization code flow with
  nothing behind them but the signing: ``GET /authorize`` redirects with a random code,
  ``POST /token`` signs the same access and id token as the project with the project's key
  (``BENCH_KEYS_FILE``), ``GET /userinfo`` returns a constant. The floor of any OpenID
  Connect provider on Flask and gunicorn.
* ``bench.reference:oidc_store_floor_app``: the floor plus the one store command each request of
  the flow must send, and nothing else: ``/authorize`` reads the browser's place (``GET``),
  ``/token`` records the code's single use (``SET NX EX``), ``/userinfo`` reads the session
  (``EXISTS``); one redis-py command a request, on a connection of the thread's own. The floor
  of a provider that keeps a line, single-use codes and revocable sessions in Redis: what lies
  between it and the project is the protocol's checks and the app's own work.

Both run under the same gunicorn settings as the project (see :mod:`bench.servers`). The Redis
URL comes from ``BENCH_REDIS_URL``; the client is made on first use (after gunicorn forks).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import redis
from flask import Flask, Response, jsonify, redirect, request

_redis: redis.Redis | None = None


def _client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
                                      decode_responses=True)
    return _redis


incr_app = Flask("reference_incr")


@incr_app.post("/assign_queue_num")
def assign_queue_num() -> Response:
    return jsonify(queue_number=_client().incr("reference:last"))


@incr_app.get("/queue_num")
def hget_queue_num() -> Response:
    return jsonify(queue_number=_client().hget("reference:places", request.args.get("request_id", "")))


@incr_app.get("/")
def incr_root() -> Response:
    return jsonify(ok=True)


constant_app = Flask("reference_constant")
_CONSTANT_SERVING = {"event_id": "bench", "serving_counter": 0}
_CONSTANT_POSITION = {"event_id": "bench", "queue_number": 1, "serving_counter": 0, "ahead": 0,
                      "status": "waiting", "entry_time": 0}


@constant_app.get("/serving_num")
def serving_num() -> Response:
    return jsonify(_CONSTANT_SERVING)


@constant_app.get("/queue_num")
def queue_num() -> Response:
    return jsonify(_CONSTANT_POSITION)


@constant_app.get("/")
def constant_root() -> Response:
    return jsonify(ok=True)


oidc_floor_app = Flask("reference_oidc_floor")
_signer: Callable[[], tuple[str, str]] | None = None


@oidc_floor_app.get("/authorize")
def floor_authorize() -> Response:
    query = {"code": secrets.token_urlsafe(32), "state": request.args.get("state", ""),
             "iss": "http://127.0.0.1:8080"}
    return redirect(f"{request.args['redirect_uri']}?{urlencode(query)}")  # type: ignore[return-value]


@oidc_floor_app.post("/token")
def floor_token() -> Response:
    global _signer
    if _signer is None:
        from .oidc_flow import token_pair_signer

        _signer = token_pair_signer(Path(os.environ["BENCH_KEYS_FILE"]))
    access, id_token = _signer()
    return jsonify(access_token=access, id_token=id_token, token_type="Bearer", expires_in=3600)


@oidc_floor_app.get("/userinfo")
def floor_userinfo() -> Response:
    return jsonify(sub="t_" + "A" * 24)


@oidc_floor_app.get("/")
def floor_root() -> Response:
    return jsonify(ok=True)


oidc_store_floor_app = Flask("reference_oidc_store_floor")
_per_thread = threading.local()


def _thread_client() -> redis.Redis:
    """This thread's own connection (redis-py's ``single_connection_client``): no pool lock and no
    connection check per command, on a blocking socket with no timeout: a command is one ``sendto``
    and one ``recvfrom``, the cheapest way redis-py sends one command from a thread. (redis-py 8
    defaults to a 5 s socket timeout, which Python keeps with a ``poll`` before each read
    and each write: four system calls a command, two more than the project's store makes.)"""
    client = getattr(_per_thread, "client", None)
    if client is None:
        client = _per_thread.client = redis.Redis.from_url(
            os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"), single_connection_client=True,
            socket_timeout=None, socket_connect_timeout=None)
    return client


@oidc_store_floor_app.get("/authorize")
def store_floor_authorize() -> Response:
    _thread_client().get("reference:place:" + request.args.get("state", ""))
    return floor_authorize()


@oidc_store_floor_app.post("/token")
def store_floor_token() -> Response:
    if not _thread_client().set("reference:code:" + request.form.get("code", ""), 1, nx=True, ex=60):
        return jsonify(error="invalid_grant"), 400  # type: ignore[return-value]
    return floor_token()


@oidc_store_floor_app.get("/userinfo")
def store_floor_userinfo() -> Response:
    _thread_client().exists("reference:session")
    return floor_userinfo()


@oidc_store_floor_app.get("/")
def store_floor_root() -> Response:
    return jsonify(ok=True)
