"""The web face of the waiting room: OIDC provider, waiting page, public and admin REST API."""
