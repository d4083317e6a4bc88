"""Where a gunicorn worker's CPU goes in an OpenID Connect flow: inside the app, or around it.

``python -m bench.oidc_worker`` runs the OIDC benchmark's flows (8 browsers, the public client)
against the project's app and against the Flask floor (``bench.reference:oidc_floor_app``), each
under plain gunicorn with the benchmark's settings (one ``gthread`` worker, 4 threads; ``--threads``
changes that) and wrapped in :func:`timed`, which counts the CPU time of the request's thread
inside the WSGI call (``time.thread_time``) and the voluntary context switches it made there.
From ``/proc`` it reads the worker's CPU per thread. Per flow (ms):

* ``worker``: all of the worker's CPU (user + system), as ``--only oidc`` counts it;
* ``app``: inside the app's WSGI call (Flask, the views, the store calls, the signing);
* ``request threads, around the app``: gunicorn's request parsing, environ, response writing and
  keep-alive hand-back, in the request threads;
* ``main thread``: gunicorn's poller, accepting, handing requests to the thread pool;
* ``other threads``: the log and metrics flushers, the admission scheduler.

The project runs here without ``waitingroom serve``'s worker class and body-framing wrapper (the
app is the same ``create_app`` with the same buffered logging): both measured at no more than
0.05 ms per flow, within the noise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import servers, suite

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_totals = {"requests": 0, "cpu": 0.0, "switches": 0}
_totals_lock = threading.Lock()


def timed(app: WSGIApp) -> WSGIApp:
    """``app`` with its thread's CPU time and voluntary context switches counted per call (the
    body is collected inside the call, so its iteration counts too); ``GET /_bench/app`` answers
    the counts so far as ``requests cpu_seconds switches`` and resets them."""

    def call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/_bench/app":
            with _totals_lock:
                text = f"{_totals['requests']} {_totals['cpu']:.6f} {_totals['switches']}"
                _totals.update(requests=0, cpu=0.0, switches=0)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [text.encode()]
        switches = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
        started = time.thread_time()
        body = app(environ, start_response)
        try:
            chunks = list(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        cpu = time.thread_time() - started
        switches = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw - switches
        with _totals_lock:
            _totals["requests"] += 1
            _totals["cpu"] += cpu
            _totals["switches"] += switches
        return chunks

    return call


class _Lazy:
    """The WSGI app built on first use, in the worker (after gunicorn forks)."""

    def __init__(self, build: Callable[[], WSGIApp]) -> None:
        self._build = build
        self._app: WSGIApp | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = timed(self._build())
        return self._app(environ, start_response)


def _build_project() -> WSGIApp:
    from core.settings import Settings
    from oidc_adaptor.app import create_app
    from oidc_adaptor.plumbing.logging_setup import configure_logging

    settings = Settings.load()
    configure_logging(settings.server.json_logs, settings.server.log_level, buffered=True)
    return create_app(settings).wsgi_app


def _build_floor() -> WSGIApp:
    from .reference import oidc_floor_app

    return oidc_floor_app.wsgi_app


project_app = _Lazy(_build_project)
floor_app = _Lazy(_build_floor)


def _threads(pid: int) -> dict[str, tuple[bool, float]]:
    """Per thread id: (is the main thread, user + system CPU seconds)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        out[task.name] = (task.name == str(pid), (int(fields[11]) + int(fields[12])) / tick)
    return out


def _read_app_counts(base_url: str) -> tuple[int, float, int]:
    import urllib.request

    with urllib.request.urlopen(base_url + "/_bench/app", timeout=10) as response:
        requests, cpu, switches = response.read().decode().split()
    return int(requests), float(cpu), int(switches)


