"""Stable path of the WSGI entry point: ``gunicorn oidc_adaptor.wsgi:app``.

The entry point lives in :mod:`oidc_adaptor.entrypoints.wsgi`; this module keeps the path that
users put in their WSGI server's configuration. Importing it does no I/O.
"""

from __future__ import annotations

from .entrypoints.wsgi import LazyApp, app

__all__ = ["LazyApp", "app"]
