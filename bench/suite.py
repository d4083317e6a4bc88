"""The benchmarks: each runs a reference and the project in the same run, on the same server settings.

Every function takes a :class:`Bench` (servers, options, work directory) and returns a result
dict: ``name``, ``metrics`` (numbers), ``checks`` (name -> bool), ``ratio``/``target`` where the
benchmark compares with a reference, and ``notes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import servers
from .loadgen import LoadResult, RequestSpec, run_requests

EVENT = "bench"  # enter and poll benchmarks (manual admission)
JOURNEY_EVENT = "journey"  # periodic admission
OIDC_EVENT = "oidc"
WAITING_EVENT = "waiting"  # waiting visitors polling the status document (manual admission by the bench)
ADMIN_KEY = "bench-admin-key-not-secret"
OIDC_CLIENT = "bench-rp"
OIDC_PUBLIC_CLIENT = "bench-spa"
OIDC_SECRET = "bench-client-secret-0123456789abcdef"
REDIRECT_URI = "http://127.0.0.1:9/callback"


@dataclass
class Options:
    quick: bool = False
    visitors: int = 10_000
    only: set[str] | None = None
    requests: int = 20_000  # per side and round, for the throughput benchmarks
    rounds: int = 2  # reference/project alternations; the best round of each side counts
    concurrency: int = 32
    journey_connections: int = 1_000  # gunicorn's default worker_connections
    max_live_visitors: int = 1_000  # no more than connections: a visitor never waits for a client connection
    admit_rate: int = 1_000  # visitors the periodic strategy admits per second in the journey
    fill: int = 1_000_000  # visitors in line for the memory measurement
    batches: int = 5_000  # batches of 10 for the batch enter benchmark
    oidc_flows: int = 2_000
    max_seconds: float = 60.0  # cap of any one load phase
    waiting_visitors: int = 20_000  # visitors polling the status document in the waiting benchmark
    waiting_arrival: float = 30.0  # seconds over which they arrive
    waiting_seconds: float = 120.0  # length of each waiting run (through the front, then without it)
    server: servers.ServerConfig = field(default_factory=servers.ServerConfig)
    progress: bool = True

    @classmethod
    def quick_options(cls, **changes: Any) -> Options:
        base = cls(quick=True, visitors=1_000, requests=3_000, rounds=1, concurrency=16, journey_connections=200,
                   max_live_visitors=200, admit_rate=400, fill=100_000, batches=1_000, oidc_flows=300,
                   max_seconds=20.0, waiting_visitors=2_000, waiting_arrival=10.0, waiting_seconds=40.0)
        for key, value in changes.items():
            setattr(base, key, value)
        return base


def project_config(redis_url: str, workdir: Path, admit_rate: int, scheduler: bool = True) -> Path:
    """The TOML configuration the project runs with in every benchmark."""
    text = f"""
[server]
issuer = "http://127.0.0.1:8080"
store = "{redis_url}"
keys_file = "{workdir / 'keys.json'}"
admin_keys = ["{ADMIN_KEY}"]
scheduler = {str(scheduler).lower()}

[events.{EVENT}]
name = "Enter and poll benchmark"

[events.{JOURNEY_EVENT}]
name = "Journey benchmark"
queue_position_expiry = 900
admission = {{ strategy = "periodic", increment_by = {admit_rate}, every = 1 }}

[events.{OIDC_EVENT}]
name = "OIDC benchmark"

[events.{WAITING_EVENT}]
name = "Waiting benchmark"

[clients.{OIDC_CLIENT}]
event = "{OIDC_EVENT}"
secret = "{OIDC_SECRET}"
redirect_uris = ["{REDIRECT_URI}"]

