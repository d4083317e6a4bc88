"""A request body whose framing is broken is the client's error (400), not the app's (500).

Gunicorn decodes a ``Transfer-Encoding: chunked`` body while the app reads it, and raises its
own parse errors (``InvalidChunkSize``, ``ChunkMissingTerminator``, ``InvalidChunkExtension``,
``NoMoreData`` for a body cut short) from ``wsgi.input.read``: without this, each such request
reached the app's last-resort handler, logged a traceback and answered 500.
:func:`framing_errors_as_bad_request` wraps the WSGI app so that those errors, raised inside a
body read, become werkzeug's ``BadRequest``, which the app answers as every bad input (a JSON
``{"error", "message"}`` 400). Only ``waitingroom serve`` needs it: Lambda hands the app a
complete body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import BadRequest

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Body:
    """``wsgi.input`` whose gunicorn parse errors are :class:`BadRequest` (see the module)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._raw, method)(*args)
        except (ParseException, NoMoreData) as exc:
            raise BadRequest(f"the request body is malformed: {type(exc).__name__}") from None

    def read(self, *args: Any) -> bytes:
        return self._call("read", *args)

    def readline(self, *args: Any) -> bytes:
        return self._call("readline", *args)

    def readlines(self, *args: Any) -> list[bytes]:
        return self._call("readlines", *args)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


def framing_errors_as_bad_request(app: WSGIApp) -> WSGIApp:
    """``app`` reading a body through :class:`_Body`."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "wsgi.input" in environ:
            environ["wsgi.input"] = _Body(environ["wsgi.input"])
        return app(environ, start_response)

    return wrapped


__all__ = ["framing_errors_as_bad_request"]
