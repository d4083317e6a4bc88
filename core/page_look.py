"""How an event's waiting page looks: title, short text, logo, colours and a template folder.

Read from ``[events.<id>.page]`` in the configuration (and ``[server] templates_dir``). Colours
are checked against WCAG 2.2's contrast formula (success criteria 1.4.3 and 1.4.11:
https://www.w3.org/TR/WCAG22/#dfn-contrast-ratio); a pair below the minimum is reported by
:meth:`PageLook.contrast_warnings` (``waitingroom check-config`` prints it), not refused, so
an operator sees why before the page goes out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
              ".gif": "image/gif", ".svg": "image/svg+xml"}
"""Logo file suffixes and the media type each is served with."""

MAX_TITLE = 120
MAX_TEXT = 500
MAX_ALT = 200

DEFAULT_COLOURS = {"background": "#f5f6f8", "card": "#ffffff", "text": "#1b1f24", "accent": "#0b5cad",
                   "accent_text": "#ffffff"}
"""The default page's colours (oidc_adaptor/static/waiting.css), used for pairs only partly configured."""

TEXT_CONTRAST = 4.5
"""WCAG 1.4.3 (AA): normal text against its background."""
UI_CONTRAST = 3.0
"""WCAG 1.4.11 (AA): a user-interface component (the message's border) against what surrounds it."""


@dataclass(frozen=True)
class PageLook:
    """One event's look. Every field is optional; None keeps the default page's choice."""

    title: str | None = None
    """Replaces the event name as the page's heading and title."""
    text: str | None = None
    """A short paragraph under the heading (plain text)."""
    logo: str | None = None
    """Path of an image file (PNG, JPEG, WebP, GIF or SVG) served at ``/events/<id>/logo``."""
    logo_alt: str | None = None
    """The logo's text alternative; required with ``logo``."""
    background: str | None = None
    card: str | None = None
    text_colour: str | None = None
    accent: str | None = None
    accent_text: str | None = None
    templates_dir: str | None = None
    """A folder whose templates replace the built-in ones for this event."""

    @property
    def colours(self) -> dict[str, str]:
        """The configured colours by CSS role (``background``, ``card``, ``text``, ``accent``,
        ``accent_text``), lower-case ``#rrggbb``; unconfigured ones are left out."""
        chosen = {"background": self.background, "card": self.card, "text": self.text_colour,
                  "accent": self.accent, "accent_text": self.accent_text}
        return {role: expand(value) for role, value in chosen.items() if value is not None}

    @property
    def logo_type(self) -> str | None:
        if self.logo is None:
            return None
        return LOGO_TYPES[_suffix(self.logo)]

    def contrast_warnings(self) -> list[str]:
        """One sentence per colour pair below its WCAG minimum, for the colours as the page
        uses them (configured ones over the defaults). Empty when nothing is configured."""
        configured = self.colours
        if not configured:
            return []
        c = {**DEFAULT_COLOURS, **configured}
        pairs = [("text", "card", TEXT_CONTRAST, "text on the card"),
                 ("text", "background", TEXT_CONTRAST, "text on the background (the operator's message)"),
                 ("accent_text", "accent", TEXT_CONTRAST, "button text on the accent colour"),
                 ("accent", "card", UI_CONTRAST, "the accent colour (links, the message's border) on the card")]
        warnings = []
        for fg, bg, minimum, what in pairs:
            if fg not in configured and bg not in configured:
                continue
            ratio = contrast_ratio(c[fg], c[bg])
            if ratio < minimum:
                warnings.append(f"{what}: {c[fg]} on {c[bg]} has a contrast of {ratio:.2f}:1, "
                                f"below the {minimum:g}:1 WCAG asks for")
        return warnings


def expand(colour: str) -> str:
    """``#abc`` -> ``#aabbcc``, lower case."""
    colour = colour.lower()
    if len(colour) == 4:
        return "#" + "".join(ch * 2 for ch in colour[1:])
    return colour


def relative_luminance(colour: str) -> float:
    """WCAG 2.2 relative luminance of an sRGB ``#rrggbb`` colour, from 0 (black) to 1 (white)."""
    colour = expand(colour)
    channels = []
    for i in (1, 3, 5):
        c = int(colour[i:i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.2 contrast ratio of two colours, from 1 (the same) to 21 (black on white)."""
    a, b = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def _suffix(path: str) -> str:
    dot = path.rfind(".")
    return path[dot:].lower() if dot > max(path.rfind("/"), path.rfind("\\")) else ""


def _text(raw: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"page {key} must be a non-empty string")
    value = " ".join(value.split())
    if len(value) > limit:
        raise ValueError(f"page {key} has {len(value)} characters; at most {limit} are allowed")
    return value


def parse(raw: Any, where: str) -> PageLook:
    """A :class:`PageLook` from a ``[events.<id>.page]`` table. Raises ValueError naming the
    key for unknown keys, wrong types, colours that are not ``#rgb``/``#rrggbb``, a logo of
    another kind or without ``logo_alt``, and texts over their length limits."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a table")
    names = {"title", "text", "logo", "logo_alt", "background", "card", "text_colour", "accent", "accent_text",
             "templates_dir"}
    unknown = set(raw) - names
    if unknown:
        raise ValueError(f"unknown key(s) in {where}: {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join(sorted(names))}")
    values: dict[str, Any] = {"title": _text(raw, "title", MAX_TITLE), "text": _text(raw, "text", MAX_TEXT),
                              "logo_alt": _text(raw, "logo_alt", MAX_ALT)}
    for key in ("background", "card", "text_colour", "accent", "accent_text"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not COLOUR.match(value)):
            raise ValueError(f"{where} {key} must be a colour like #1b1f24 or #fff, not {value!r}")
        values[key] = value
    for key in ("logo", "templates_dir"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{where} {key} must be a path")
        values[key] = value
    if values["logo"] is not None:
        if _suffix(values["logo"]) not in LOGO_TYPES:
            raise ValueError(f"{where} logo must be a {', '.join(sorted(LOGO_TYPES))} file")
        if values["logo_alt"] is None:
            raise ValueError(f"{where} logo needs logo_alt: the text a screen reader says for it")
    return PageLook(**values)
