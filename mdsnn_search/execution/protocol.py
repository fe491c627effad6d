"""What the driver hands an executor and what comes back: the trial request and its outcome.

The driver (:mod:`driver`) asks for a :class:`TrialRequest`, an executor (:mod:`executors`,
:mod:`ray_tune`) runs the trial function on it wherever it runs trials and hands the
:class:`TrialOutcome` back to the driver. Where they cross Ray (its trial config, its reported
result) they travel as plain JSON (:meth:`TrialRequest.to_json`, :meth:`TrialOutcome.to_json`), so
Ray's logs and checkpoints hold nothing this package must import to read.
"""

from __future__ import annotations

import base64
import enum
import errno
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mdsnn_search.errors import InfrastructureError
from mdsnn_search.spec.space import StudentConfig
from mdsnn_search.study.students import StudentsTarget


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a study shares: the spec (as JSON), the teacher's checkpoint and, when
    the study cached them, the teacher's outputs on the training set."""

    spec: dict[str, Any]
    teacher_checkpoint: str
    teacher_outputs: str | None = None
    strategy_state: str | None = None
    """What the study's strategy prepared for its searched trials (a oneshot study's supernet)."""
    students: StudentsTarget | None = None
    """Where trials keep their trained students (None: the spec keeps none)."""


@dataclass(frozen=True)
class TrialRequest:
    """One claimed trial, decoded: the student to train and, for a baseline, its name."""

    number: int
    student: StudentConfig
    baseline: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "student": self.student.model_dump(mode="json"),
            "baseline": self.baseline,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> TrialRequest:
        return cls(
            number=int(document["number"]),
            student=StudentConfig.model_validate(document["student"]),
            baseline=document.get("baseline"),
        )


class TrialStatus(enum.Enum):
    OK = "ok"
    """The trial trained and was costed: its metrics are the result."""
    FAILED = "failed"
    """The trial raised, crashed or reported nothing: recorded FAIL with the reason."""
    INFRASTRUCTURE = "infrastructure"
    """It could not run for a reason outside its configuration (a damaged cache file, a full
    disk): recorded FAIL with the reason, its configuration queued again, not counted."""


_INFRASTRUCTURE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO})


def is_infrastructure(exc: BaseException) -> bool:
    """Whether ``exc`` is no fault of the trial's configuration."""
    return isinstance(exc, InfrastructureError) or (
        isinstance(exc, OSError) and exc.errno in _INFRASTRUCTURE_ERRNOS
    )


@dataclass(frozen=True)
class TrialOutcome:
    """A trial's result: OK with its metrics (JSON), or FAILED with the reason and traceback."""

    status: TrialStatus
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    student_checkpoint: str | None = None
    """Where the trial wrote its student (the driver's students folder, seen from its node)."""
    student_bytes: bytes | None = None
    """The student checkpoint itself, from a node that does not see that folder."""

    @classmethod
    def ok(
        cls,
        metrics: dict[str, Any],
        student_checkpoint: str | None = None,
        student_bytes: bytes | None = None,
    ) -> TrialOutcome:
        return cls(
            TrialStatus.OK,
            metrics=metrics,
            student_checkpoint=student_checkpoint,
            student_bytes=student_bytes,
        )

    @classmethod
    def failed(cls, error: str, traceback: str | None = None) -> TrialOutcome:
        return cls(TrialStatus.FAILED, error=error, traceback=traceback)

    @classmethod
    def from_exception(cls, exc: BaseException) -> TrialOutcome:
        """FAILED (INFRASTRUCTURE, see :func:`is_infrastructure`) with the exception being
        handled and its traceback."""
        status = TrialStatus.INFRASTRUCTURE if is_infrastructure(exc) else TrialStatus.FAILED
        return cls(status, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "metrics": self.metrics,
            "error": self.error,
            "traceback": self.traceback,
            "student_checkpoint": self.student_checkpoint,
            "student_bytes": (
                None
                if self.student_bytes is None
                else base64.b64encode(self.student_bytes).decode()
            ),
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> TrialOutcome:
        return cls(
            status=TrialStatus(document["status"]),
            metrics=dict(document.get("metrics") or {}),
            error=document.get("error"),
            traceback=document.get("traceback"),
            student_checkpoint=document.get("student_checkpoint"),
            student_bytes=(
                None
                if document.get("student_bytes") is None
                else base64.b64decode(document["student_bytes"])
            ),
        )


class TrialSource(Protocol):
    """What an executor needs of the study's driver (``search.driver.StudyDriver``): the next
    claimed trial, word that it started, and its outcome back. Executors know nothing
    else of the study, so they sit below the search that drives them."""

    @property
    def study_name(self) -> str: ...

    @property
    def done(self) -> bool: ...

    def ask(self) -> TrialRequest | None: ...

    def wait(self) -> None: ...

    def started(self, number: int) -> None: ...

    def tell(self, number: int, outcome: TrialOutcome, trial_dir: str | None = None) -> None: ...


TrialFn = Callable[[TrialContext, TrialRequest], TrialOutcome]
"""Runs one trial; :func:`mdsnn_search.search.trial.run_trial` in the product, a cheap stand-in
in tests of the driver."""
