"""Where a study keeps its trials' trained students, and how they get there from any node.

A front trial's weights are what reaches a chip (``export --nir``), so each trial keeps its student
checkpoint as ``students/trial-N.pt`` in the study's folder (:func:`~.folder.study_folder`:
``studies/NAME/`` for the default storage; spec switch ``execution.keep_students``). The
driver creates the folder and a token file in it; a trial that finds the same token there shares
the driver's file system (one machine, or a shared one) and writes its checkpoint in place. A trial
on a node without it returns the checkpoint's bytes with its result (through Ray, as the teacher
travels the other way) and the driver writes them. Either way the driver records the path in the
trial's user attribute :data:`ATTR_STUDENT_CHECKPOINT`. Runs sharing a study on one folder each
write their own token; the trials of a run whose token was replaced send bytes, which is slower
but as correct.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from mdsnn_search.study.folder import study_folder

ATTR_STUDENT_CHECKPOINT = "student_checkpoint"
"""User attribute of a trial whose student was kept: the checkpoint's absolute path."""

TOKEN_FILE = ".driver-token"


def students_folder(study_name: str, storage_url: str) -> Path:
    """``students/`` in the study's folder, relative to the working directory."""
    return study_folder(study_name, storage_url) / "students"


def student_file(folder: str | Path, number: int) -> Path:
    return Path(folder) / f"trial-{number}.pt"


@dataclass(frozen=True)
class StudentsTarget:
    """Where trials put their students: the driver's folder (absolute) and its token."""

    folder: str
    token: str

    def reachable(self) -> bool:
        """Whether this process sees the driver's folder (the token file there is the driver's)."""
        try:
            return (Path(self.folder) / TOKEN_FILE).read_text(encoding="utf-8") == self.token
        except OSError:
            return False


def prepare_students_folder(study_name: str, storage_url: str) -> StudentsTarget:
    """Create the study's students folder with a fresh token; trials that read the token back
    write there directly."""
    folder = students_folder(study_name, storage_url).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    (folder / TOKEN_FILE).write_text(token, encoding="utf-8")
    return StudentsTarget(str(folder), token)


def write_returned(folder: str | Path, number: int, payload: bytes) -> Path:
    """A checkpoint a remote trial returned as bytes, written atomically into ``folder``."""
    path = student_file(folder, number)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(payload)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class KeptStudents:
    """The kept checkpoints of a study's trials that are on this machine."""

    count: int
    bytes: int

    def line(self) -> str:
        return f"kept students: {self.count} checkpoint(s), {self.bytes / 1e6:.1f} MB"


def kept_students(paths: list[str]) -> KeptStudents:
    """How many of ``paths`` (trials' recorded checkpoints) exist here, and their total size."""
    sizes = [os.path.getsize(p) for p in dict.fromkeys(paths) if os.path.isfile(p)]
    return KeptStudents(len(sizes), sum(sizes))
