"""An event's own waiting page: configured title, text, colours and logo, and operator templates
outside the package, with autoescaping and the Content-Security-Policy kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from core.clock import ManualClock
from oidc_adaptor import cli
from oidc_adaptor.app import create_app
from oidc_adaptor.oidc.views import HTML_CSP
from tests.conftest import make_settings

from .conftest import CLIENTS, Flow
from .helpers import EVENT

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def themed_app(tmp_path: Path, clock: ManualClock, page: dict[str, Any], **server: Any) -> Flask:
    events = {EVENT: {"name": "Spring sale", "page": page}}
    settings = make_settings(tmp_path, clients=CLIENTS, events=events, server=server)
    return create_app(settings, clock=clock, start_scheduler=False)


def test_title_text_colours_and_logo_reach_the_page(tmp_path: Path, clock: ManualClock) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    app = themed_app(tmp_path, clock, {"title": "Acme <Tickets>", "text": "Doors open at 9 & not before.",
                                       "logo": str(logo), "logo_alt": "Acme", "accent": "#004080",
                                       "text_colour": "#222222"})
    response = Flow(app).authorize()
    html = response.get_data(as_text=True)
    assert "<h1>Acme &lt;Tickets&gt;</h1>" in html and "<title>Waiting room \u2013 Acme &lt;Tickets&gt;</title>" in html
    assert '<p class="wr-text">Doors open at 9 &amp; not before.</p>' in html
    assert f'<img class="wr-logo" src="/events/{EVENT}/logo" alt="Acme">' in html
    assert f'<link rel="stylesheet" href="/events/{EVENT}/theme.css">' in html
    assert response.headers["Content-Security-Policy"] == HTML_CSP  # no inline style was needed
    assert "style=" not in html

    browser = app.test_client()
    css = browser.get(f"/events/{EVENT}/theme.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert css.get_data(as_text=True) == ":root {\n  --wr-fg: #222222;\n  --wr-accent: #004080;\n" \
                                         "  --wr-muted: var(--wr-fg);\n}\n"
    assert css.headers["Cache-Control"].startswith("public")
    image = browser.get(f"/events/{EVENT}/logo")
    assert image.status_code == 200 and image.mimetype == "image/png" and image.get_data() == PNG
    assert "sandbox" in image.headers["Content-Security-Policy"]
    assert image.headers["X-Content-Type-Options"] == "nosniff"


def test_an_event_without_a_look_has_no_theme_or_logo(app: Flask) -> None:
    html = Flow(app).authorize().get_data(as_text=True)
    assert "theme.css" not in html and "wr-logo" not in html and "<h1>Spring sale</h1>" in html
    browser = app.test_client()
    assert browser.get(f"/events/{EVENT}/theme.css").status_code == 404
    assert browser.get(f"/events/{EVENT}/logo").status_code == 404
    assert browser.get("/events/nope/theme.css").status_code == 404


def write_template(folder: Path, marker: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "waiting.html").write_text(
        "<!doctype html><html lang=\"en\"><head><title>{{ page.title }}</title></head><body>"
        f"<main id=\"wr-main\"><h1>{marker} {{{{ page.title }}}}</h1>"
        "<p id=\"wr-position\">{{ position }}</p><p>{{ event_id }}</p></main></body></html>", encoding="utf-8")
    return folder


def test_templates_dir_replaces_the_page_per_server_and_per_event(tmp_path: Path, clock: ManualClock) -> None:
    server_dir = write_template(tmp_path / "server-templates", "SERVER")
    event_dir = write_template(tmp_path / "event-templates", "EVENT")
    app = themed_app(tmp_path / "a", clock, {"title": "<b>Sale</b>"}, templates_dir=str(server_dir))
    response = Flow(app).authorize()
    html = response.get_data(as_text=True)
    assert "<h1>SERVER &lt;b&gt;Sale&lt;/b&gt;</h1>" in html  # autoescaping stays on in operator templates
    assert '<p id="wr-position">1</p>' in html and f"<p>{EVENT}</p>" in html
    assert response.headers["Content-Security-Policy"] == HTML_CSP

    app = themed_app(tmp_path / "b", clock, {"templates_dir": str(event_dir)}, templates_dir=str(server_dir))
    assert "<h1>EVENT Spring sale</h1>" in Flow(app).authorize().get_data(as_text=True)
    # The error page was not replaced: the built-in one is used.
    error = app.test_client().get("/authorize", query_string={"client_id": "nope"})
    assert error.status_code == 400 and "SERVER" not in error.get_data(as_text=True)


def test_check_config_warns_about_contrast_and_missing_files(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "wr.toml"
    config.write_text(
        '[events.sale.page]\ntext_colour = "#aaaaaa"\nlogo = "/nowhere/logo.png"\nlogo_alt = "Acme"\n'
        'templates_dir = "/nowhere"\n', encoding="utf-8")
    assert cli.main(["check-config", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "warning: [events.sale.page] text on the card: #aaaaaa on #ffffff has a contrast of 2.32:1" in err
    assert "logo '/nowhere/logo.png' is not a readable file" in err and "templates_dir '/nowhere'" in err