[clients.{OIDC_PUBLIC_CLIENT}]
event = "{OIDC_EVENT}"
redirect_uris = ["{REDIRECT_URI}"]
"""
    path = workdir / f"waitingroom-{'sched' if scheduler else 'nosched'}.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Bench:
    """One run: a Redis server, a work directory, the options."""

    def __init__(self, options: Options, workdir: Path, redis_server: servers.RedisServer) -> None:
        self.options = options
        self.workdir = workdir
        self.redis = redis_server
        self.config = project_config(redis_server.url, workdir, options.admit_rate)

    def project_env(self, scheduler: bool = True) -> dict[str, str]:
        config = self.config if scheduler else project_config(self.redis.url, self.workdir, self.options.admit_rate,
                                                              scheduler=False)
        return {"WAITINGROOM_CONFIG": str(config)}

    @contextmanager
    def project(self, scheduler: bool = True) -> Iterator[servers.HttpServer]:
        env = self.project_env(scheduler)
        with servers.waitingroom_serve(Path(env.pop("WAITINGROOM_CONFIG")), self.options.server, self.workdir,
                                       env=env) as server:
            yield server

    @contextmanager
    def reference(self, app: str) -> Iterator[servers.HttpServer]:
        env = {"BENCH_REDIS_URL": self.redis.url, "BENCH_KEYS_FILE": str(self.workdir / "keys.json")}
        with servers.gunicorn(f"bench.reference:{app}", self.options.server, self.workdir, env=env,
                              name=app) as server:
            yield server

    def load(self, base_url: str, make: Callable[[int], RequestSpec], label: str, total: int | None = None,
             concurrency: int | None = None, server_pid: int | None = None) -> LoadResult:
        """Run requests; with ``server_pid``, also the CPU the server and Redis spent per request."""
        opts = self.options
        cpu_before = (servers.cpu_seconds(server_pid), servers.cpu_seconds(self.redis.pid)) if server_pid else None
        result = asyncio.run(run_requests(base_url, make, total or opts.requests, concurrency or opts.concurrency,
                                          label, max_seconds=opts.max_seconds, progress=opts.progress))
        if server_pid and cpu_before is not None and result.requests:
            server_cpu = servers.cpu_seconds(server_pid) - cpu_before[0]
            redis_cpu = servers.cpu_seconds(self.redis.pid) - cpu_before[1]
            result.latency["server_cpu_us_per_request"] = round(server_cpu / result.requests * 1e6, 1)
            result.latency["redis_cpu_us_per_request"] = round(redis_cpu / result.requests * 1e6, 1)
        return result


def _json_ok(*keys: str) -> Callable[[bytes], bool]:
    def check(body: bytes) -> bool:
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return isinstance(data, dict) and all(k in data for k in keys)

    return check


def compare(bench: Bench, name: str, reference: tuple[str, Callable[[int], RequestSpec]],
            project: Callable[[int], RequestSpec], target: float, prepare: Callable[[str], None] | None = None,
            warmup: int | None = None) -> dict[str, Any]:
    """Alternate reference and project ``rounds`` times; the best round of each side counts."""
    ref_app, ref_make = reference
    warmup = warmup if warmup is not None else max(20, min(300, bench.options.requests // 5))
    ref_runs: list[LoadResult] = []
    proj_runs: list[LoadResult] = []
    with bench.reference(ref_app) as ref, bench.project() as proj:
        if prepare is not None:
            prepare(proj.base_url)
        bench.load(ref.base_url, ref_make, f"{name} warm-up (reference)", total=warmup)
        bench.load(proj.base_url, project, f"{name} warm-up (project)", total=warmup)
        for _ in range(bench.options.rounds):
            ref_runs.append(bench.load(ref.base_url, ref_make, f"{name} reference", server_pid=ref.pid))
            proj_runs.append(bench.load(proj.base_url, project, f"{name} project", server_pid=proj.pid))
    best_ref = max(ref_runs, key=lambda r: r.rps)
    best_proj = max(proj_runs, key=lambda r: r.rps)
    ratio = best_proj.rps / best_ref.rps if best_ref.rps else 0.0
    errors = sum(r.errors for r in ref_runs + proj_runs)
    return {
        "name": name,
        "ratio": round(ratio, 3),
        "target": target,
        "pass": ratio >= target and errors == 0,
        "metrics": {
            "reference_rps": round(best_ref.rps, 1),
            "project_rps": round(best_proj.rps, 1),
            "reference_p50_ms": best_ref.latency["p50_ms"],
            "project_p50_ms": best_proj.latency["p50_ms"],
            "reference_p99_ms": best_ref.latency["p99_ms"],
            "project_p99_ms": best_proj.latency["p99_ms"],
            "reference_server_cpu_us": best_ref.latency.get("server_cpu_us_per_request"),
            "project_server_cpu_us": best_proj.latency.get("server_cpu_us_per_request"),
            "reference_redis_cpu_us": best_ref.latency.get("redis_cpu_us_per_request"),
            "project_redis_cpu_us": best_proj.latency.get("redis_cpu_us_per_request"),
            "errors": errors,
        },
        "runs": {"reference": [r.as_dict() for r in ref_runs], "project": [r.as_dict() for r in proj_runs]},
    }


# -- 1. Enter --------------------------------------------------------------------------------------


def bench_enter(bench: Bench) -> list[dict[str, Any]]:
    body = {"event_id": EVENT}
    ref = RequestSpec("POST", "/assign_queue_num", {"json": body}, _json_ok("queue_number"))
    proj = RequestSpec("POST", "/assign_queue_num", {"json": body}, _json_ok("queue_number", "request_id"))
    bench.redis.client.flushall()
    result = compare(bench, "enter", ("incr_app", lambda i: ref), lambda i: proj, target=0.8)
    result["notes"] = "POST /assign_queue_num (no idempotency key) vs a Flask view doing one Redis INCR"
    return [result]


# -- 2. Poll ---------------------------------------------------------------------------------------


def _enter_many(base_url: str, event_id: str, count: int) -> list[str]:
    """Take ``count`` places over HTTP; their request ids."""
    import urllib.request

    ids = []
    for _ in range(count):
        req = urllib.request.Request(base_url + "/assign_queue_num", data=json.dumps({"event_id": event_id}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            ids.append(json.loads(resp.read())["request_id"])
    return ids


def bench_poll(bench: Bench) -> list[dict[str, Any]]:
    bench.redis.client.flushall()
    serving = compare(
        bench, "poll /serving_num",
        ("constant_app", lambda i: RequestSpec("GET", "/serving_num", {"params": {"event_id": EVENT}},
                                               _json_ok("serving_counter"))),
        lambda i: RequestSpec("GET", "/serving_num", {"params": {"event_id": EVENT}}, _json_ok("serving_counter")),
        target=0.9,
    )
    serving["notes"] = "GET /serving_num vs a Flask view returning a constant JSON"
    request_ids: list[str] = []

    def prepare(base_url: str) -> None:
        request_ids.extend(_enter_many(base_url, EVENT, 200))

    rng = random.Random(7)

    def project_spec(i: int) -> RequestSpec:
        rid = request_ids[rng.randrange(len(request_ids))]
        return RequestSpec("GET", "/queue_num", {"params": {"event_id": EVENT, "request_id": rid}},
                           _json_ok("queue_number", "status"))

    queue = compare(
        bench, "poll /queue_num",
        ("constant_app", lambda i: RequestSpec("GET", "/queue_num", {"params": {"event_id": EVENT, "request_id": "x"}},
                                               _json_ok("queue_number"))),
        project_spec, target=0.7, prepare=prepare,
    )
    queue["notes"] = "GET /queue_num for one of 200 real places vs a Flask view returning a constant JSON"
    bench.redis.client.hset("reference:places", mapping={f"r{i}": i for i in range(200)})
    floor = compare(
        bench, "poll /queue_num vs 1 HGET",
        ("incr_app", lambda i: RequestSpec("GET", "/queue_num",
                                           {"params": {"event_id": EVENT, "request_id": f"r{i % 200}"}},
                                           _json_ok("queue_number"))),
        project_spec, target=0.0,
    )
    floor.pop("target")
    floor.pop("pass")
    floor["notes"] = "the same, against a Flask view doing one Redis HGET: the floor of reading a visitor's place"
    return [serving, queue, floor]


BENCHMARKS: dict[str, Callable[[Bench], list[dict[str, Any]]]] = {
    "enter": bench_enter,
    "poll": bench_poll,
}


def machine() -> dict[str, Any]:
    import platform

    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# -- 3. Journey ------------------------------------------------------------------------------------


def bench_journey(bench: Bench) -> list[dict[str, Any]]:
    from .journey import run_journey

    opts = bench.options
    bench.redis.client.flushall()
    with bench.project() as proj:
        cpu_before = (servers.cpu_seconds(proj.pid), servers.cpu_seconds(bench.redis.pid))
        outcome = asyncio.run(run_journey(
            proj.base_url, JOURNEY_EVENT, ADMIN_KEY, opts.visitors, opts.journey_connections,
            opts.max_live_visitors, max_backoff=2.0 if opts.quick else 4.0, progress=opts.progress,
            max_seconds=max(120.0, opts.visitors / 20)))
        server_cpu = servers.cpu_seconds(proj.pid) - cpu_before[0]
        redis_cpu = servers.cpu_seconds(bench.redis.pid) - cpu_before[1]
    m = outcome["metrics"]
    m["server_cpu_ms_per_visitor"] = round(server_cpu / opts.visitors * 1000, 3)
    m["redis_cpu_ms_per_visitor"] = round(redis_cpu / opts.visitors * 1000, 3)
    return [{
        "name": "journey",
        "headline": f"{m['visitors']} visitors, {m['journeys_per_s']} journeys/s, {m['admitted_per_s']} admitted/s, "
                    f"{m['errors']} errors",
        "target_text": "0 errors; checks hold",
        "pass": all(outcome["checks"].values()),
        **outcome,
        "notes": f"periodic admission of {opts.admit_rate}/s; polls back off from 0.5 s (x1.6, jittered)",
    }]


# -- 3b. Waiting visitors ----------------------------------------------------------------------------


def _waiting_run(bench: Bench, through_front: bool) -> dict[str, Any]:
    """One waiting run on a fresh line: enter the visitors, then let them poll (through the front or not)."""
    from .waiting import run_waiting

    opts = bench.options
    bench.redis.client.flushall()
    with bench.project() as proj, contextlib.ExitStack() as stack:
        entered = asyncio.run(run_requests(
            proj.base_url, lambda i: RequestSpec("POST", "/assign_queue_num", {"json": {"event_id": WAITING_EVENT}}),
            opts.waiting_visitors, 64, "enter", max_seconds=600.0, progress=opts.progress))
        if entered.errors or entered.requests != opts.waiting_visitors:
            raise RuntimeError(f"entering the waiting visitors failed: {entered.as_dict()}")
        poll_url = proj.base_url
        if through_front:
            poll_url = stack.enter_context(servers.nginx_front(proj.port, bench.workdir)).base_url
        route = "/events/<event_id>/status"
        before = servers.origin_requests(proj.base_url, route)
        cpu_before = servers.cpu_seconds(proj.pid)
        outcome = asyncio.run(run_waiting(poll_url, proj.base_url, WAITING_EVENT, ADMIN_KEY, opts.waiting_visitors,
                                          opts.waiting_arrival, opts.waiting_seconds))
        time.sleep(2.5)  # every worker applies its request counts within a second
        outcome["origin_status_requests"] = servers.origin_requests(proj.base_url, route) - before
        outcome["server_cpu_s"] = round(servers.cpu_seconds(proj.pid) - cpu_before, 1)
    minutes = outcome["seconds"] / 60
    per_visitor = outcome["origin_status_requests"] / opts.waiting_visitors
    outcome["origin_per_visitor_per_min"] = round(per_visitor / minutes, 4)
    outcome["origin_per_window"] = round(outcome["origin_status_requests"] / outcome["seconds"], 2)  # 1 s windows
    return outcome


def bench_waiting(bench: Bench) -> list[dict[str, Any]]:
    opts = bench.options
    front = _waiting_run(bench, through_front=True)
    direct = _waiting_run(bench, through_front=False)
    checks = {
        "no failed poll through the front": front["errors"] == 0,
        "at most ~one origin fetch per event and 1 s window": front["origin_per_window"] <= 1.1,
        # A poll that timed out may or may not have reached the server; every answered one did.
        "every answered poll reached the origin without the front":
            direct["origin_status_requests"] >= (direct["polls"] - direct["errors"]) * 0.99,
    }
    return [{
        "name": "waiting",
        "headline": (f"{opts.waiting_visitors} waiting visitors: front served {front['polls_per_s']} polls/s, "
                     f"origin {front['origin_per_window']} req/s "
                     f"({front['origin_per_visitor_per_min']} per visitor per minute); without the front the "
                     f"origin took {direct['polls_per_s']} polls/s, p95 {direct['p95_ms']} ms, "
                     f"{direct['errors']} errors"),
        "target_text": "<= 1 origin request per event and cache window",
        "pass": all(checks.values()),
        "metrics": {"front": front, "direct": direct},
        "checks": checks,
        "notes": (f"visitors arrive over {opts.waiting_arrival:g} s and poll for {opts.waiting_seconds:g} s on the "
                  f"waiting page's schedule; an operator admits two thirds of them in steps every 5 s; "
                  f"status_max_age = 1 s; schedule_lag is how late the load generator sent polls"),
    }]


# -- 4. OIDC ---------------------------------------------------------------------------------------


def _oidc_flows(bench: Bench, server: servers.HttpServer, client_id: str, secret: str | None,
                take_places: bool = True) -> dict[str, Any]:
    """Run the flows against ``server``; add its CPU per flow (server and Redis) to the outcome."""
    from .oidc_flow import run_flows

    opts = bench.options
    cpu_before = (servers.cpu_seconds(server.pid), servers.cpu_seconds(bench.redis.pid))
    outcome = asyncio.run(run_flows(server.base_url, OIDC_EVENT, ADMIN_KEY, client_id, secret, REDIRECT_URI,
                                    opts.oidc_flows, browsers=8, progress=opts.progress,
                                    max_seconds=opts.max_seconds, take_places=take_places))
    flows = max(1, outcome["flows"])
    outcome["server_ms"] = (servers.cpu_seconds(server.pid) - cpu_before[0]) / flows * 1000
    outcome["redis_ms"] = (servers.cpu_seconds(bench.redis.pid) - cpu_before[1]) / flows * 1000
    outcome["per_worker"] = outcome["flows_per_s"] / opts.server.workers
    return outcome


def _against_floor(name: str, unit: str, notes: str, run: dict[str, Any], rps: float, cpu_ms: float,
                   floor: dict[str, Any], signing_ms: float | None, **metrics: Any) -> dict[str, Any]:
    """A result row of flows/s per worker (``rps``, server CPU ``cpu_ms`` per flow) against the
    Flask floor's ``floor`` run; its errors, endpoints and failures are those of ``run``, the
    flows the row itself reports on; ``metrics`` adds to the row's metrics."""
    return {
        "name": name,
        "ratio": round(rps / floor["per_worker"], 3) if floor["per_worker"] else 0.0,
        "pass": run["failed"] == 0,
        "unit": unit,
        "metrics": {"project_rps": round(rps, 1), "reference_rps": round(floor["per_worker"], 1),
                    "errors": run["failed"], "project_server_cpu_ms_per_flow": round(cpu_ms, 3),
                    "reference_server_cpu_ms_per_flow": round(floor["server_ms"], 3),
                    "signing_cpu_ms_per_flow": signing_ms, **metrics},
        "endpoints": run["endpoints"],
        "failures": run["failures"],
        "notes": notes,
    }


