"""One process at a time builds a shared file; the others wait for it and then use it.

Runs of one study (or of studies sharing a teacher) start together; without a lock each would
train the same teacher and write its own copy of the outputs cache. :func:`exclusive` holds an
advisory ``flock`` on ``NAME.lock`` beside the file while the holder looks for it and builds it;
the kernel releases it when the holder exits, however it exits.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextmanager
def exclusive(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock of ``path`` (its folder is created); ``on_wait()`` once if another process
    holds it, before waiting for it."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
