"""The local key file: created 0600 on first use, rotation without a restart."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from core.adapters.filekeys import RECHECK_SECONDS, FileKeySource


def test_created_private_on_first_use(tmp_path: Path) -> None:
    source = FileKeySource(tmp_path / "keys.json")
    keyset = source.ensure(1_800_000_000.0)
    mode = stat.S_IMODE(os.stat(tmp_path / "keys.json").st_mode)
    assert mode == 0o600
    assert len(keyset.keys) == 1
    assert source.ensure(1_800_000_001.0).keys[0].kid == keyset.keys[0].kid  # not replaced


def test_rotate_creates_a_missing_file_without_deadlock(tmp_path: Path) -> None:
    source = FileKeySource(tmp_path / "keys.json")
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(len(source.rotate(1_800_000_000.0, 60, 3600).keys)))
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "rotate() blocked on its own lock"
    assert result == [2]


def test_rotation_is_seen_by_another_reader_of_the_file(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    monotonic = [100.0]
    writer = FileKeySource(tmp_path / "keys.json")
    reader = FileKeySource(tmp_path / "keys.json", monotonic=lambda: monotonic[0])
    first = writer.ensure(now).keys[0].kid
    assert reader().current(now).kid == first
    writer.rotate(now, activate_after=60, keep_old_for=3600)
    assert len(writer().jwks(now)["keys"]) == 2  # the rotating process at once
    assert len(reader().jwks(now)["keys"]) == 1  # another one within RECHECK_SECONDS...
    monotonic[0] += RECHECK_SECONDS
    published = {k["kid"] for k in reader().jwks(now)["keys"]}
    assert first in published and len(published) == 2
    assert reader().current(now).kid == first  # the new key is published but not signing yet
    assert reader().current(now + 61).kid != first
    assert stat.S_IMODE(os.stat(tmp_path / "keys.json").st_mode) == 0o600
