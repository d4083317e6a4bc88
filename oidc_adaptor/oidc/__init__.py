"""The OpenID Connect provider: discovery, /authorize with the waiting page, /token, /userinfo,
and the admin API for relying parties. Registered by :func:`oidc_adaptor.app.create_app`.

May import :mod:`core`, :mod:`oidc_adaptor.plumbing` and :mod:`oidc_adaptor.background`.
"""

from .views import blueprint

__all__ = ["blueprint"]
