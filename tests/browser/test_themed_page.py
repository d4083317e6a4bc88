"""A themed waiting page in Chromium: the event's colours, logo, title and text apply under the
page's Content-Security-Policy, and the page stays free of serious accessibility violations."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from core.page_look import parse
from tests.oidc.helpers import live_provider, pkce_pair

from .conftest import serious_violations

EVENT = "spring-sale"
CALLBACK = "http://127.0.0.1:9/callback"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
DARK = {"background": "#101418", "card": "#1b2128", "text_colour": "#f2f4f7", "accent": "#7cc4ff",
        "accent_text": "#0b1a2a"}


def test_a_themed_page_applies_its_look_and_stays_accessible(tmp_path: Path, new_page: Any, axe_source: str) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    look = {"title": "Acme festival", "text": "Tickets go on sale at 9:00.", "logo": str(logo),
            "logo_alt": "Acme", **DARK}
    assert parse(look, "test").contrast_warnings() == []  # colours the configuration check accepts
    events = {EVENT: {"name": "Spring sale", "page": look}}
    clients = {"spa": {"event": EVENT, "redirect_uris": [CALLBACK]}}
    with live_provider(tmp_path, clients, events=events) as provider:
        _verifier, challenge = pkce_pair()
        query = urlencode({"response_type": "code", "client_id": "spa", "redirect_uri": CALLBACK, "scope": "openid",
                           "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})
        page = new_page()
        refused: list[str] = []
        page.on("console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None)
        page.goto(f"{provider.url}/authorize?{query}")
        page.wait_for_selector("#wr-position")

        assert page.title() == "Waiting room \u2013 Acme festival"
        assert page.get_by_role("heading", level=1).inner_text() == "Acme festival"
        assert page.locator(".wr-text").inner_text() == "Tickets go on sale at 9:00."
        logo_img = page.get_by_role("img", name="Acme")
        assert logo_img.evaluate("img => img.complete && img.naturalWidth") == 1
        styles = page.evaluate("""() => {
            const card = getComputedStyle(document.getElementById('wr-main'));
            const button = getComputedStyle(document.getElementById('wr-check'));
            return [getComputedStyle(document.body).backgroundColor, card.backgroundColor, card.color,
                    button.backgroundColor, button.color];
        }""")
        assert styles == ["rgb(16, 20, 24)", "rgb(27, 33, 40)", "rgb(242, 244, 247)", "rgb(124, 196, 255)",
                          "rgb(11, 26, 42)"]
        assert refused == []  # the theme came as a style sheet: nothing inline was needed or blocked
        assert serious_violations(page, axe_source) == []
        assert page.errors == []
