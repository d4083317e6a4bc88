"""What the app does to every response, in one Flask hook.

In order: CORS headers for the public API (:func:`oidc_adaptor.plumbing.cors.cors`), the security headers
(:mod:`oidc_adaptor.plumbing.security_headers`, which only fill in what a blueprint did not set), then
metrics and the request log (:func:`oidc_adaptor.plumbing.observability.observe`), last, so they see the
final status. One hook rather than one per concern: these run on every poll of every waiting
visitor, and each registered hook costs a dispatch of its own.
"""

from __future__ import annotations

from flask import Flask, Response, request

from . import cors, observability, security_headers


def init_app(app: Flask, *, cors_blueprint: str) -> None:
    """Install the hook; responses of the blueprint named ``cors_blueprint`` get the public API's CORS headers."""
    server = app.extensions["waitingroom"].settings.server
    issuer_is_https = server.issuer.startswith("https://")
    cors_origins = tuple(server.cors_origins)
    app.wsgi_app = observability.RequestTimer(app.wsgi_app)  # type: ignore[method-assign]

    @app.after_request
    def _finish_response(response: Response) -> Response:
        current = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup for all three
        if current.blueprint == cors_blueprint:
            cors.cors(current, response, cors_origins)
        security_headers.apply(response, secure=issuer_is_https or current.is_secure)
        observability.observe(current, response)
        return response
