"""A store that cannot be reached while a visitor waits: ``/authorize`` answers 503 with
Retry-After, as every endpoint does, but as a page that comes back by itself, in the visitor's
language, rather than a JSON body that would end the waiting page's refreshes."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from core.clock import ManualClock
from oidc_adaptor.app import create_app
from tests.conftest import make_settings
from tests.support import redis_server

from .conftest import CLIENTS, Flow
from .helpers import check_again_url


@pytest.mark.parametrize("mode", ["query", "form_post"])
def test_a_dead_store_at_authorize_shows_a_page_that_tries_again_by_itself(
        tmp_path: Path, clock: ManualClock, mode: str) -> None:
    with redis_server(tmp_path / "redis") as (url, process):
        settings = make_settings(tmp_path, store=url, clients=CLIENTS, server={"retry_after": 3})
        app = create_app(settings, clock=clock, start_scheduler=False)
        flow = Flow(app)
        waiting = flow.authorize(response_mode=mode, headers={"Accept-Language": "de"})
        assert waiting.status_code == 200  # in line
        again = check_again_url(waiting.get_data(as_text=True), "http://localhost")
        process.terminate()
        process.wait(timeout=10)
        response = flow.authorize(response_mode=mode, headers={"Accept-Language": "de"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "3"
    assert response.mimetype == "text/html" and response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    # without JavaScript, the page requests the same authorization again after Retry-After
    refresh = re.search(r'<meta http-equiv="refresh" content="3;url=([^"]+)">', page)
    assert refresh, page
    target = urlsplit(html.unescape(refresh.group(1)))
    assert target.path == "/authorize" and parse_qs(target.query) == parse_qs(urlsplit(again).query)
    assert '<html lang="de"' in page and "Erneut versuchen" in page
    assert "Redis" not in page and url.rsplit(":", 1)[-1] not in page  # nothing of the store's insides
    # the other endpoints keep their JSON answer
    token = app.test_client().post("/token", data={"grant_type": "authorization_code", "code": "c"},
                                   auth=("shop", "shop-secret-long-enough-to-pass"))
    assert token.status_code in (400, 401, 503) and token.is_json
