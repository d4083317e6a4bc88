"""Identifiers drawn from the OS CSPRNG in batches: never repeated across threads or forked workers."""

from __future__ import annotations

import os
import re
import threading

from core import randomness


def test_ids_have_the_size_and_alphabet_of_secrets_token_urlsafe() -> None:
    ids = [randomness.token_urlsafe(24) for _ in range(2000)]  # several batches
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert len(randomness.token_bytes(16)) == 16
    assert len(randomness.token_bytes(randomness.CHUNK)) == randomness.CHUNK  # large draws bypass the batch


def test_threads_never_get_the_same_bytes() -> None:
    results: list[list[str]] = [[] for _ in range(8)]

    def draw(out: list[str]) -> None:
        out.extend(randomness.token_urlsafe(24) for _ in range(3000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in results for i in out]
    assert len(set(every)) == len(every) == 24_000


def test_a_forked_child_does_not_reuse_the_batch_it_inherited() -> None:
    randomness.token_urlsafe(24)  # a batch is loaded, most of it not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what a gunicorn worker forked from its master would hand out
        try:
            os.write(write, "\n".join(randomness.token_urlsafe(24) for _ in range(50)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split("\n")
    os.waitpid(pid, 0)
    parent = [randomness.token_urlsafe(24) for _ in range(50)]
    assert len(child) == 50 and not set(child) & set(parent)
