"""Cold start of the CloudFront gate: its bundle in a fresh bare Python, as a new Lambda@Edge container.

Each run is a new ``python -I -S -B`` process on the unzipped bundle (``-B``: no bytecode
cached between runs, as Lambda's read-only ``/var/task`` allows none) that imports
``authorizer.edge``, answers a request without a cookie (reading the bundled configuration and
building the gate: a redirect), then one with a valid token (the first RS256 check, keys from the
bundle, no network). The reference, in the same session, is the bare interpreter starting and
exiting (``python -I -S -c pass``): the least any Python function pays. Lambda@Edge gives a
viewer-request function 5 s and 128 MB; the result reports both against the measurements.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

RUNNER = """
import json, sys, time
def peak_rss_kib():
    # VmHWM of this process image: getrusage's ru_maxrss survives exec, so a child forked from
    # a large parent would report the parent's peak instead of the gate's own
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from authorizer.edge import handler
imported = time.perf_counter()
events = json.load(sys.stdin)

first = handler(events[0], None)
answered = time.perf_counter()
second = handler(events[1], None)
verified = time.perf_counter()
warm = []
for _ in range(20):
    t = time.perf_counter(); handler(events[1], None); warm.append(time.perf_counter() - t)
print(json.dumps({"import_ms": (imported - started) * 1e3, "first_response_ms": (answered - imported) * 1e3,
                  "first_verify_ms": (verified - answered) * 1e3, "warm_verify_ms": sorted(warm)[10] * 1e3,
                  "statuses": [first.get("status"), second.get("status", "forwarded")],
                  "max_rss_kib": peak_rss_kib()}))
"""
ISSUER = "https://wait.example"
EVENT = "bench"
COOKIE = "waitingroom_token"


def _event(cookie: str | None) -> dict[str, Any]:
    headers = {"host": [{"key": "Host", "value": "shop.example"}]}
    if cookie:
        headers["cookie"] = [{"key": "Cookie", "value": f"{COOKIE}={cookie}"}]
    request = {"clientIp": "203.0.113.178", "headers": headers, "method": "GET", "querystring": "", "uri": "/"}
    return {"Records": [{"cf": {"config": {"eventType": "viewer-request"}, "request": request}}]}


def _bundle(workdir: Path) -> tuple[Path, int, str]:
    """The unzipped bundle, its zip size, and a valid token for it."""
    from authorizer import edge_bundle
    from authorizer.edge_config import EdgeConfig
    from core.tokens import KeySet, SigningKey, TokenSigner, session_claims

    now = time.time()
    keyset = KeySet([SigningKey.generate(now)])
    config = EdgeConfig(issuer=ISSUER, client_id="bench-edge", event_id=EVENT, cookie_name=COOKIE)
    built = edge_bundle.build(config, workdir / "edge-out", jwks=keyset.jwks(now))
    token = TokenSigner(lambda: keyset, lambda: now).sign(session_claims(
        issuer=ISSUER, audience=EVENT, subject="t_bench", event_id=EVENT, queue_position=1, jti="j1",
        issued_at=int(now), expires_at=int(now) + 3600, token_use="access"))
    unpacked = workdir / "edge-bundle"
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(unpacked)
    return unpacked, built.size, token


def _wall(args: list[str], stdin: str = "") -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60, check=True)
    return (time.perf_counter() - started) * 1e3, proc.stdout


def measure(workdir: Path, runs: int = 15) -> dict[str, Any]:
    unpacked, zip_bytes, token = _bundle(workdir)
    events = json.dumps([_event(None), _event(token)])
    reference: list[float] = []
    project: list[float] = []
    inside: list[dict[str, Any]] = []
    for _ in range(runs):  # interleaved, so both sides see the same machine load
        reference.append(_wall([sys.executable, "-I", "-S", "-c", "pass"])[0])
        # -B: nothing cached between runs, as in /var/task, which is read-only
        wall, out = _wall([sys.executable, "-I", "-S", "-B", "-c", RUNNER, str(unpacked)], events)
        project.append(wall)
        inside.append(json.loads(out))
    median = {key: round(statistics.median(r[key] for r in inside), 2)
              for key in ("import_ms", "first_response_ms", "first_verify_ms", "warm_verify_ms")}
    cold_ms = statistics.median(project)
    return {
        "zip_bytes": zip_bytes,
        "reference_interpreter_ms": round(statistics.median(reference), 2),
        "project_cold_start_ms": round(cold_ms, 2),
        **median,
        "max_rss_mib": round(max(r["max_rss_kib"] for r in inside) / 1024, 1),
        "statuses_ok": all(r["statuses"] == ["302", "forwarded"] for r in inside),
        "runs": runs,
    }
