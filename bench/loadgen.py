"""The asynchronous load generator: one process, thousands of connections, exact latency records.

Two ways to drive a server:

* :func:`run_requests` sends a bounded number of requests (``total``) with at most
  ``concurrency`` in flight, stopping early at ``max_seconds``; every response is checked.
* :class:`Client` is a thin recorder around one ``aiohttp`` session for scripted journeys
  (:mod:`bench.journey`): each call is timed and counted under an endpoint label.

Latencies are kept whole (one float per request) so percentiles are exact, not bucketed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

try:  # the progress bar is a nicety; the bench works without it
    from tqdm import tqdm
except ImportError:  # pragma: no cover
    tqdm = None


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of already sorted values, nearest-rank; 0.0 for none."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class EndpointStats:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        values = sorted(self.latencies)
        return {
            "requests": len(values) + sum(self.errors.values()),
            "ok": len(values),
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "p50_ms": round(percentile(values, 50) * 1000, 3),
            "p95_ms": round(percentile(values, 95) * 1000, 3),
            "p99_ms": round(percentile(values, 99) * 1000, 3),
            "max_ms": round((values[-1] if values else 0.0) * 1000, 3),
        }


class Recorder:
    """Latencies and errors per endpoint label."""

    def __init__(self) -> None:
        self.endpoints: dict[str, EndpointStats] = {}

    def ok(self, label: str, seconds: float) -> None:
        self.endpoints.setdefault(label, EndpointStats()).latencies.append(seconds)

    def error(self, label: str, kind: str) -> None:
        self.endpoints.setdefault(label, EndpointStats()).errors[kind] += 1

    @property
    def total_errors(self) -> int:
        return sum(sum(s.errors.values()) for s in self.endpoints.values())

    @property
    def total_ok(self) -> int:
        return sum(len(s.latencies) for s in self.endpoints.values())

    def summary(self) -> dict[str, dict[str, Any]]:
        return {label: stats.summary() for label, stats in sorted(self.endpoints.items())}


class Progress:
    """A tqdm bar when available and wanted, else nothing."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self._bar = tqdm(total=total, desc=label, unit="req", leave=False, mininterval=0.5) \
            if enabled and tqdm is not None else None

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def connector(limit: int) -> aiohttp.TCPConnector:
    # No DNS cache games: loopback by IP. force_close=False keeps connections alive where the
    # server allows it (gthread workers); sync workers close after each response anyway.
    return aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=None)


def new_session(limit: int, timeout: float = 30.0) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector(limit),
        timeout=aiohttp.ClientTimeout(total=timeout),
        skip_auto_headers=("User-Agent",),
    )


class HttpError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body


class Client:
    """Timed requests on one session; failures are recorded under the label and raised."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, recorder: Recorder) -> None:
        self.session = session
        self.base_url = base_url
        self.recorder = recorder

    async def call(
        self,
        label: str,
        method: str,
        path: str,
        *,
        expect: Iterable[int] = (200,),
        allow_redirects: bool = False,
        **kwargs: Any,
    ) -> tuple[int, bytes, aiohttp.ClientResponse]:
        started = time.perf_counter()
        try:
            async with self.session.request(method, self.base_url + path, allow_redirects=allow_redirects,
                                            **kwargs) as resp:
                body = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.recorder.error(label, type(exc).__name__)
            raise
        elapsed = time.perf_counter() - started
        if resp.status not in tuple(expect):
            self.recorder.error(label, f"HTTP {resp.status}")
            raise HttpError(resp.status, body)
        self.recorder.ok(label, elapsed)
        return resp.status, body, resp


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    check: Callable[[bytes], bool] | None = None  # extra check on the body of a 200


@dataclass
class LoadResult:
    label: str
    requests: int
    errors: int
    seconds: float
    latency: dict[str, Any]

    @property
    def rps(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "requests": self.requests, "errors": self.errors,
                "seconds": round(self.seconds, 3), "rps": round(self.rps, 1), "latency": self.latency}


async def run_requests(
    base_url: str,
    make: Callable[[int], RequestSpec],
    total: int,
    concurrency: int,
    label: str,
    max_seconds: float = 60.0,
    progress: bool = True,
) -> LoadResult:
    """Send ``make(0) .. make(total - 1)`` with ``concurrency`` in flight; stop early at ``max_seconds``.

    A response counts as ok when its status is 200 and ``check`` (if any) accepts its body.
    """
    recorder = Recorder()
    next_index = 0
    bar = Progress(total, label, progress)
    deadline = time.perf_counter() + max_seconds
    async with new_session(concurrency) as session:
        client = Client(session, base_url, recorder)

        async def worker() -> None:
            nonlocal next_index
            while next_index < total and time.perf_counter() < deadline:
                i = next_index
                next_index += 1
                spec = make(i)
                try:
                    _, body, _ = await client.call(label, spec.method, spec.path, **spec.kwargs)
                    if spec.check is not None and not spec.check(body):
                        recorder.endpoints[label].latencies.pop()
                        recorder.error(label, "bad body")
                except (TimeoutError, HttpError, aiohttp.ClientError):
                    pass
                bar.update()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    bar.close()
    stats = recorder.summary().get(label, EndpointStats().summary())
    return LoadResult(label, stats["requests"], stats["errors"], seconds, stats)
