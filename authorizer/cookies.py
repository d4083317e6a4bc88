"""Reading the ``Cookie`` header: standard library only (the CloudFront gate's bundle uses it too).

Parsed by hand rather than with ``http.cookies``, which drops every cookie of a header when one of
them is malformed (RFC 6265 section 5.4 leaves that to the server; a site must not lose its
visitor's token to someone else's odd cookie).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def cookie_pairs(cookie_strings: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``(name, value)`` of every ``name=value`` in ``Cookie`` header values, in order; a quoted
    value is unquoted, a part without ``=`` is skipped."""
    for cookie_string in cookie_strings:
        for part in cookie_string.split(";"):
            key, sep, value = part.strip().partition("=")
            if not sep:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            yield key.strip(), value


def from_cookies(cookie_strings: Iterable[str], name: str) -> str | None:
    """The value of the first cookie ``name`` in ``Cookie`` header values or ``name=value`` strings."""
    for key, value in cookie_pairs(cookie_strings):
        if key == name:
            return value or None
    return None


def cookie_values(cookie_strings: Iterable[str], name: str, limit: int) -> list[str]:
    """The first ``limit`` non-empty values of the cookies called ``name``, in order. A browser sends
    one per path and domain it holds (RFC 6265 section 5.4): a stale one, or one a sibling subdomain
    set, can come before the one the site set."""
    return [value for key, value in cookie_pairs(cookie_strings) if key == name and value][:limit]


def without_cookies(cookie_strings: Iterable[str], names: Iterable[str]) -> str:
    """One ``Cookie`` header value holding every cookie except those called ``names`` ('' if none is left)."""
    dropped = set(names)
    kept = []
    for cookie_string in cookie_strings:
        for part in cookie_string.split(";"):
            part = part.strip()
            if part and part.partition("=")[0].strip() not in dropped:
                kept.append(part)
    return "; ".join(kept)
