"""The OpenID Connect provider: discovery, /authorize with the waiting page, /token, /userinfo,
and the admin API for relying parties. Registered by :func:`oidc_adaptor.app.create_app`."""

from .views import blueprint

__all__ = ["blueprint"]
