"""The visitor pages in the visitor's language: the catalogs are complete and compiled, the
language comes from ui_locales or Accept-Language, Arabic is right to left, numbers are Babel's."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask

from core.clock import ManualClock
from oidc_adaptor.app import create_app
from oidc_adaptor.plumbing import i18n
from scripts.compile_translations import compiled
from tests.conftest import make_settings

from .conftest import CLIENTS, Flow
from .helpers import EVENT

PACKAGE = Path(__file__).resolve().parents[2] / "oidc_adaptor"
TRANSLATED = [tag for tag in i18n.LANGUAGES if tag != i18n.DEFAULT]
SAME_WORDS = {"fr": {"minutes"}}
"""Text nodes a language writes as English does (French "minutes" after the range's numbers)."""


def template_messages() -> set[str | tuple[str, str]]:
    """Every message the visitor templates and the package's code mark for translation (``_``,
    ``gettext``, ``ngettext``)."""
    found = list(extract_from_dir(str(PACKAGE / "templates"), method_map=[("**.html", "jinja2.ext:babel_extract")],
                                  options_map={"**.html": {"extensions": "jinja2.ext.i18n"}}))
    found += extract_from_dir(str(PACKAGE), method_map=[("**.py", "python")])  # gettext() in views and hooks
    return {message for _file, _line, message, _comments, _context in found}


def catalog(tag: str) -> object:
    with (i18n.TRANSLATIONS / tag / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=tag)


@pytest.mark.parametrize("tag", TRANSLATED)
def test_every_marked_string_is_translated_in_every_catalog(tag: str) -> None:
    messages = template_messages()
    assert len(messages) >= 15, messages
    entries = catalog(tag)
    for message in messages:
        msgid = message[0] if isinstance(message, tuple) else message
        entry = entries.get(msgid)  # type: ignore[attr-defined]
        assert entry is not None, f"{tag}: {msgid!r} is not in the catalog"
        assert not entry.fuzzy, f"{tag}: {msgid!r} is marked fuzzy"
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert all(strings), f"{tag}: {msgid!r} is not translated"
        if isinstance(message, tuple):
            assert len(strings) == entries.num_plurals, f"{tag}: {msgid!r} needs {entries.num_plurals} plural forms"  # type: ignore[attr-defined]
        for string in strings:  # the placeholders survive translation
            assert set(re.findall(r"%\((\w+)\)s", string)) == set(re.findall(r"%\((\w+)\)s", msgid)), (tag, string)


@pytest.mark.parametrize("tag", TRANSLATED)
def test_the_compiled_catalogs_match_their_sources(tag: str) -> None:
    mo = i18n.TRANSLATIONS / tag / "LC_MESSAGES" / "messages.mo"
    assert mo.read_bytes() == compiled(mo.with_suffix(".po")), "run python scripts/compile_translations.py"


class Texts(HTMLParser):
    """The text a visitor reads: text nodes, the title, and alt/aria-label attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("alt", "aria-label") and value:
                self.texts.add(value.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.add(" ".join(data.split()))


def visible_texts(html: str) -> set[str]:
    parser = Texts()
    parser.feed(html)
    return parser.texts


def pages(app: Flask, language: str) -> str:
    """The waiting page (with an operator message and an estimate), the error page and the page
    for a browser that keeps no cookies, in ``language``."""
    headers = {"Accept-Language": language}
    flow = Flow(app)
    waiting = flow.authorize(headers=headers).get_data(as_text=True)
    error = flow.browser.get("/authorize", query_string={"client_id": "nope"}, headers=headers)
    assert error.status_code == 400
    no_cookies = app.test_client(use_cookies=False)
    asked = no_cookies.get("/authorize", query_string=flow.params(), headers=headers)
    refused = no_cookies.get(asked.headers["Location"], headers=headers)
    assert refused.status_code == 200 and 'id="wr-retry"' in refused.get_data(as_text=True)
    return waiting + error.get_data(as_text=True) + refused.get_data(as_text=True)


@pytest.mark.parametrize("tag", TRANSLATED)
def test_no_english_is_left_on_a_translated_page(app: Flask, tag: str) -> None:
    """Fails for any visitor-facing string that is not marked for translation or not in the catalog."""
    app.extensions["waitingroom"].room.set_message(EVENT, "Hall B", None)
    english = visible_texts(pages(app, "en"))
    translated = visible_texts(pages(app, tag))
    kept = {"Spring sale", "Hall B", *i18n.LANGUAGES.values(), *SAME_WORDS.get(tag, ())}
    left = {text for text in english & translated
            if text not in kept and not re.fullmatch(r"[\d\s.,()\u2013-]*", text)}
    assert not left, f"English left on the {tag} pages: {sorted(left)}"
    assert len(english) >= 15


def test_the_language_comes_from_ui_locales_then_accept_language(app: Flask) -> None:
    flow = Flow(app)

    def page(headers: dict[str, str], **extra: str) -> str:
        return flow.authorize(headers=headers, **extra).get_data(as_text=True)

    assert '<html lang="de" dir="ltr">' in page({"Accept-Language": "de-CH, en;q=0.5"})
    assert "Ihr Platz in der Warteschlange" in page({"Accept-Language": "de"})
    assert '<html lang="ar" dir="rtl">' in page({"Accept-Language": "ar-EG"})
    assert '<html lang="fr" dir="ltr">' in page({"Accept-Language": "de"}, ui_locales="fr-CA es")
    assert '<html lang="es" dir="ltr">' in page({}, ui_locales="xx es")
    assert '<html lang="en" dir="ltr">' in page({"Accept-Language": "pt-BR"})
    ja = page({"Accept-Language": "ja"})
    assert "あなたの順番" in ja and 'aria-current="true">日本語</a>' in ja
    # The switcher links keep the request and set ui_locales; "Check again" keeps the choice.
    fr = page({}, ui_locales="fr")
    assert "ui_locales=fr" in re.search(r'id="wr-check" class="wr-button" href="([^"]+)"', fr).group(1)  # type: ignore[union-attr]
    assert re.search(r'href="/authorize\?[^"]*state=st-123[^"]*&amp;ui_locales=de" lang="de"', fr)


def test_numbers_are_written_for_the_language(app: Flask) -> None:
    for language, expected in (("en", "1,234,567"), ("de", "1.234.567"), ("fr", "1\u202f234\u202f567"),
                               ("ja", "1,234,567")):
        with app.test_request_context("/", headers={"Accept-Language": language}):
            assert i18n.number(1234567) == expected, language


def test_the_rate_limit_page_is_translated_too(tmp_path: Path, clock: ManualClock) -> None:
    settings = make_settings(tmp_path, clients=CLIENTS, server={"enter_rate_limit": "1/minute"})
    app = create_app(settings, clock=clock, start_scheduler=False)
    headers = {"Accept-Language": "de"}
    first, second = Flow(app), Flow(app)
    assert first.authorize(headers=headers).status_code == 200
    refused = second.authorize(headers=headers)
    assert refused.status_code == 429
    html = refused.get_data(as_text=True)
    assert '<html lang="de" dir="ltr">' in html and "Bitte versuchen Sie es in" in html and "Sekunden" in html
    assert "Too many" not in html
