"""The OpenID Connect provider: discovery, /authorize with the waiting page, /token, /userinfo,
and the admin API for relying parties. Registered by :func:`oidc_adaptor.app.create_app`.

May import :mod:`core`, :mod:`oidc_adaptor.plumbing` and :mod:`oidc_adaptor.background`.
"""

from . import draw_check  # noqa: F401  (registers the draw check page on the blueprint)
from .views import blueprint

__all__ = ["blueprint"]
