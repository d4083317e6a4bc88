"""The authenticated admin REST API (under ``[server] admin_prefix``) and the session reads and
writes sites make by a token's ``jti`` (``{admin_prefix}/sessions/end``, public ``/session_status``).

May import :mod:`core`, :mod:`oidc_adaptor.plumbing` and :mod:`oidc_adaptor.background`.
"""

from .views import blueprint

__all__ = ["blueprint"]