def bench_oidc(bench: Bench) -> list[dict[str, Any]]:
    from .oidc_flow import signing_ceiling

    bench.redis.client.flushall()
    results = []
    with bench.project() as proj:
        ceiling = signing_ceiling(bench.workdir / "keys.json")
        per_core_ceiling = ceiling["flows_per_cpu_s"]
        signing_ms = round(1000 / per_core_ceiling, 3) if per_core_ceiling else None
        for client_id, secret, label in ((OIDC_CLIENT, OIDC_SECRET, "oidc flow (client secret)"),
                                         (OIDC_PUBLIC_CLIENT, None, "oidc flow (public, PKCE)")):
            outcome = _oidc_flows(bench, proj, client_id, secret)
            ratio = outcome["per_worker"] / per_core_ceiling if per_core_ceiling else 0.0
            results.append({
                "name": label,
                "ratio": round(ratio, 3),
                "target": 0.6,
                "pass": ratio >= 0.6 and outcome["failed"] == 0,
                "unit": "flows/s per worker (project) vs signing ceiling per core",
                "metrics": {"project_rps": round(outcome["per_worker"], 1), "reference_rps": round(per_core_ceiling, 1),
                            "flows": outcome["flows"], "errors": outcome["failed"],
                            "server_cpu_ms_per_flow": round(outcome["server_ms"], 3),
                            "redis_cpu_ms_per_flow": round(outcome["redis_ms"], 3),
                            "signing_cpu_ms_per_flow": signing_ms},
                "endpoints": outcome["endpoints"],
                "ceiling": ceiling,
                "failures": outcome["failures"],
                "notes": "authorize (302) -> token -> userinfo for admitted visitors; ceiling: the same access and "
                         "id token signed with the same key in a tight loop (CPU time)",
            })
    with bench.reference("oidc_floor_app") as floor_server:
        floor = _oidc_flows(bench, floor_server, OIDC_PUBLIC_CLIENT, None, take_places=False)
    with bench.reference("oidc_store_floor_app") as store_floor_server:
        store_floor = _oidc_flows(bench, store_floor_server, OIDC_PUBLIC_CLIENT, None, take_places=False)
    project = results[-1]["metrics"]
    results.append(_against_floor(
        "oidc flow (public) vs the Flask floor",
        "flows/s per worker, project vs a Flask app doing nothing but the three requests and the signing",
        "the floor: GET /authorize redirects with a random code, POST /token signs the same two tokens, "
        "GET /userinfo returns a constant, under the same gunicorn settings; no line, no store, no checks",
        floor, project["project_rps"], project["server_cpu_ms_per_flow"], floor, signing_ms,
        floor_vs_ceiling=round(floor["per_worker"] / per_core_ceiling, 3) if per_core_ceiling else None))
    results.append(_against_floor(
        "oidc flow: the floor with its store round trips vs the floor",
        "flows/s per worker, the floor plus one Redis command a request vs the floor",
        "what the three store round trips of a flow (the place, the code's single use, the session) cost "
        "a Flask app with nothing else to do, as any provider that keeps them in Redis pays them on "
        "this server model; project_vs_store_floor is the project against it",
        store_floor, store_floor["per_worker"], store_floor["server_ms"], floor, signing_ms,
        redis_cpu_ms_per_flow=round(store_floor["redis_ms"], 3),
        project_vs_store_floor=round(project["project_rps"] / store_floor["per_worker"], 3)
        if store_floor["per_worker"] else None))
    return results


