"""The shipped nginx front (``deploy/nginx/waitingroom.conf``) in front of ``waitingroom serve``:
status documents cached per event and window, the REST and OpenID Connect journeys through it,
static files from disk, and request bodies buffered so slow clients hold no server thread."""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import jwt
import pytest
import requests

from bench.servers import NGINX_CONF
from core.model import ticket_id_for
from tests.oidc.helpers import check_again_url, serve_wsgi
from tests.oidc.test_authlib_client import relying_party
from tests.support import ADMIN_KEY

from .conftest import (
    ENTRY_LIMIT,
    EVENT,
    FAIR_EVENT,
    OTHER_EVENT,
    QUIET_EVENT,
    SECRET,
    WINDOW,
    Stack,
    waiting_page_position,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("nginx_front")]

STATUS_ROUTE = "/events/<event_id>/status"


def test_a_burst_of_polls_costs_the_origin_one_fetch_per_event_and_window(stack: Stack) -> None:
    before = stack.origin_requests(STATUS_ROUTE)
    started = time.monotonic()

    def poll(i: int) -> requests.Response:
        event = EVENT if i % 2 else OTHER_EVENT
        # Cookies and query strings differ per visitor: neither reaches the key or the origin.
        return requests.get(f"{stack.url}/events/{event}/status", params={"v": i},
                            cookies={"wr_place": f"visitor-{i}"}, timeout=20)

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(poll, range(200)))
    elapsed = time.monotonic() - started
    assert all(r.status_code == 200 for r in answers), {r.status_code for r in answers}
    for event in (EVENT, OTHER_EVENT):
        bodies = {r.content for r in answers if r.json()["event_id"] == event}
        assert len(bodies) <= elapsed // WINDOW + 2  # one copy per window (and one being refreshed)
    assert all("Set-Cookie" not in r.headers for r in answers)
    fetched = stack.origin_requests(STATUS_ROUTE) - before
    allowed = 2 * (int(elapsed // WINDOW) + 2)  # two events; the burst may straddle window edges
    assert 2 <= fetched <= allowed, f"{fetched} origin fetches for 200 polls in {elapsed:.1f}s"


def test_the_front_answers_304_and_keys_the_counters_on_the_event_only(stack: Stack) -> None:
    first = requests.get(f"{stack.url}/events/{EVENT}/status", timeout=10)
    assert first.headers["Cache-Control"] == f"public, max-age={WINDOW}, s-maxage={WINDOW}"
    again = requests.get(f"{stack.url}/events/{EVENT}/status", headers={"If-None-Match": first.headers["ETag"]},
                         timeout=10)
    assert again.status_code in (200, 304)  # 200 only if the window turned in between: a new copy
    assert (again.status_code == 304 and again.content == b"") or again.headers["ETag"] != first.headers["ETag"]
    before = stack.origin_requests("/serving_num")
    for junk in range(5):
        r = requests.get(f"{stack.url}/serving_num", params={"event_id": EVENT, "junk": junk}, timeout=10)
        assert r.status_code == 200 and r.json()["event_id"] == EVENT
    assert stack.origin_requests("/serving_num") - before <= 2  # at most a window edge crossed


def raw_get(stack: Stack, target: str) -> int:
    """The status of a GET for ``target`` sent byte for byte (HTTP clients would remove dot segments)."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.front.port, timeout=10)
    try:
        conn.request("GET", target)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_crafted_path_cannot_put_another_answer_under_an_events_cache_key(stack: Stack) -> None:
    """nginx keys on the normalised path, so a path with dot segments or doubled or encoded
    characters must reach the server as that same normalised path: otherwise its answer (a 404)
    would be kept under the event's key and served to every waiting visitor."""
    crafted = [f"/events/x/../{QUIET_EVENT}/status", f"/events/{QUIET_EVENT}/./status",
               f"//events/{QUIET_EVENT}/status", f"/events/%77{QUIET_EVENT[1:]}/status",
               f"/x/../serving_num?event_id={QUIET_EVENT}", f"/waiting_num?EVENT_ID={QUIET_EVENT}",
               f"/public_key?EVENT_ID={QUIET_EVENT}&event_id=nope", "/x/../public_key?format=pem",
               "/x/../.well-known/jwks.json"]
    for target in crafted:
        raw_get(stack, target)
    status = requests.get(f"{stack.url}/events/{QUIET_EVENT}/status", timeout=10)
    assert status.status_code == 200 and status.json()["event_id"] == QUIET_EVENT, status.text
    for counter in ("serving_num", "waiting_num"):
        answer = requests.get(f"{stack.url}/{counter}", params={"event_id": QUIET_EVENT}, timeout=10)
        assert answer.status_code == 200 and answer.json()["event_id"] == QUIET_EVENT, answer.text
    missing = requests.get(f"{stack.url}/serving_num", timeout=10)
    assert missing.status_code == 400 and "required" in missing.json()["message"], missing.text
    for query in ({"event_id": QUIET_EVENT}, {"format": "pem"}, {}):
        key = requests.get(f"{stack.url}/public_key", params=query, timeout=10)
        assert key.status_code == 200 and key.headers["X-Cache-Status"], (query, key.text)
    assert requests.get(f"{stack.url}/.well-known/jwks.json", timeout=10).json()["keys"]


def test_static_files_are_served_by_the_front(stack: Stack) -> None:
    script = requests.get(f"{stack.url}/static/waiting.js", timeout=10)
    assert script.status_code == 200 and "event-status-url" in script.text
    assert script.headers["Cache-Control"] == "max-age=3600"  # nginx's "expires 1h"; the app says no-cache


def test_the_rest_journey_through_the_front(stack: Stack) -> None:
    entered = requests.post(f"{stack.url}/assign_queue_num", json={"event_id": OTHER_EVENT}, timeout=10)
    assert entered.status_code == 200, entered.text
    place = entered.json()
    mine = {"event_id": OTHER_EVENT, "request_id": place["request_id"]}
    assert requests.post(f"{stack.url}/generate_token", json=mine, timeout=10).status_code == 403  # waiting
    stack.admit(place["queue_number"], OTHER_EVENT)
    # A client waits cheaply: it polls the cached counter until it reaches its queue_number.
    deadline = time.monotonic() + 30
    while requests.get(f"{stack.url}/serving_num", params={"event_id": OTHER_EVENT},
                       timeout=10).json()["serving_counter"] < place["queue_number"]:
        assert time.monotonic() < deadline, "the cached counter never caught up"
        time.sleep(0.5)
    tokens = requests.post(f"{stack.url}/generate_token", json=mine, timeout=10)
    assert tokens.status_code == 200, tokens.text
    keys = jwt.PyJWKClient(f"{stack.url}/.well-known/jwks.json")
    token = tokens.json()["access_token"]
    claims = jwt.decode(token, keys.get_signing_key_from_jwt(token).key, algorithms=["RS256"], audience=OTHER_EVENT)
    assert claims["iss"] == stack.url and claims["queue_position"] == place["queue_number"]


def test_the_oidc_journey_through_the_front_with_authlib(stack: Stack) -> None:
    callback_port = stack.rp_port
    rp = relying_party(stack.url, callback_port, "shop", SECRET, {"token_endpoint_auth_method": "client_secret_basic"})
    with serve_wsgi(rp, callback_port):
        browser = requests.Session()
        page = browser.get(f"http://127.0.0.1:{callback_port}/login", timeout=10)
        assert page.status_code == 200 and page.url.startswith(f"{stack.url}/authorize")
        assert page.headers["Cache-Control"] == "no-store"
        position = waiting_page_position(page.text)
        assert f'data-event-status-url="/events/{EVENT}/status"' in page.text
        assert f'data-position="{position}"' in page.text
        serving = requests.get(f"{stack.url}/events/{EVENT}/status", timeout=10).json()["serving_counter"]
        stack.admit(position - serving)
        done = browser.get(check_again_url(page.text, page.url), timeout=10)
        assert done.status_code == 200, done.text
        body = done.json()
    assert body["iss"] == stack.url
    assert body["id_claims"]["queue_position"] == position and body["userinfo"]["event_id"] == EVENT


def test_a_rotated_key_reaches_the_fronts_jwks_within_a_status_window(stack: Stack) -> None:
    """The server says max-age=300 for its JWKS (for verifiers' own caches); the front must not keep
    it that long on top, or a key published by ``keys rotate`` stays unseen past its activation and
    a verifier that refetches on an unknown kid gets the old set from the front."""
    before = {key["kid"] for key in requests.get(f"{stack.url}/.well-known/jwks.json", timeout=10).json()["keys"]}
    rotate = [sys.executable, "-m", "oidc_adaptor.cli", "keys", "rotate", "--config", str(stack.config)]
    rotated = subprocess.run(rotate, capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 0, rotated.stderr
    deadline = time.monotonic() + 60  # the front keeps it one window; 60 s leaves a loaded machine room
    while True:
        now = {key["kid"] for key in requests.get(f"{stack.url}/.well-known/jwks.json", timeout=10).json()["keys"]}
        if now - before:
            break
        assert time.monotonic() < deadline, "timed out: the front still serves the JWKS without the new key"
        time.sleep(0.5)


def test_slow_request_bodies_hold_no_server_thread(stack: Stack) -> None:
    """More stalled uploads than the server has threads: nginx holds them, the server keeps answering."""
    with ExitStack() as held:
        for _ in range(12):  # the origin runs one worker with 4 threads
            conn = held.enter_context(socket.create_connection(("127.0.0.1", stack.front.port), timeout=10))
            conn.sendall(b"POST /assign_queue_num HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 200\r\n\r\n{\"event_id\": ")
        answer = requests.post(f"{stack.url}/assign_queue_num", json={"event_id": OTHER_EVENT}, timeout=8)
        assert answer.status_code == 200, answer.text


def test_the_draw_document_is_cached_by_the_front_short_before_the_opening_long_after(stack: Stack) -> None:
    route = "/events/<event_id>/draw"
    before = stack.origin_requests(route)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda i: requests.get(f"{stack.url}/events/{FAIR_EVENT}/draw", params={"v": i},
                                                       cookies={"wr_place": f"v{i}"}, timeout=20), range(40)))
    elapsed = time.monotonic() - started
    assert {r.json()["state"] for r in answers} == {"pre_queue"}
    assert len({r.json()["commitment"] for r in answers}) == 1
    assert answers[0].headers["Cache-Control"] == f"public, max-age={WINDOW}, s-maxage={WINDOW}"
    assert 1 <= stack.origin_requests(route) - before <= int(elapsed // WINDOW) + 2

    entered = requests.post(f"{stack.url}/assign_queue_num", json={"event_id": FAIR_EVENT}, timeout=10).json()
    assert entered["status"] == "pre_queue"
    opened = requests.post(f"{stack.url}/admin/events/{FAIR_EVENT}/open",
                           headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
    assert opened.status_code == 200 and opened.json()["opening"]["draw_state"] == "open"
    time.sleep(WINDOW + 0.5)  # the pre-opening copy's window ends
    deadline = time.monotonic() + 10 * WINDOW
    document = requests.get(f"{stack.url}/events/{FAIR_EVENT}/draw", timeout=20)
    while document.json()["state"] != "open" and time.monotonic() < deadline:  # a stale copy while refreshed
        time.sleep(0.5)
        document = requests.get(f"{stack.url}/events/{FAIR_EVENT}/draw", timeout=20)
    assert document.json()["state"] == "open", "the front kept the pre-opening copy past its window"
    assert document.json()["tickets"] == [ticket_id_for(entered["request_id"])]
    assert document.headers["Cache-Control"] == "public, max-age=3600, s-maxage=3600"
    fetched = stack.origin_requests(route)
    for _ in range(5):
        again = requests.get(f"{stack.url}/events/{FAIR_EVENT}/draw", timeout=20)
        assert again.content == document.content and again.headers["X-Cache-Status"] == "HIT"
    assert stack.origin_requests(route) == fetched  # an open draw stays at the front


def test_the_server_sees_the_address_the_front_saw_not_one_a_client_claims(stack: Stack) -> None:
    """trusted_proxies = 1 and the front appends the peer to X-Forwarded-For: a client that sends its
    own X-Forwarded-For through the front is still limited by its real address; the same header
    sent straight to the server (one trusted hop) is believed. Runs last: it spends the entry budget."""
    direct = requests.post(f"{stack.origin.base_url}/assign_queue_num", json={"event_id": OTHER_EVENT},
                           headers={"X-Forwarded-For": "203.0.113.200"}, timeout=10)
    assert direct.status_code == 200, direct.text  # a fresh address for the limiter
    statuses = []
    for i in range(ENTRY_LIMIT + 1):
        r = requests.post(f"{stack.url}/assign_queue_num", json={"event_id": OTHER_EVENT},
                          headers={"X-Forwarded-For": f"203.0.113.{i}"}, timeout=10)
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) <= {200}, statuses


def test_the_file_installs_beside_debians_default_site_as_the_readme_says(tmp_path: Path) -> None:
    """Debian's nginx ships a default site (listen 80 default_server, server_name _). Copied into
    conf.d as the README says, the front must not lose to it: nginx warns of a conflicting server
    name and ignores the one it read second, and every visitor gets the nginx welcome page."""
    etc = tmp_path / "etc"
    shutil.copytree("/etc/nginx", etc, symlinks=False)
    main = (etc / "nginx.conf").read_text(encoding="utf-8").replace("/etc/nginx/", f"{etc}/")
    (etc / "nginx.conf").write_text(main.replace("pid /run/nginx.pid;", f"pid {tmp_path}/nginx.pid;"),
                                    encoding="utf-8")
    conf = NGINX_CONF.read_text(encoding="utf-8").replace("/var/cache/nginx/waitingroom ", f"{tmp_path}/cache ")
    (etc / "conf.d" / "waitingroom.conf").write_text(conf, encoding="utf-8")
    checked = subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-t", "-p", str(tmp_path),
                              "-c", str(etc / "nginx.conf"), "-e", str(tmp_path / "error.log")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert "[warn]" not in checked.stderr and "[emerg]" not in checked.stderr, checked.stderr
