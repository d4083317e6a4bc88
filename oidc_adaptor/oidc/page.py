"""An event's own waiting page: operator templates, its colours as a style sheet, its logo.

Templates are looked up in the event's ``[events.<id>.page] templates_dir``, then in
``[server] templates_dir``, then among the built-in ones, so an operator replaces only the
files they want (``waiting.html``, ``oidc_error.html``) and keeps them outside the installed
package. They render in an overlay of the application's Jinja environment: autoescaping stays
on for ``.html`` files, so a value never becomes markup, and the pages keep their
Content-Security-Policy (scripts and styles from this origin only), which no template can
loosen. The variables every template receives are listed in ``docs/waiting-page.md``.

Colours are not written into the page (that would need inline styles the policy forbids): they
come as a small style sheet, ``/events/<id>/theme.css``, made only of validated ``#rrggbb``
values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, current_app, url_for
from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader

from core.page_look import PageLook
from oidc_adaptor.plumbing import i18n
from oidc_adaptor.plumbing.services import services

from .cookie_check import without_marker

EXTENSION = "waitingroom_page_templates"
ASSET_MAX_AGE = 300
"""Seconds browsers and caches keep an event's theme and logo (they change only on a restart)."""
CSS_PROPERTIES = {"background": "--wr-bg", "card": "--wr-card", "text": "--wr-fg", "accent": "--wr-accent",
                  "accent_text": "--wr-accent-fg"}
"""Colour role -> the custom property of ``static/waiting.css`` it sets."""


def look(event_id: str) -> PageLook:
    return services().room.event(event_id).page


def template_dirs(event_id: str | None) -> tuple[str, ...]:
    """The operator's folders searched before the built-in templates, most specific first (for
    no event, as on an error page that names none, only ``[server] templates_dir``)."""
    dirs = (look(event_id).templates_dir if event_id else None, services().settings.server.templates_dir)
    return tuple(d for d in dirs if d)


def environment(dirs: tuple[str, ...], app: Flask) -> Environment:
    """The Jinja environment pages render in: the app's own environment (its globals, filters
    and autoescaping) with the operator's folders ``dirs`` searched first. One per set of folders."""
    if not dirs:
        return app.jinja_env
    overlays: dict[tuple[str, ...], Environment] = app.extensions.setdefault(EXTENSION, {})
    env = overlays.get(dirs)
    if env is None:
        assert app.jinja_env.loader is not None
        loaders: list[BaseLoader] = [FileSystemLoader(d) for d in dirs]
        env = overlays[dirs] = app.jinja_env.overlay(loader=ChoiceLoader([*loaders, app.jinja_env.loader]))
    return env


def render(event_id: str | None, name: str, /, **context: Any) -> str:
    """Template ``name`` for the event (or for none), with Flask's usual context (``request``,
    ``url_for``, and the visitor's language: ``lang``, ``dir``, ``languages`` from
    :func:`oidc_adaptor.plumbing.i18n.page_language`) and, for an event, ``page``
    (:func:`page_variables`) added to ``context``. The language links leave out the cookie
    check's marker, as "Check again" does (a link followed later must not claim the redirect)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    links: Any = i18n.page_language()["languages"]
    context.setdefault("languages", [dict(link, url=without_marker(link["url"])) for link in links])
    if event_id is not None:
        context.setdefault("page", page_variables(event_id))
    app.update_template_context(context)
    return environment(template_dirs(event_id), app).get_template(name).render(context)


def page_variables(event_id: str) -> dict[str, Any]:
    """``page`` in the templates: the event's title (its name unless configured), the short
    text or None, the logo's URL and text alternative or None, and the theme style sheet's URL
    or None when no colour is configured."""
    event = services().room.event(event_id)
    chosen = event.page
    return {
        "title": chosen.title or event.display_name,
        "text": chosen.text,
        "logo_url": url_for("oidc.event_logo", event_id=event_id) if chosen.logo else None,
        "logo_alt": chosen.logo_alt,
        "theme_css_url": url_for("oidc.event_theme", event_id=event_id) if chosen.colours else None,
    }


def theme_css(chosen: PageLook) -> str:
    """The style sheet setting the event's colours on the waiting page's custom properties.

    Made only of validated ``#rrggbb`` values, so nothing configured can inject CSS. When text
    or card colour is chosen, secondary text uses the main text colour too: the default grey is
    only known to contrast with the default card."""
    colours = chosen.colours
    lines = [f"  {CSS_PROPERTIES[role]}: {value};" for role, value in colours.items()]
    if "text" in colours or "card" in colours:
        lines.append("  --wr-muted: var(--wr-fg);")
    return ":root {\n" + "\n".join(lines) + "\n}\n"


def logo_file(chosen: PageLook) -> Path | None:
    """The configured logo if it is a readable file, else None."""
    if chosen.logo is None:
        return None
    path = Path(chosen.logo)
    return path if path.is_file() else None
