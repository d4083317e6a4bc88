"""Check waiting-room tokens where the protected site runs.

- :mod:`authorizer.lambda_handler`: an API Gateway Lambda authorizer (REST TOKEN and REQUEST
  authorizers, HTTP API payload 2.0 authorizers).
- :mod:`authorizer.gate`: WSGI middleware and a Flask decorator for Python sites.
- :mod:`authorizer.edge`: a CloudFront Lambda@Edge viewer-request gate that signs visitors in
  with the waiting room (public OIDC client, PKCE), bundled by :mod:`authorizer.edge_bundle`.

The first two verify with :class:`core.tokens.TokenVerifier` (the project's only JWT code)
against a JWKS cache (:mod:`authorizer.jwks`) and are configured from environment variables
(:mod:`authorizer.config`). The edge gate cannot carry ``cryptography`` (Lambda@Edge's 1 MB
limit): it checks signatures with the pure-Python ``rsa`` package and applies the same claim
rules (:mod:`core.token_rules`); its configuration is bundled (:mod:`authorizer.edge_config`).
"""
