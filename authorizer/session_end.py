"""Ending a visitor's session in the waiting room, from the protected site.

An admission opens one session (one ``jti``). Ending it (``POST {admin_prefix}/sessions/end``) is
atomic in the waiting room: of any number of concurrent calls for one session, exactly one
succeeds and the others get 409. A site that must do something at most once per admission (place
an order, claim a ticket) ends the session *first* and acts only if its own call was the one that
ended it: :func:`authorizer.gate.once_per_admission` does that for Flask views.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

SessionEnder = Callable[[Mapping[str, Any]], None]
"""Ends the session of these verified token claims as ``completed``, atomically. Raises
:class:`AdmissionUsed` when it had ended already, :class:`AdmissionUnconfirmed` when the waiting
room could not say."""


class AdmissionUsed(Exception):
    """The session had ended already (used by an earlier request, ended by the site, or timed out)."""


class AdmissionUnconfirmed(Exception):
    """The waiting room could not be asked or gave no clear answer; the message is safe to log."""


ENDED_STATUSES = frozenset({404, 409, 410})
"""Admin API answers meaning the session is not (or no longer) there to end."""


def admin_session_ender(
    issuer: str,
    admin_key: str,
    admin_prefix: str = "/admin",
    timeout: float = 3.0,
    *,
    admin_api_url: str | None = None,
    sign: Callable[[str, str, bytes, dict[str, str]], str] | None = None,
) -> SessionEnder:
    """End sessions through the waiting room's admin API (``POST {admin_prefix}/sessions/end``).

    The site knows the visitor only by the token (``sub``, ``jti``), never by the secret request
    id, so it names the session by its ``jti``. ``admin_api_url`` defaults to the issuer (on AWS
    the admin API has its own URL); ``sign`` returns the URL to call with an AWS SigV4 signature
    in its query string, for an admin API behind IAM authorization. An event-scoped admin key
    (``[events.X] admin_keys``) is enough.
    """
    url = f"{(admin_api_url or issuer).rstrip('/')}{admin_prefix}/sessions/end"
    if not url.startswith(("http://", "https://")):
        raise ValueError("the waiting room URL must be http(s)")

    def end(claims: Mapping[str, Any]) -> None:
        body = json.dumps({"event_id": claims.get("event_id") or claims.get("aud"), "jti": claims.get("jti"),
                           "status": "completed"}).encode()
        headers = {"Content-Type": "application/json"}
        target = sign("POST", url, body, headers) if sign else url
        req = urllib.request.Request(  # noqa: S310 - scheme checked above
            target, data=body, method="POST", headers={**headers, "Authorization": f"Bearer {admin_key}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310 - scheme checked above
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code in ENDED_STATUSES:
                raise AdmissionUsed(f"the session had ended already ({exc.code})") from None
            raise AdmissionUnconfirmed(f"the waiting room answered {exc.code}") from None
        except (OSError, ValueError) as exc:
            raise AdmissionUnconfirmed(f"the waiting room could not be reached: {type(exc).__name__}") from None

    return end


__all__ = ["AdmissionUnconfirmed", "AdmissionUsed", "SessionEnder", "admin_session_ender"]