# -- 5. Store cost ---------------------------------------------------------------------------------


MEMORY_TARGETS = {"oidc": 350, "rest": 160}
"""Bytes per visitor the store may hold, with a million in line (REST: with an idempotency key)."""


def bench_store(bench: Bench) -> list[dict[str, Any]]:
    from .store_cost import VISITOR_KINDS, measure_memory, measure_steps

    opts = bench.options
    bench.redis.client.flushall()
    steps = measure_steps(bench.config, bench.redis.url, n=200)
    per_step = {name: s["sent_per_request"] for name, s in steps["steps"].items()}
    headline = ", ".join(f"{k} {v:g}" for k, v in per_step.items() if "admin, once" not in k)
    bench.redis.client.flushall()
    memory = {}
    for kind in VISITOR_KINDS:
        memory[kind] = measure_memory(bench.redis.url, opts.fill, kind)
        bench.redis.client.flushall()
    per = {kind: m["bytes_per_visitor"] for kind, m in memory.items()}
    return [
        {"name": "store commands", "headline": "commands sent per request: " + headline,
         "target_text": "enter 1, token 1, end 1, poll <= 1 (0 cached)",
         "pass": all(steps["checks"].values()), **steps},
        {"name": "store memory", "headline": f"bytes per visitor ({opts.fill:,} in line): {per['oidc']} OIDC, "
                                             f"{per['rest']} REST with an idempotency key, {per['waiting']} "
                                             f"REST without",
         "target_text": f"OIDC <= {MEMORY_TARGETS['oidc']}, REST <= {MEMORY_TARGETS['rest']}",
         "pass": all(per[kind] <= limit for kind, limit in MEMORY_TARGETS.items()),
         "metrics": memory},
    ]


