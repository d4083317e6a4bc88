"""The reference apps the project is measured against: the least a Flask view can do.

* ``bench.reference:incr_app``: ``POST /assign_queue_num`` does exactly one Redis ``INCR`` and
  returns the number as JSON. The floor of any "take a number" endpoint on Flask + Redis.
  ``GET /queue_num`` does exactly one Redis ``HGET`` (the floor of any endpoint that must read
  one visitor's state from the store).
* ``bench.reference:constant_app``: ``GET /serving_num`` and ``GET /queue_num`` return a constant
  JSON object. The floor of any Flask endpoint at all.

Both run under the same gunicorn settings as the project (see :mod:`bench.servers`). The Redis
URL comes from ``BENCH_REDIS_URL``; the client is made on first use (after gunicorn forks).
"""

from __future__ import annotations

import os

import redis
from flask import Flask, Response, jsonify, request

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
