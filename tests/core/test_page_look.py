"""An event's page look from the configuration: validation and the WCAG contrast check."""

from __future__ import annotations

import pytest

from core.page_look import PageLook, contrast_ratio, parse, relative_luminance
from core.settings import Settings, SettingsError


def test_contrast_ratio_follows_the_wcag_formula() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#fff", "#fff") == pytest.approx(1.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near miss
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert relative_luminance("#FF0000") == pytest.approx(0.2126)
    assert contrast_ratio("#0b5cad", "#ffffff") > 4.5  # the default accent


def test_a_full_look_is_parsed() -> None:
    look = parse({"title": " Spring  sale ", "text": "Doors at 9.", "logo": "/srv/logo.SVG", "logo_alt": "Acme",
                  "background": "#FFF", "card": "#ffffff", "text_colour": "#222", "accent": "#004080",
                  "accent_text": "#ffffff", "templates_dir": "/srv/templates"}, "[events.a.page]")
    assert look.title == "Spring sale" and look.logo_type == "image/svg+xml"
    assert look.colours == {"background": "#ffffff", "card": "#ffffff", "text": "#222222", "accent": "#004080",
                            "accent_text": "#ffffff"}
    assert look.contrast_warnings() == []
    assert parse({}, "x") == PageLook() and PageLook().contrast_warnings() == []


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"accent": "red"}, "colour like"),
        ({"accent": "#12345"}, "colour like"),
        ({"card": "#fff; background: url(x)"}, "colour like"),
        ({"title": ""}, "non-empty"),
        ({"title": "x" * 121}, "at most 120"),
        ({"text": 5}, "non-empty string"),
        ({"logo": "/srv/logo.png"}, "logo_alt"),
        ({"logo": "/srv/logo.html", "logo_alt": "A"}, "logo must be"),
        ({"colour": "#fff"}, "unknown key"),
    ],
)
def test_bad_looks_are_refused_by_name(raw: dict[str, object], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        Settings.from_mapping({"events": {"a": {"page": raw}}})


def test_low_contrast_is_reported_not_refused() -> None:
    settings = Settings.from_mapping({"events": {"a": {"page": {"text_colour": "#999999", "accent": "#ffff00"}}}})
    warnings = settings.events["a"].page.contrast_warnings()
    assert len(warnings) == 4, warnings  # text on card and on background, button text, accent
    assert any("text on the card: #999999 on #ffffff has a contrast of 2.85:1" in w for w in warnings)
    assert any("button text on the accent colour: #ffffff on #ffff00" in w for w in warnings)
    assert any("accent colour" in w and "3:1" in w for w in warnings)
