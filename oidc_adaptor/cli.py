"""Stable path of the ``waitingroom`` command (``oidc_adaptor.cli:main``, ``python -m oidc_adaptor.cli``).

The command lives in :mod:`oidc_adaptor.entrypoints.cli`; this module keeps the path that the
console script, users' scripts and service files name.
"""

from __future__ import annotations

import sys

from .entrypoints.cli import build_parser, config_summary, main, redact_url

__all__ = ["build_parser", "config_summary", "main", "redact_url"]

if __name__ == "__main__":
    sys.exit(main())
