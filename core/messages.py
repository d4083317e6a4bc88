"""Operator messages: one short notice per event that every waiting visitor sees.

An operator tells the line something ("tickets for Friday are sold out") with an optional
expiry. The message lives among the event's runtime controls in the store
(:meth:`core.ports.QueueStore.set_control`), so every worker and machine sharing the store shows
the same one, and an event reset clears it with the other overrides.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgument

MESSAGE = "message"
"""The control key the message is kept under (a JSON object ``{"text", "expires_at"}``)."""

MAX_MESSAGE_LENGTH = 500
"""Characters a message may have at most: a notice, not a page."""

MAX_MESSAGE_LIFETIME = 366 * 24 * 3600
"""Seconds ahead an expiry may lie at most."""


@dataclass(frozen=True)
class OperatorMessage:
    """A notice for the line: ``text`` (plain text, never markup) until ``expires_at``
    (POSIX seconds) or, when that is None, until replaced or cleared."""

    text: str
    expires_at: float | None = None

    def live_at(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at

    def as_dict(self) -> dict[str, Any]:
        """``{"text": str, "expires_at": int | None}`` (whole Unix seconds), as the status
        document and the admin API show it."""
        return {"text": self.text, "expires_at": None if self.expires_at is None else int(self.expires_at)}

    def encode(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | None) -> OperatorMessage | None:
        """The message kept in the store, or None when there is none or it cannot be read (a
        damaged control never stops the waiting page)."""
        if not raw:
            return None
        try:
            data = json.loads(raw)
            text = data["text"]
            expires_at = data.get("expires_at")
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        if not isinstance(text, str) or not text:
            return None
        if expires_at is not None and (isinstance(expires_at, bool) or not isinstance(expires_at, int | float)):
            return None
        return cls(text, None if expires_at is None else float(expires_at))


def shown(message: OperatorMessage | None, now: float) -> OperatorMessage | None:
    """``message`` if visitors see it at ``now`` (it exists and has not expired), else None."""
    return message if message is not None and message.live_at(now) else None


def validated(text: str, expires_at: float | None, now: float) -> OperatorMessage | None:
    """The message an operator asked for, or None for an empty ``text`` (clear the message).

    Surrounding white space is trimmed and line breaks become spaces. Raises
    :class:`InvalidArgument` for text longer than :data:`MAX_MESSAGE_LENGTH` characters, text
    with control characters, or an ``expires_at`` not in the future (or more than
    :data:`MAX_MESSAGE_LIFETIME` seconds ahead).
    """
    text = " ".join(text.split())
    if not text:
        return None
    if len(text) > MAX_MESSAGE_LENGTH:
        raise InvalidArgument(f"the message has {len(text)} characters; at most {MAX_MESSAGE_LENGTH} are allowed")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        raise InvalidArgument("the message must not contain control characters")
    if expires_at is not None:
        if not expires_at > now:
            raise InvalidArgument("'expires_at' must lie in the future")
        if expires_at > now + MAX_MESSAGE_LIFETIME:
            raise InvalidArgument("'expires_at' lies more than a year ahead")
    return OperatorMessage(text, expires_at)
