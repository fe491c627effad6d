"""A checksum beside every file a study writes and reads back, verified whenever it is read.

The study's teacher checkpoint, its teacher-output cache, the one-shot supernet and the event-frame
cache are written once and then read by every run and trial. A file damaged on disk (a few bytes
zeroed, truncated, overwritten) would otherwise be used silently: trials would distil from wrong
membranes, or every trial would fail. Each such file gets ``NAME.sha256`` beside it, written just
before the finished file is renamed into place (:func:`publish`: whenever the file is there, so
is its checksum), and :func:`verify` compares the two before the file is used. Whether a mismatch
is rebuilt or refused is the reader's choice.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mdsnn_search.errors import InfrastructureError, WriteError

SUFFIX = ".sha256"


STUDY_CACHE_FOLDERS = (("studies", "teachers"), ("studies", "supernets"))
"""Where studies cache what they read back (a file there predating checksums has none)."""


def is_study_file(path: Path) -> bool:
    """Whether a study reads ``path`` back: it has a checksum beside it, or lies in a study cache
    folder. No command may write over such a file, ``--force`` or not."""
    return checksum_path(path).exists() or path.resolve().parent.parts[-2:] in STUDY_CACHE_FOLDERS


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + SUFFIX)


def file_digest(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def publish(staged: Path, path: Path) -> None:
    """Move the finished file ``staged`` to ``path`` with its checksum recorded first;
    WriteError naming ``path`` if the checksum cannot be written."""
    target = checksum_path(path)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(f"{file_digest(staged)}  {path.name}\n", encoding="ascii")
        tmp.replace(target)
        staged.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError(
            f"{path}: cannot write ({exc.strerror or exc}); nothing was written"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def damage(path: Path) -> str | None:
    """Why ``path`` cannot be trusted (no checksum, or a different one), or None if intact."""
    target = checksum_path(path)
    try:
        recorded = target.read_text(encoding="ascii").split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return f"it has no readable checksum file {target.name}"
    try:
        actual = file_digest(path)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if actual != recorded:
        return f"its content changed since it was written (checksum {target.name} differs)"
    return None


def verify(path: Path, what: str) -> None:
    """Raise :class:`InfrastructureError` naming ``path`` unless it matches its checksum."""
    reason = damage(path)
    if reason is not None:
        raise InfrastructureError(f"{what} {path} is damaged: {reason}")


def remove(path: Path) -> None:
    """Delete ``path`` and its checksum (a damaged cache about to be rebuilt)."""
    path.unlink(missing_ok=True)
    checksum_path(path).unlink(missing_ok=True)