# -- 6. Batch enter --------------------------------------------------------------------------------


def bench_batch(bench: Bench) -> list[dict[str, Any]]:
    from .store_cost import batch_enter_consumer, batch_enter_redis_benchmark

    opts = bench.options
    bench.redis.client.flushall()
    consumer = batch_enter_consumer(bench.config, opts.batches)
    count = opts.batches * 10
    pipelined = batch_enter_redis_benchmark(bench.redis.url, bench.redis.port, count * 2, pipeline=10)
    sequential = batch_enter_redis_benchmark(bench.redis.url, bench.redis.port, count, pipeline=1)
    ref = pipelined.get("positions_per_s", 0.0)
    ratio = consumer["positions_per_s"] / ref if ref else 0.0
    return [{
        "name": "batch enter (SQS path)",
        "ratio": round(ratio, 3),
        "unit": "positions/s",
        "metrics": {"project_rps": consumer["positions_per_s"], "reference_rps": ref,
                    "redis_benchmark_pipelined_1": sequential.get("positions_per_s"), "errors": consumer["failures"]},
        "consumer": consumer, "redis_benchmark": {"pipeline_10": pipelined, "pipeline_1": sequential},
        "notes": "the consumer enters each batch of 10 with one pipelined round trip, so the reference is "
                 "redis-benchmark with -P 10 (10 in flight) on one connection; -P 1, one round trip per "
                 "message, is kept as the ceiling of entering messages one at a time",
    }]


