"""Trusted proxies: the scheme, host, port and client address of a request behind N proxies.

With ``[server] trusted_proxies = N`` the app takes each of ``X-Forwarded-For``,
``X-Forwarded-Proto``, ``X-Forwarded-Host`` and ``X-Forwarded-Port`` from exactly the N-th value
from the right: what the outermost of the N trusted proxies saw (each proxy appends its own
value; a client writes only to the left of them, so it cannot choose what is read). A header with
fewer than N values is ignored, and the peer's own address and scheme stand. With N = 0 no
forwarded header is trusted at all. Werkzeug's ProxyFix does the counting.

The WSGI server must not apply forwarded headers on its own rules (gunicorn trusts
``X-Forwarded-Proto`` from loopback peers only, whatever the number of hops): ``waitingroom
serve`` tells gunicorn to trust none (:data:`GUNICORN_OPTIONS`), so this module alone decides,
for the app served by gunicorn and by Lambda alike.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

GUNICORN_OPTIONS = {"forwarded_allow_ips": "", "secure_scheme_headers": {}}
"""Gunicorn leaves ``wsgi.url_scheme`` and the peer address as they are; see the module docstring."""


def trust_proxies(app: Flask, hops: int) -> None:
    """Read scheme, host, port and client address from exactly ``hops`` trusted proxies (0: none)."""
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=0,
        )


__all__ = ["GUNICORN_OPTIONS", "trust_proxies"]
