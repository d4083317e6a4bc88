"""Signing keys in a local JSON file, created with mode 0600 on first use.

The file is re-read when its modification time changes, so ``waitingroom keys rotate`` run
against a live deployment takes effect in every worker without a restart: within
:data:`RECHECK_SECONDS`, as its modification time is looked at no more often than that (a token
response signs twice and ``/userinfo`` verifies once: a ``stat`` each was three system calls a
flow, each of which gives up the interpreter lock). A rotation publishes the new key well
before it signs (``activate_after``), so that second changes nothing a verifier sees; one that
signs at once is looked for with :meth:`FileKeySource.refresh` by a worker that meets its
``kid`` first (:func:`core.tokens.published_key`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..tokens import KeySet, SigningKey

RECHECK_SECONDS = 1.0
"""Seconds between two looks at the file's modification time in one process."""


class FileKeySource:
    """A callable returning the current :class:`KeySet` from ``path`` (see the module docstring).
    ``monotonic`` is the clock of :data:`RECHECK_SECONDS` (``time.monotonic``; tests pass their own)."""

    def __init__(self, path: str | os.PathLike[str], monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cached: tuple[float, KeySet] | None = None
        self._monotonic = monotonic
        self._checked_at = 0.0

    def ensure(self, now: float) -> KeySet:
        """Create the file with one fresh key if it does not exist yet; return the key set."""
        with self._lock:
            self._create_if_missing(now)
        return self()

    def _create_if_missing(self, now: float) -> None:
        if not self.path.exists():
            self._write(KeySet([SigningKey.generate(now)]), exclusive=True)

    def __call__(self) -> KeySet:
        cached = self._cached
        now = self._monotonic()
        if cached is not None and now - self._checked_at < RECHECK_SECONDS:
            return cached[1]
        return self._look(now, cached)

    def refresh(self) -> KeySet:
        """The key set as the file holds it now, whenever the file was last looked at: for a
        ``kid`` this process does not know (a key rotated in with ``--activate-after 0`` signs
        at once, and another worker may already have signed or sealed with it). One ``stat``,
        as every call made before :data:`RECHECK_SECONDS`."""
        return self._look(self._monotonic(), self._cached)

    def _look(self, now: float, cached: tuple[float, KeySet] | None) -> KeySet:
        mtime = self.path.stat().st_mtime_ns
        self._checked_at = now
        if cached is not None and cached[0] == mtime:
            return cached[1]
        keyset = KeySet.from_json(self.path.read_text(encoding="utf-8"))
        self._cached = (mtime, keyset)
        return keyset

    def rotate(self, now: float, activate_after: float, keep_old_for: float) -> KeySet:
        with self._lock:
            self._create_if_missing(now)
            keyset = self()
            rotated = keyset.rotated(now, activate_after, keep_old_for)
            self._write(rotated, exclusive=False)
            self._cached = None  # this process sees its own rotation at once
            return rotated

    def _write(self, keyset: KeySet, exclusive: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if exclusive:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another worker created it first: use theirs
                return
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(keyset.to_json())
            return
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(keyset.to_json())
        os.replace(tmp, self.path)  # atomic: readers see the old file or the new one
