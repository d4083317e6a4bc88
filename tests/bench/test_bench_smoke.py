"""The benchmark suite's quickest run works end to end (it proves the bench code, not the speed).

Starts its own redis-server, the reference app and ``waitingroom serve``, sends a few hundred
requests each way through the asynchronous load generator and checks the JSON it writes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_quickest_run_writes_results_without_errors(tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--quick", "--only", "enter", "--requests", "200", "--rounds", "1",
         "--no-progress", "--results", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((results / "latest.json").read_text())
    assert set(data["machine"]) >= {"cores", "python", "redis", "server", "seconds"}
    [enter] = data["results"]
    assert enter["name"] == "enter" and enter["target"] == 0.8 and enter["ratio"] > 0
    assert enter["metrics"]["errors"] == 0
    assert enter["metrics"]["reference_rps"] > 0 and enter["metrics"]["project_rps"] > 0
    for side in ("reference", "project"):
        [run] = enter["runs"][side]
        assert run["requests"] == 200 and run["errors"] == 0
        assert set(run["latency"]) >= {"p50_ms", "p95_ms", "p99_ms", "max_ms", "ok", "errors"}
    assert "| enter |" in (results / "latest.md").read_text()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_quickest_oidc_run_completes_its_flows(tmp_path: Path) -> None:
    """The OpenID Connect benchmark drives the flow as a browser does (the place cookie's check
    included): every flow of both clients completes, and both floor references run too."""
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--quick", "--only", "oidc", "--no-progress", "--results", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    secret, public, floor, store_floor = json.loads((results / "latest.json").read_text())["results"]
    for flows in (secret, public):
        assert flows["metrics"]["flows"] > 0 and flows["metrics"]["errors"] == 0, flows["failures"]
        assert flows["metrics"]["server_cpu_ms_per_flow"] > 0
    assert floor["name"] == "oidc flow (public) vs the Flask floor" and floor["metrics"]["errors"] == 0
    assert floor["ratio"] > 0
    assert store_floor["name"] == "oidc flow: the floor with its store round trips vs the floor"
    assert store_floor["metrics"]["errors"] == 0 and store_floor["ratio"] > 0


def test_edge_cold_start_measures_a_working_bundle(tmp_path: Path) -> None:
    from bench.edge_cold_start import measure

    result = measure(tmp_path, runs=1)
    assert result["statuses_ok"]  # a redirect without a cookie, the token let through
    assert 0 < result["zip_bytes"] < 1024 * 1024
    assert result["project_cold_start_ms"] > 0 and result["reference_interpreter_ms"] > 0
    assert 0 < result["max_rss_mib"] < 128


@pytest.mark.slow
def test_oidc_parts_splits_a_flow_in_process() -> None:
    """``python -m bench.oidc_parts``: both sides complete their flows in process (any refusal
    stops it with an error), and the project's parts are reported, store calls and signing
    included."""
    proc = subprocess.run([sys.executable, "-m", "bench.oidc_parts", "--flows", "5", "--rounds", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("project ") and lines[1].startswith("floor ")
    parts = {line.split("  ", 2)[-1].strip(): float(line.split()[0]) for line in lines[4:]}
    assert parts["store calls (redis-py, socket)"] > 0
    assert parts["signing the two tokens (RSA, PyJWT)"] > 0
    assert parts["Authlib: token endpoint (client auth, code, PKCE, answer)"] > 0
    assert "the rest (Flask, werkzeug, views)" in parts


@pytest.mark.slow
def test_oidc_worker_splits_a_gunicorn_worker() -> None:
    """``python -m bench.oidc_worker``: both sides complete their flows under gunicorn (a failed
    flow stops it with an error), and the worker's CPU is split into the app, gunicorn around it
    and the main thread, which add up to no more than the whole worker."""
    proc = subprocess.run([sys.executable, "-m", "bench.oidc_worker", "--flows", "20"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {line[:88].strip(): [float(x) for x in line[88:].split()] for line in proc.stdout.splitlines()[1:]}
    whole = rows["whole worker (as `--only oidc` counts it)"]
    app = rows["inside the app's WSGI call"]
    assert all(value > 0 for value in whole + app)
    parts = [rows[label] for label in rows if not label.startswith(("whole", "voluntary"))]
    for side in (0, 1):
        assert sum(part[side] for part in parts) <= whole[side] + 0.01
