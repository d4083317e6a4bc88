"""OpenID Connect authorization code flows for already-admitted visitors, and the signing ceiling.

A flow is what a relying party and a browser do once the visitor is admitted: ``GET /authorize``
(the browser's place cookie; 302 with a code), ``POST /token`` (code, PKCE verifier, client
authentication), ``GET /userinfo`` (the access token). The ceiling is the same two tokens (access
and id) signed with the same RSA key in a tight loop on one core: no server can issue flows
faster than it signs their tokens.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt

from .loadgen import Client, HttpError, Progress, Recorder

PLACE_COOKIE = "wr_place"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _authorize_params(client_id: str, redirect_uri: str, challenge: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid",
            "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
            "code_challenge_method": "S256"}


async def _take_place(client: Client, client_id: str, redirect_uri: str) -> str:
    """A browser's first visit: the place cookie and a redirect that checks it comes back, then
    the waiting page (a place in line); returns the cookie value."""
    _, verifier_challenge = pkce_pair()
    _, _, resp = await client.call("setup authorize", "GET", "/authorize", expect=(303,),
                                   params=_authorize_params(client_id, redirect_uri, verifier_challenge))
    morsel = resp.cookies.get(PLACE_COOKIE)
    if morsel is None:
        raise RuntimeError("the authorization endpoint set no place cookie")
    location = urlsplit(resp.headers["Location"])
    await client.call("setup authorize", "GET", f"{location.path}?{location.query}",
                      headers={"Cookie": f"{PLACE_COOKIE}={morsel.value}"})
    return morsel.value


async def _flow(client: Client, cookie: str, client_id: str, secret: str | None, redirect_uri: str) -> None:
    verifier, challenge = pkce_pair()
    _, _, resp = await client.call("authorize", "GET", "/authorize", expect=(302,),
                                   params=_authorize_params(client_id, redirect_uri, challenge),
                                   headers={"Cookie": f"{PLACE_COOKIE}={cookie}"})
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    if "code" not in query:
        raise RuntimeError(f"no code in the redirect: {resp.headers['Location'][:200]}")
    form = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect_uri,
            "code_verifier": verifier}
    auth = None
    if secret is None:
        form["client_id"] = client_id
    else:
        auth = aiohttp.BasicAuth(client_id, secret)
    _, body, _ = await client.call("token", "POST", "/token", data=form, auth=auth)
    tokens = json.loads(body)
    if "id_token" not in tokens:
        raise RuntimeError("no id token in the token response")
    _, body, _ = await client.call("userinfo", "GET", "/userinfo",
                                   headers={"Authorization": f"Bearer {tokens['access_token']}"})
    if "sub" not in json.loads(body):
        raise RuntimeError("no sub in userinfo")


async def run_flows(base_url: str, event_id: str, admin_key: str, client_id: str, secret: str | None,
                    redirect_uri: str, flows: int, browsers: int, progress: bool = True,
                    max_seconds: float = 60.0, take_places: bool = True) -> dict[str, Any]:
    """``flows`` complete flows from ``browsers`` concurrent browsers. With ``take_places`` (the
    project), each browser first takes a place in line and an admin call admits them all; the
    floor reference has no line, so its browsers start right away."""
    recorder = Recorder()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=browsers),
                                     cookie_jar=aiohttp.DummyCookieJar(),
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        client = Client(session, base_url, recorder)
        if take_places:
            cookies = [await _take_place(client, client_id, redirect_uri) for _ in range(browsers)]
            await client.call("setup admit", "POST", "/admin/increment_serving_counter",
                              json={"event_id": event_id, "increment_by": browsers},
                              headers={"Authorization": f"Bearer {admin_key}"})
        else:
            cookies = [secrets.token_urlsafe(16) for _ in range(browsers)]
        for cookie in cookies:  # one warm-up flow each: the first one also issues the session
            await _flow(client, cookie, client_id, secret, redirect_uri)
        recorder = Recorder()
        client.recorder = recorder
        bar = Progress(flows, f"oidc {client_id}", progress)
        done = failed = 0
        next_flow = 0
        deadline = time.perf_counter() + max_seconds
        failures: list[str] = []

        async def browser(cookie: str) -> None:
            nonlocal done, failed, next_flow
            while next_flow < flows and time.perf_counter() < deadline:
                next_flow += 1
                try:
                    await _flow(client, cookie, client_id, secret, redirect_uri)
                    done += 1
                except (HttpError, aiohttp.ClientError, TimeoutError, RuntimeError, KeyError, ValueError) as exc:
                    failed += 1
                    if len(failures) < 5:
                        failures.append(f"{type(exc).__name__}: {exc}"[:300])
                bar.update()

        started = time.perf_counter()
        await asyncio.gather(*(browser(c) for c in cookies))
        seconds = time.perf_counter() - started
        bar.close()
    return {"flows": done, "failed": failed + recorder.total_errors, "seconds": seconds,
            "flows_per_s": done / seconds if seconds else 0.0, "endpoints": recorder.summary(),
            "failures": failures}


def token_pair_signer(keys_file: Path) -> Callable[[], tuple[str, str]]:
    """A function signing one flow's access and id token: the project's claims, its current key."""
    from core.tokens import KeySet, session_claims

    keyset = KeySet.from_json(keys_file.read_text(encoding="utf-8"))
    key = keyset.current(time.time())
    now = int(time.time())
    common: dict[str, Any] = {"issuer": "http://127.0.0.1:8080", "subject": "t_" + "A" * 24, "event_id": "oidc",
                              "queue_position": 1, "jti": secrets.token_urlsafe(16), "issued_at": now,
                              "expires_at": now + 3600}
    access_claims = session_claims(**common, audience="oidc", token_use="access",
                                   extra={"client_id": "bench-rp", "scope": "openid"})
    id_claims = session_claims(**common, audience="bench-rp", token_use="id",
                               extra={"azp": "bench-rp", "auth_time": now, "at_hash": "A" * 22, "nonce": "n"})
    headers = {"kid": key.kid, "typ": "JWT"}

    def sign() -> tuple[str, str]:
        return (jwt.encode(access_claims, key.private_key, algorithm="RS256", headers=headers),
                jwt.encode(id_claims, key.private_key, algorithm="RS256", headers=headers))

    return sign


def signing_ceiling(keys_file: Path, seconds: float = 2.0) -> dict[str, Any]:
    """Flows per second one core could sign: access + id token, same key, same claims, tight loop."""
    sign = token_pair_signer(keys_file)
    count = 0
    started = time.process_time()
    wall = time.perf_counter()
    while time.perf_counter() - wall < seconds:
        sign()
        count += 1
    cpu = time.process_time() - started
    return {"pairs": count, "cpu_seconds": round(cpu, 3), "wall_seconds": round(time.perf_counter() - wall, 3),
            "flows_per_cpu_s": count / cpu if cpu else 0.0}
