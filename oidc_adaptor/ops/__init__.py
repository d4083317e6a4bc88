"""Operations endpoints: ``/healthz``, ``/readyz``, ``/metrics`` and the OpenAPI document.

May import :mod:`core` and :mod:`oidc_adaptor.plumbing`.
"""

from .views import blueprint

__all__ = ["blueprint"]
