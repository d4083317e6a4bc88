"""Signing keys in a local JSON file, created with mode 0600 on first use.

The file is re-read when its modification time changes, so ``waitingroom keys rotate`` run
against a live deployment takes effect in every worker without a restart.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..tokens import KeySet, SigningKey


class FileKeySource:
    """A callable returning the current :class:`KeySet` from ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cached: tuple[float, KeySet] | None = None

    def ensure(self, now: float) -> KeySet:
        """Create the file with one fresh key if it does not exist yet; return the key set."""
        with self._lock:
            self._create_if_missing(now)
        return self()

    def _create_if_missing(self, now: float) -> None:
        if not self.path.exists():
            self._write(KeySet([SigningKey.generate(now)]), exclusive=True)

    def __call__(self) -> KeySet:
        mtime = self.path.stat().st_mtime_ns
        cached = self._cached
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
