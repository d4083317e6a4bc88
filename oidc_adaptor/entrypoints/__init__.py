"""How a process runs the app: the ``waitingroom`` command, the gunicorn runner, the WSGI module,
the AWS Lambda handlers, and the local demo with its checkout API.

This is the outermost layer: modules here may import :mod:`oidc_adaptor.app`, every room below it
and :mod:`core`; nothing else in the package imports from here. ``oidc_adaptor.cli``,
``oidc_adaptor.wsgi`` and ``oidc_adaptor.lambda_handlers`` re-export what users' configuration names.
"""