# -- 7. CloudFront gate cold start -------------------------------------------------------------------


def bench_edge(bench: Bench) -> list[dict[str, Any]]:
    from .edge_cold_start import measure

    m = measure(bench.workdir, runs=5 if bench.options.quick else 15)
    ratio = m["project_cold_start_ms"] / m["reference_interpreter_ms"] if m["reference_interpreter_ms"] else 0.0
    return [{
        "name": "edge gate cold start",
        "headline": f"{m['project_cold_start_ms']:g} ms from process start to a checked token "
                    f"(bare interpreter {m['reference_interpreter_ms']:g} ms); import {m['import_ms']:g} ms, "
                    f"first RS256 check {m['first_verify_ms']:g} ms, warm {m['warm_verify_ms']:g} ms; "
                    f"{m['max_rss_mib']:g} MiB; zip {m['zip_bytes']:,} bytes",
        "ratio": round(ratio, 3),
        "unit": "x the bare interpreter's start",
        "target_text": "well inside Lambda@Edge's 5 s and 128 MB; zip < 1 MB",
        "pass": m["statuses_ok"] and m["max_rss_mib"] < 128 and m["zip_bytes"] < 1024 * 1024
                and m["project_cold_start_ms"] < 5000,
        "metrics": m,
        "notes": "each run is a new python -I -S -B process on the unzipped bundle: import, a redirect (reads the "
                 "bundled configuration), then a token checked against the bundled keys; the reference is "
                 "python -I -S -c pass, interleaved with the project runs",
    }]