def _side(server: servers.HttpServer, take_places: bool, flows: int) -> dict[str, float]:
    from .oidc_flow import run_flows

    worker = int(Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()[0])
    # a first short run loads everything the app imports lazily; the counts start after it (the
    # measured run's own setup, eight new places admitted, is about 0.5% of its requests)
    asyncio.run(run_flows(server.base_url, suite.OIDC_EVENT, suite.ADMIN_KEY, suite.OIDC_PUBLIC_CLIENT, None,
                          suite.REDIRECT_URI, 8, browsers=8, progress=False, take_places=take_places))
    _read_app_counts(server.base_url)
    before = _threads(worker)
    outcome = asyncio.run(run_flows(server.base_url, suite.OIDC_EVENT, suite.ADMIN_KEY, suite.OIDC_PUBLIC_CLIENT,
                                    None, suite.REDIRECT_URI, flows, browsers=8, progress=False,
                                    max_seconds=300, take_places=take_places))
    after = _threads(worker)
    requests, app_cpu, switches = _read_app_counts(server.base_url)
    done = max(1, outcome["flows"])
    main = sum(cpu - before.get(tid, (True, cpu))[1] for tid, (is_main, cpu) in after.items() if is_main)
    others = {tid: cpu - before.get(tid, (False, 0.0))[1] for tid, (is_main, cpu) in after.items() if not is_main}
    request_threads = {tid: cpu for tid, cpu in others.items() if cpu > 0.05 * sum(others.values())}
    rest = sum(others.values()) - sum(request_threads.values())
    ms = 1000 / done
    return {"flows": outcome["flows"], "failed": outcome["failed"], "worker": (main + sum(others.values())) * ms,
            "app": app_cpu * ms, "around_app": (sum(request_threads.values()) - app_cpu) * ms,
            "main_thread": main * ms, "other_threads": rest * ms,
            "switches_in_app_per_request": switches / max(1, requests)}


def measure(flows: int = 3000, threads: int = 4) -> dict[str, dict[str, float]]:
    """Both sides' split (ms per flow), project first (it creates the signing keys)."""
    with tempfile.TemporaryDirectory(prefix="oidc-worker-") as tmp, \
            servers.redis_server(Path(tmp) / "redis") as redis_server:
        workdir = Path(tmp)
        bench = suite.Bench(suite.Options.quick_options(progress=False,
                                                        server=servers.ServerConfig(threads=threads)),
                            workdir, redis_server)
        result = {}
        with bench.project():  # as users run it: creates the keys file once, then stops
            pass
        env = {"WAITINGROOM_CONFIG": str(bench.config), "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
               "BENCH_REDIS_URL": redis_server.url, "BENCH_KEYS_FILE": str(workdir / "keys.json")}
        (workdir / "metrics").mkdir()
        for side, target, places in (("project", "bench.oidc_worker:project_app", True),
                                     ("floor", "bench.oidc_worker:floor_app", False)):
            with servers.gunicorn(target, bench.options.server, workdir, env=env, name=side,
                                  ready_path="/healthz" if places else "/") as server:
                result[side] = _side(server, places, flows)
        return result


ROWS = (("worker", "whole worker (as `--only oidc` counts it)"),
        ("app", "inside the app's WSGI call"),
        ("around_app", "request threads, around the app (gunicorn parsing, environ, writing, keep-alive)"),
        ("main_thread", "main thread (poller, accept, hand-off to the thread pool)"),
        ("other_threads", "other threads (log and metrics flushers, scheduler)"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.oidc_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=3000, help="flows per side (default 3000)")
    parser.add_argument("--threads", type=int, default=4, help="threads of the one worker (default 4)")
    args = parser.parse_args(argv)
    result = measure(args.flows, args.threads)
    for side in ("project", "floor"):
        if result[side]["failed"]:
            sys.exit(f"{side}: {result[side]['failed']} failed flows")
    print(f"{'ms of CPU per flow':<88s} project  floor")
    for key, label in ROWS:
        print(f"{label:<88s} {result['project'][key]:7.3f} {result['floor'][key]:6.3f}")
    switches = [result[side]["switches_in_app_per_request"] for side in ("project", "floor")]
    print(f"{'voluntary context switches per request inside the app':<88s} {switches[0]:7.2f} {switches[1]:6.2f}")


if __name__ == "__main__":
    main()
