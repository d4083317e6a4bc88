"""Check waiting-room tokens where the protected site runs.

- :mod:`authorizer.lambda_handler`: an API Gateway Lambda authorizer (REST TOKEN and REQUEST
  authorizers, HTTP API payload 2.0 authorizers).
- :mod:`authorizer.gate`: WSGI middleware and a Flask decorator for Python sites.

Both verify with :class:`core.tokens.TokenVerifier` (the project's only JWT code) against a JWKS
cache (:mod:`authorizer.jwks`) and are configured from environment variables
(:mod:`authorizer.config`).
"""
