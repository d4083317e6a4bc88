"""The whole visitor journey over HTTP, for N simulated visitors in one process.

Each visitor enters (``POST /assign_queue_num``), polls ``GET /queue_num`` with jittered
exponential backoff until the event's admission strategy (periodic, run by the server's own
scheduler) admits it, takes its tokens (``POST /generate_token``) and ends its session
(``POST /admin/update_session``, as the protected site does). At most ``max_live`` visitors are
in the journey at once; they share ``connections`` keep-alive connections.

At the end the line is checked: every position 1..N was held by exactly one visitor, and the
store's counters agree (issued == admitted == N, completed == N, nothing expired).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .loadgen import Client, HttpError, Progress, Recorder, new_session


@dataclass
class JourneyState:
    positions: list[int] = field(default_factory=list)
    admitted: int = 0
    tokens: int = 0
    ended: int = 0
    polls: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    first_enter: float = 0.0
    last_end: float = 0.0
    admitted_at: list[float] = field(default_factory=list)


async def _visitor(client: Client, event_id: str, admin_key: str, state: JourneyState, rng: random.Random,
                   first_poll: float, max_backoff: float) -> None:
    _, body, _ = await client.call("enter", "POST", "/assign_queue_num", json={"event_id": event_id})
    place = json.loads(body)
    request_id, position = place["request_id"], int(place["queue_number"])
    state.positions.append(position)
    delay = first_poll
    while True:
        await asyncio.sleep(delay * rng.uniform(0.8, 1.2))
        _, body, _ = await client.call("queue_num", "GET", "/queue_num",
                                       params={"event_id": event_id, "request_id": request_id})
        state.polls += 1
        status = json.loads(body)["status"]
        if status == "admitted":
            break
        if status != "waiting":
            raise RuntimeError(f"unexpected status {status!r} while polling")
        delay = min(max_backoff, delay * 1.6)
    state.admitted += 1
    state.admitted_at.append(time.perf_counter())
    _, body, _ = await client.call("generate_token", "POST", "/generate_token",
                                   json={"event_id": event_id, "request_id": request_id})
    if "access_token" not in json.loads(body):
        raise RuntimeError("no access token in the token response")
    state.tokens += 1
    await client.call("update_session", "POST", "/admin/update_session",
                      json={"event_id": event_id, "request_id": request_id, "status": "completed"},
                      headers={"Authorization": f"Bearer {admin_key}"})
    state.ended += 1
    state.last_end = time.perf_counter()


async def run_journey(base_url: str, event_id: str, admin_key: str, visitors: int, connections: int,
                      max_live: int, first_poll: float = 0.5, max_backoff: float = 4.0, progress: bool = True,
                      max_seconds: float = 900.0, seed: int = 1) -> dict[str, Any]:
    """Run ``visitors`` journeys; returns metrics, per-endpoint latency and the final checks."""
    recorder = Recorder()
    state = JourneyState()
    rng = random.Random(seed)
    bar = Progress(visitors, "journey", progress)
    live = asyncio.Semaphore(max_live)
    started = time.perf_counter()
    state.first_enter = started

    async with new_session(connections) as session:
        client = Client(session, base_url, recorder)

        async def one() -> None:
            try:
                await _visitor(client, event_id, admin_key, state, rng, first_poll, max_backoff)
            except (HttpError, aiohttp.ClientError, TimeoutError, RuntimeError, ValueError, KeyError) as exc:
                state.failed += 1
                if len(state.failures) < 10:
                    state.failures.append(f"{type(exc).__name__}: {exc}"[:300])
            finally:
                live.release()
                bar.update()

        tasks = []
        try:
            async with asyncio.timeout(max_seconds):
                for _ in range(visitors):
                    await live.acquire()
                    tasks.append(asyncio.create_task(one()))
                await asyncio.gather(*tasks)
        except TimeoutError:
            for task in tasks:
                task.cancel()
            state.failures.append(f"journey stopped after {max_seconds}s")
        counts = await _counts(client, event_id, admin_key)
    bar.close()
    seconds = time.perf_counter() - started
    positions = sorted(state.positions)
    checks = {
        "no errors": recorder.total_errors == 0 and state.failed == 0,
        "every position held exactly once": positions == list(range(1, visitors + 1)),
        "tokens issued == visitors admitted": state.tokens == state.admitted == counts.get("issued") == visitors,
        "sessions ended == visitors": state.ended == counts.get("completed") == visitors,
        "no place expired": counts.get("expired") == 0,
    }
    span = (state.last_end - state.first_enter) if state.last_end else seconds
    admit_span = (max(state.admitted_at) - min(state.admitted_at)) if len(state.admitted_at) > 1 else 0.0
    endpoints = recorder.summary()
    requests = sum(e["requests"] for e in endpoints.values())
    return {
        "metrics": {
            "visitors": visitors,
            "seconds": round(seconds, 2),
            "journeys_per_s": round(state.ended / span, 1) if span > 0 else 0.0,
            "admitted_per_s": round(state.admitted / admit_span, 1) if admit_span > 0 else 0.0,
            "requests": requests,
            "requests_per_s": round(requests / seconds, 1) if seconds else 0.0,
            "polls_per_visitor": round(state.polls / max(1, state.admitted), 2),
            "errors": recorder.total_errors + state.failed,
        },
        "endpoints": endpoints,
        "counters": counts,
        "checks": checks,
        "failures": state.failures,
    }


async def _counts(client: Client, event_id: str, admin_key: str) -> dict[str, Any]:
    try:
        _, body, _ = await client.call("admin counts", "GET", f"/admin/events/{event_id}/counts",
                                       headers={"Authorization": f"Bearer {admin_key}"})
    except (HttpError, aiohttp.ClientError, TimeoutError):
        return {}
    data: dict[str, Any] = json.loads(body)
    return data
