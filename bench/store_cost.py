"""What the store pays per visitor: Redis commands per journey step, memory per waiting visitor,
and the batch enter path of the SQS consumer against ``redis-benchmark``.

Commands are counted two ways in the same run: on the client (every command the app sends, one
per round trip, EVALSHA counted once) and on the server from ``INFO commandstats`` deltas, which
also count the commands a Lua script runs inside Redis. The targets are about the first.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from core.model import Status

IGNORED = ("info", "config|resetstat")


def commandstats(client: redis.Redis) -> Counter[str]:
    stats = client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()
                    if name.removeprefix("cmdstat_") not in IGNORED})


class SentCommands:
    """Counts the commands a redis-py client sends, by name (wraps its ``execute_command``)."""

    def __init__(self, client: redis.Redis) -> None:
        self.counts: Counter[str] = Counter()
        original = client.execute_command

        def counting(*args: Any, **options: Any) -> Any:
            self.counts[str(args[0]).lower()] += 1
            return original(*args, **options)

        client.execute_command = counting  # type: ignore[method-assign]


def measure_steps(config_file: Path, redis_url: str, n: int = 200) -> dict[str, Any]:
    """Commands per request of each journey step, through the real app in this process."""
    from core.settings import Settings
    from oidc_adaptor.app import create_app
    from oidc_adaptor.plumbing import counter_cache

    from .suite import ADMIN_KEY, EVENT

    settings = Settings.load(config_file).with_server(scheduler=False)
    app = create_app(settings, start_scheduler=False)
    store = app.extensions["waitingroom"].store
    sent = SentCommands(store.client)
    observer = redis.Redis.from_url(redis_url, decode_responses=True)
    web = app.test_client()
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    request_ids: list[str] = []
    steps: dict[str, Any] = {}

    def step(name: str, count: int, action: Callable[[int], Any]) -> None:
        before_server, before_sent = commandstats(observer), Counter(sent.counts)
        for i in range(count):
            response = action(i)
            if response.status_code != 200:
                raise RuntimeError(f"{name}: HTTP {response.status_code} {response.data[:200]!r}")
        server = commandstats(observer) - before_server
        client = sent.counts - before_sent
        steps[name] = {
            "requests": count,
            "sent_per_request": round(sum(client.values()) / count, 3),
            "server_per_request": round(sum(server.values()) / count, 3),
            "sent": {k: round(v / count, 3) for k, v in sorted(client.items())},
            "server": {k: round(v / count, 3) for k, v in sorted(server.items())},
        }

    def enter(i: int) -> Any:
        r = web.post("/assign_queue_num", json={"event_id": EVENT})
        request_ids.append(r.get_json()["request_id"])
        return r

    cache = counter_cache.for_app(app)
    step("enter", n, enter)
    step("poll /queue_num (waiting)", n, lambda i: web.get(
        "/queue_num", query_string={"event_id": EVENT, "request_id": request_ids[i]}))
    step("poll /queue_num (waiting, polled before)", n, lambda i: web.get(
        "/queue_num", query_string={"event_id": EVENT, "request_id": request_ids[i]}))
    def uncached_serving(i: int) -> Any:
        cache._entries.clear()
        return web.get("/serving_num", query_string={"event_id": EVENT})

    step("poll /serving_num (cache miss)", n, uncached_serving)
    web.get("/serving_num", query_string={"event_id": EVENT})
    step("poll /serving_num (cached)", n, lambda i: web.get("/serving_num", query_string={"event_id": EVENT}))
    step("admit (admin, once for all)", 1, lambda i: web.post(
        "/admin/increment_serving_counter", json={"event_id": EVENT, "increment_by": n}, headers=admin))
    step("poll /queue_num (admitted)", n, lambda i: web.get(
        "/queue_num", query_string={"event_id": EVENT, "request_id": request_ids[i]}))
    step("token", n, lambda i: web.post("/generate_token", json={"event_id": EVENT, "request_id": request_ids[i]}))
    step("end session", n, lambda i: web.post(
        "/admin/update_session", json={"event_id": EVENT, "request_id": request_ids[i], "status": "completed"},
        headers=admin))
    observer.close()
    store.close()
    targets = {"enter": 1, "token": 1, "end session": 1, "poll /queue_num (waiting)": 1,
               "poll /queue_num (waiting, polled before)": 0,
               "poll /serving_num (cache miss)": 1, "poll /serving_num (cached)": 0}
    checks = {f"{name}: <= {limit} sent": steps[name]["sent_per_request"] <= limit + 0.02
              for name, limit in targets.items()}
    return {"steps": steps, "checks": checks, "targets": targets}


VISITOR_KINDS = ("waiting", "rest", "oidc")
"""What one visitor leaves in the store: ``waiting`` a place entered without an idempotency key;
``rest`` a place entered through ``POST /assign_queue_num`` with an idempotency key (a client
that retries safely); ``oidc`` a place taken by the waiting page of ``/authorize`` (its own
idempotency key per browser, and the browser's place record)."""


def measure_memory(redis_url: str, visitors: int, kind: str = "waiting", batch: int = 1000) -> dict[str, Any]:
    """Bytes per visitor of ``kind`` (:data:`VISITOR_KINDS`): ``used_memory`` before and after
    putting ``visitors`` in line.

    The line is filled through the store's own calls (the enter script; for ``oidc`` also the
    place record the waiting page writes, with its own key and note), pipelined ``batch`` at a
    time (a server would send the same commands one by one; only the filling is faster).
    """
    from core.adapters.redis import RedisStore
    from core.room import new_request_id
    from oidc_adaptor.oidc.places import PlaceRef, Places, new_handle

    class QueuedStore(RedisStore):
        """The store's own calls (same keys, same arguments, same scripts), queued on a
        pipeline instead of run: the replies are read by ``pipe.execute()``, not parsed here."""

        @staticmethod
        def _ticket(event_id: str, reply: Any) -> Any:
            return None

    if kind not in VISITOR_KINDS:
        raise ValueError(f"kind must be one of {VISITOR_KINDS}")
    store = RedisStore.from_url(redis_url, timeout=30)
    event = f"memory-{kind}"
    client = store.client
    warm_up = event + "-warm-up"  # loads the scripts on the server
    store.set_alias(warm_up, "alias", store.enter(warm_up, new_request_id(), "key", time.time()).request_id, "",
                    1, time.time())
    store.reset(warm_up)
    client.memory_purge()
    before = int(client.info("memory")["used_memory"])
    now = time.time()
    started = time.perf_counter()
    for start in range(0, visitors, batch):
        pipe = client.pipeline(transaction=False)
        queued = QueuedStore(pipe)
        places = Places(queued, lambda: now)
        for _ in range(min(batch, visitors - start)):
            rid = new_request_id()
            if kind == "oidc":
                handle = new_handle()
                queued.enter(event, rid, places.idempotency_key(handle, event, 0), now)
                places.remember(handle, event, PlaceRef(rid))
            else:
                queued.enter(event, rid, "client-key-" + rid[:26] if kind == "rest" else None, now)
        pipe.execute()
    fill_seconds = time.perf_counter() - started
    client.memory_purge()
    after = int(client.info("memory")["used_memory"])
    last = store.counters(event).last_position
    per_visitor = (after - before) / visitors
    store.close()
    return {"visitors": visitors, "last_position": last, "bytes_per_visitor": round(per_visitor, 1),
            "used_memory_mb": round(after / 1e6, 1), "fill_seconds": round(fill_seconds, 1), "kind": kind}


def batch_enter_consumer(config_file: Path, batches: int, size: int = 10) -> dict[str, Any]:
    """Positions per second through the SQS consumer's code path, in process, ``size`` messages a batch."""
    from core.adapters.sqs import AssignMessage
    from core.room import new_request_id
    from core.settings import Settings
    from oidc_adaptor.lambda_handlers import process_assign_records
    from oidc_adaptor.plumbing.services import build_services

    from .suite import EVENT

    services = build_services(Settings.load(config_file).with_server(scheduler=False))
    room = services.room
    records = [[{"messageId": f"{b}-{i}", "body": AssignMessage(EVENT, new_request_id()).to_json()}
                for i in range(size)] for b in range(batches)]
    failures = 0
    started_cpu, started = time.process_time(), time.perf_counter()
    for batch in records:
        failures += len(process_assign_records(room, batch))
    seconds = time.perf_counter() - started
    cpu = time.process_time() - started_cpu
    services.store.close()
    positions = batches * size - failures
    return {"positions": positions, "failures": failures, "seconds": round(seconds, 3),
            "positions_per_s": round(positions / seconds, 1), "client_cpu_per_position_us":
            round(cpu / max(1, positions) * 1e6, 1)}


def _enter_command(redis_url: str, event_id: str) -> list[str]:
    """The exact EVALSHA the store sends for one consumer message (idempotency key = request id),
    with the request id and the idempotency digest turned into ``redis-benchmark`` placeholders."""
    from core.adapters.redis import RedisStore
    from core.room import new_request_id

    store = RedisStore.from_url(redis_url)
    sent: list[tuple[Any, ...]] = []
    original = store.client.execute_command

    def capture(*args: Any, **options: Any) -> Any:
        sent.append(args)
        return original(*args, **options)

    store.client.execute_command = capture  # type: ignore[method-assign]
    request_id = new_request_id()
    store.enter(event_id, request_id, request_id, time.time())
    store.close()
    command = [str(a) for a in next(a for a in sent if str(a[0]).upper() == "EVALSHA")]
    numkeys = int(command[2])
    argv = command[3 + numkeys:]

    def placeholder(value: str) -> str:
        if value == request_id:
            return "rb__rand_int____rand_int__"  # 24+ characters, unique per call
        try:
            float(value)
            return value
        except ValueError:
            return value + "__rand_int__" if value else value

    return command[:3 + numkeys] + [placeholder(v) for v in argv]


def batch_enter_redis_benchmark(redis_url: str, port: int, requests: int, pipeline: int) -> dict[str, Any]:
    """``redis-benchmark`` sending the store's own enter command (one connection, ``pipeline`` deep)."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return {"skipped": "redis-benchmark is not installed (Debian: redis-tools)"}
    event_id = f"rb-p{pipeline}"
    command = _enter_command(redis_url, event_id)
    cmd = [binary, "-h", "127.0.0.1", "-p", str(port), "-c", "1", "-P", str(pipeline), "-n", str(requests),
           "-r", "1000000000", "--csv", *command]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    rps = float(rows[-1][1])
    from core.adapters.redis import RedisStore

    store = RedisStore.from_url(redis_url)
    last = store.counters(event_id).last_position
    store.close()
    return {"positions_per_s": rps, "requests": requests, "pipeline": pipeline, "positions": last}


__all__ = ["Status", "batch_enter_consumer", "batch_enter_redis_benchmark", "measure_memory", "measure_steps"]
