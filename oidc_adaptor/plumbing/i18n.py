"""The visitor's language: gettext catalogs through Flask-Babel, chosen per request.

Visitor-facing pages (the waiting page, the sign-in error page) are translated from the catalogs
in ``oidc_adaptor/translations/<language>/LC_MESSAGES/messages.po`` (compiled ``.mo`` beside
them; ``python scripts/compile_translations.py`` rebuilds them). The language is, in order:

1. the OpenID Connect ``ui_locales`` request parameter (OpenID Connect Core 1.0, section 3.1.2.1:
   space-separated BCP 47 tags, the first one offered wins), which the page's language links
   set, so the choice works without JavaScript and stays with "Check again";
2. the browser's ``Accept-Language`` (RFC 9110, section 12.5.4);
3. English.

Numbers are formatted for the language with Babel. Arabic pages are written right to left.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from babel import Locale
from flask import Flask, has_request_context, request
from flask_babel import Babel, format_decimal, get_locale

from .params import request_parameters

LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español", "ja": "日本語", "ar": "العربية"}
"""Languages the visitor pages are translated into: tag -> the language's own name."""
DEFAULT = "en"
TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"
PARAMETER = "ui_locales"


def select_language() -> str:
    """The request's language tag (one of :data:`LANGUAGES`); see the module docstring."""
    if not has_request_context():
        return DEFAULT
    offered = request.values.get(PARAMETER, "").split()
    # Accept-Language by quality, best first; a regional tag (de-CH) asks for its language (de).
    accepted = [tag for tag, quality in request.accept_languages if quality > 0]
    for tag in [*offered, *accepted]:
        primary = tag.replace("_", "-").split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return DEFAULT


def init_app(app: Flask) -> None:
    """Flask-Babel on ``app`` (it adds Jinja's i18n extension: ``_``, ``gettext``, ``ngettext`` with
    autoescaped placeholders), ``number``, and the page language variables of
    :func:`page_language` for templates."""
    Babel(app, locale_selector=select_language, default_translation_directories=str(TRANSLATIONS))
    app.jinja_env.globals["number"] = number
    app.context_processor(page_language)  # every page, also those rendered below the OIDC surface


def page_language() -> dict[str, object]:
    """``lang`` (BCP 47 tag), ``dir`` (``ltr`` or ``rtl``) and ``languages`` (the switcher:
    dicts of ``tag``, ``name``, ``url`` and ``current``) for a visitor page's template."""
    if not has_request_context():
        return {"lang": DEFAULT, "dir": "ltr", "languages": []}
    locale: Locale = get_locale() or Locale.parse(DEFAULT)
    tag = locale.language
    return {"lang": tag, "dir": "rtl" if locale.character_order == "right-to-left" else "ltr",
            "languages": [{"tag": code, "name": name, "url": with_language(code), "current": code == tag}
                          for code, name in LANGUAGES.items()]}


def with_language(tag: str) -> str:
    """This request's URL (path and query, a POST's form added to the query) with ``ui_locales=tag``."""
    pairs = [(k, v) for k, v in request_parameters() if k != PARAMETER] + [(PARAMETER, tag)]
    return f"{request.path}?{urlencode(pairs)}"


def number(value: int) -> str:
    """``value`` written for the visitor's language (digit grouping, numbering system)."""
    return str(format_decimal(value))
