"""A static site behind the CloudFront gate, in Chromium: visitor -> waiting page -> admitted -> site.

The waiting room is a real ``waitingroom serve`` on 127.0.0.1; the site is the gate's real bundle
(built by ``waitingroom edge bundle``, run by a bare Python) in a local stand-in for CloudFront's
viewer-request step (:mod:`tests.browser.cloudfront_standin`) in front of a static origin on
``localhost``: another site for the browser, as a shop and its waiting room are.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import ADMIN_KEY, ServerProcess, free_port, serve_process, server_config, stop_process, wait_for_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EVENT = "spring-sale"
CLIENT = "shop-edge"
CALLBACK = "/_waitingroom/callback"


@pytest.fixture
def gated_site(tmp_path: Path) -> Iterator[tuple[str, ServerProcess]]:
    """(site URL, waiting room): the stand-in serving the bundle in front of a two-page origin."""
    site_port = free_port()
    site = f"http://localhost:{site_port}"
    config = server_config(tmp_path / "room", events={EVENT: {"name": "Spring sale", "queue_position_expiry": 0}},
                           clients={CLIENT: {"event": EVENT, "redirect_uris": [site + CALLBACK]}})
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "index.html").write_text("<!doctype html><title>Shop</title><h1>Welcome to the shop</h1>")
    (origin / "tickets.html").write_text("<!doctype html><title>Tickets</title><h1 id='tickets'>Pick your seat</h1>")
    with serve_process(config, workers=1) as room:
        edge_toml = tmp_path / "edge.toml"
        edge_toml.write_text("\n".join([
            "[edge]", f'issuer = "{room.base_url}"', f'client_id = "{CLIENT}"', f'event_id = "{EVENT}"',
            f'callback_path = "{CALLBACK}"', f'site_origin = "{site}"', 'unprotected_paths = ["/healthz"]']) + "\n")
        built = subprocess.run([sys.executable, "-m", "oidc_adaptor.cli", "edge", "bundle", "--config", str(edge_toml),
                                "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert built.returncode == 0, built.stderr
        bundle = tmp_path / "bundle"
        zipfile.ZipFile(tmp_path / "out" / "waitingroom-edge.zip").extractall(bundle)
        standin = subprocess.Popen(
            [sys.executable, "-I", "-S", str(HERE / "cloudfront_standin.py"), "--bundle", str(bundle),
             "--origin", str(origin), "--port", str(site_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_port(site_port, timeout=30)
            yield site, room
        finally:
            stop_process(standin)


def test_a_visitor_waits_then_enters_the_site(gated_site: tuple[str, ServerProcess],
                                              new_page: Callable[..., Any]) -> None:
    site, room = gated_site
    page = new_page()
    page.goto(site + "/tickets.html?row=F")
    assert page.url.startswith(room.base_url + "/authorize?")  # the edge sent the visitor to the waiting room
    assert page.locator("#wr-position").inner_text() == "1"

    admitted = requests.post(f"{room.base_url}/admin/increment_serving_counter", timeout=10,
                             json={"event_id": EVENT, "increment_by": 1},
                             headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert admitted.status_code == 200, admitted.text
    # The waiting page notices by itself and goes on: callback, cookie, back to the page asked for.
    page.wait_for_url(site + "/tickets.html?row=F", timeout=60_000)
    assert page.locator("#tickets").inner_text() == "Pick your seat"

    cookies = {c["name"]: c for c in page.context.cookies(site)}
    assert cookies["waitingroom_token"]["httpOnly"] and cookies["waitingroom_token"]["sameSite"] == "Lax"
    assert "waitingroom_token_login" not in cookies  # the sign-in is over

    page.goto(site + "/index.html")  # the next request passes at once
    assert page.url == site + "/index.html" and "Welcome" in page.locator("h1").inner_text()
    page.goto(site + "/_origin/headers")
    seen = json.loads(page.locator("body").inner_text())
    assert "waitingroom_token" not in json.dumps(seen.get("cookie", []))  # the origin never sees the token

    stranger = new_page()  # another browser, no cookie: not let through
    stranger.goto(site + "/index.html")
    assert stranger.url.startswith(room.base_url + "/authorize?")
