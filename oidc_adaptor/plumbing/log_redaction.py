"""Keep tokens and secrets out of third-party log records.

This project never passes a secret to a log call, but libraries do: Authlib logs every issued
token response at DEBUG (``Issue token {'access_token': ...}``) and the client object with its
secret hash. :class:`RedactingFilter` rewrites such records before any handler sees them; it is
attached to the libraries' loggers themselves (a filter on a logger applies to every handler,
including ones added later, where a filter on a parent logger or on one handler would not).
"""

from __future__ import annotations

import logging
import re

JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
SECRET_FIELDS = re.compile(
    r"""(?P<name>['"]?(?:access_token|id_token|refresh_token|code|code_verifier|client_secret|secret|secret_hash|"""
    r"""password|request_id)['"]?\s*[:=]\s*)(?P<value>'[^']*'|"[^"]*"|[^\s,&)}]+)""",
    re.IGNORECASE,
)
REDACTED = "[redacted]"

WATCHED_PREFIXES = ("authlib",)
"""Loggers of libraries that log request data or tokens at DEBUG."""


def redact(text: str) -> str:
    text = JWT.sub(REDACTED, text)
    return SECRET_FIELDS.sub(lambda m: m.group("name") + REDACTED, text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record: let logging report it as usual
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactingFilter()


def install() -> None:
    """Attach the filter to every logger of the watched libraries that exists now (call after importing them)."""
    names = [name for name in list(logging.root.manager.loggerDict) if name.startswith(WATCHED_PREFIXES)]
    for name in [*WATCHED_PREFIXES, *names]:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
