"""What every HTTP surface shares: the services a request reaches, error answers, parameter
parsing, admin authentication, rate limits, the response hook (CORS, security headers, metrics,
the request log), logging, metrics and the per-worker counter cache.

May import :mod:`core` and Flask; never a surface (``oidc``, ``rest_api``, ``admin_api``, ``ops``,
``panel``), :mod:`oidc_adaptor.background` or :mod:`oidc_adaptor.entrypoints`.
"""
