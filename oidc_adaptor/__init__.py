"""The web face of the waiting room: OIDC provider, waiting page, public and admin REST API.

Grouped by layer, each room importing only from the rooms below it:

``entrypoints/``  processes: command line, gunicorn runner, WSGI module, Lambda handlers, demo
``app.py``        ``create_app``: builds the Flask app from the rooms below
``oidc/``, ``rest_api/``, ``admin_api/``, ``ops/``, ``panel/``   the HTTP surfaces, one room each
``background/``   the admission scheduler and queued entry
``plumbing/``     what every surface shares (services, errors, auth, hooks, logs, metrics)

``cli``, ``wsgi`` and ``lambda_handlers`` at this level are stable paths for users' configuration.
"""