# -- 8. DynamoDB entry rate -------------------------------------------------------------------------


def bench_dynamodb(bench: Bench) -> list[dict[str, Any]]:
    from .dynamodb import bench_dynamodb as run

    return run(bench.options.quick)


# -- 9. SQLite durability ----------------------------------------------------------------------------


def bench_sqlite_durability(bench: Bench) -> list[dict[str, Any]]:
    """Entries per second on the embedded store with ``synchronous=FULL`` (the default: no
    acknowledged place is lost on a power failure) against ``NORMAL`` (the reference: faster,
    may roll back the last places after a power failure), alternated in the same run."""
    from core.adapters.sqlite import SqliteStore
    from core.room import new_request_id

    opts = bench.options
    count = max(200, opts.requests // 10)
    best: dict[str, float] = {"NORMAL": 0.0, "FULL": 0.0}
    for round_number in range(opts.rounds):
        for mode in ("NORMAL", "FULL"):
            path = bench.workdir / f"durability-{mode.lower()}-{round_number}.db"
            store = SqliteStore(str(path), synchronous=mode)
            started = time.perf_counter()
            for _ in range(count):
                store.enter(EVENT, new_request_id(), None, time.time())
            best[mode] = max(best[mode], count / (time.perf_counter() - started))
            store.close()
            for leftover in bench.workdir.glob(path.name + "*"):
                leftover.unlink()
    ratio = best["FULL"] / best["NORMAL"] if best["NORMAL"] else 0.0
    return [{
        "name": "sqlite durability",
        "ratio": round(ratio, 3),
        "unit": "entries/s",
        "metrics": {"project_rps": round(best["FULL"], 1), "reference_rps": round(best["NORMAL"], 1),
                    "entries_per_round": count},
        "notes": "one thread entering on the embedded store; project = synchronous=FULL (the default, a sync "
                 "of the write-ahead log per acknowledged place), reference = synchronous=NORMAL",
    }]


BENCHMARKS.update({
    "journey": bench_journey,
    "waiting": bench_waiting,
    "oidc": bench_oidc,
    "store": bench_store,
    "batch": bench_batch,
    "edge": bench_edge,
    "dynamodb": bench_dynamodb,
    "sqlite-durability": bench_sqlite_durability,
})


# -- 10. The fair opening's draw ---------------------------------------------------------------------


def bench_draw(bench: Bench) -> list[dict[str, Any]]:
    """The opening's cost against the pre-queue's size, and a position read after the draw
    against a fifo event's, on Redis and SQLite (see :mod:`bench.draw_cost`)."""
    from core.adapters.redis import RedisStore
    from core.adapters.sqlite import SqliteStore

    from .draw_cost import measure, opener, results

    sizes = (1_000, 10_000) if bench.options.quick else (10_000, 100_000, 1_000_000)
    rows = []
    bench.redis.client.flushall()
    rows += results(measure(opener(lambda: RedisStore.from_url(bench.redis.url, timeout=30)), sizes,
                            rounds=bench.options.rounds + 1, label="redis"))
    bench.redis.client.flushall()
    path = bench.workdir / "draw.db"
    rows += results(measure(opener(lambda: SqliteStore(str(path))), sizes, rounds=bench.options.rounds + 1,
                            label="sqlite"))
    for leftover in bench.workdir.glob(path.name + "*"):
        leftover.unlink()
    return rows


BENCHMARKS["draw"] = bench_draw
