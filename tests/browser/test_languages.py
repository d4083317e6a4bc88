"""The waiting page in the visitor's language in Chromium: German from the browser's language,
Arabic right to left, and the language links working without JavaScript."""

from __future__ import annotations

from typing import Any

from .conftest import Demo, serious_violations
from .test_journey import join_line, pause


def test_a_german_browser_gets_the_page_in_german(demo: Demo, new_page: Any, axe_source: str) -> None:
    pause(demo)
    page = new_page(locale="de-DE")
    join_line(page, demo)
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_text("Ihr Platz in der Warteschlange").is_visible()
    assert page.get_by_role("link", name="Erneut prüfen").is_visible()
    assert page.locator("#wr-position").inner_text() == "1"
    page.wait_for_selector("#wr-updating:not([hidden])")
    assert page.get_by_text("Diese Seite aktualisiert sich von selbst.").is_visible()
    assert serious_violations(page, axe_source) == []
    assert page.errors == []


def test_an_arabic_page_reads_right_to_left(demo: Demo, new_page: Any, axe_source: str) -> None:
    pause(demo)
    page = new_page(locale="ar-EG")
    join_line(page, demo)
    html = page.locator("html")
    assert html.get_attribute("lang") == "ar" and html.get_attribute("dir") == "rtl"
    assert page.get_by_text("مكانك في الطابور").is_visible()
    assert page.locator("#wr-main").evaluate("el => getComputedStyle(el).direction") == "rtl"
    # Right to left: the heading starts at the card's right edge.
    heading = page.get_by_role("heading", level=1).bounding_box()
    card = page.locator("#wr-main").bounding_box()
    assert heading and card and card["x"] + card["width"] - (heading["x"] + heading["width"]) < 40
    demo.admin("POST", "/events/demo-sale/message", json={"text": "تم تغيير القاعة."})
    page.wait_for_function("() => document.getElementById('wr-message').textContent === 'تم تغيير القاعة.'",
                           timeout=30_000)
    assert page.get_by_role("heading", name="رسالة من المنظِّم").is_visible()
    # The page's script writes numbers as the server did (Babel and Intl agree for "ar").
    assert page.locator("#wr-position").inner_text() == "1"
    assert serious_violations(page, axe_source) == []
    assert page.errors == []


def test_the_language_links_work_without_javascript_and_keep_the_place(demo: Demo, new_page: Any) -> None:
    pause(demo)
    shop_tab = new_page()
    join_line(shop_tab, demo)  # the shop's sign-in link is built by script (PKCE); the rest needs none
    page = new_page(java_script=False, locale="en-GB")
    page.goto(shop_tab.url)
    assert page.locator("html").get_attribute("lang") == "en"
    position = page.locator("#wr-position").inner_text()
    languages = page.get_by_role("navigation", name="Language")
    languages.get_by_role("link", name="Français").click()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_text("Votre place dans la file").is_visible()
    assert page.locator("#wr-position").inner_text() == position  # the same place in line
    assert page.get_by_role("navigation", name="Langue").get_by_role("link", name="Français").get_attribute(
        "aria-current") == "true"
    # "Check again" keeps the language the visitor chose, whatever the browser asks for.
    page.get_by_role("link", name="Vérifier à nouveau").click()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("#wr-position").inner_text() == position
    page.get_by_role("link", name="日本語").click()
    assert page.locator("html").get_attribute("lang") == "ja"
    assert page.get_by_text("あなたの順番", exact=True).is_visible()
