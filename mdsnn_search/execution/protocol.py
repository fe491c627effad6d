"""What the driver hands an executor and what comes back: the trial request and its outcome.

The driver (:mod:`driver`) asks for a :class:`TrialRequest`, an executor (:mod:`executors`,
:mod:`ray_tune`) runs the trial function on it wherever it runs trials and hands the
:class:`TrialOutcome` back to the driver. They are pydantic models over the project's own
(:class:`~mdsnn_search.spec.schema.StudySpec`, :class:`~mdsnn_search.spec.space.StudentConfig`,
:class:`~mdsnn_search.metrics.TrialMetrics`), so what a trial receives and reports is validated
where it arrives. Where they cross Ray (its trial config, its reported result) they travel as
their JSON form (:meth:`TrialRequest.to_json`, :meth:`TrialOutcome.to_json`), so Ray's logs and
checkpoints hold nothing this package must import to read.

While a trial runs, :func:`report_epoch` hands its validation accuracy after each epoch to
whatever the executor set with :func:`epoch_reporting` (the driver, directly or through Ray
Tune's per-epoch results), so the study stores the trial's learning curve as Optuna
intermediate values. The trial function's signature stays ``(context, request)``.
"""

from __future__ import annotations

import base64
import enum
import errno
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator

from mdsnn_search.errors import InfrastructureError
from mdsnn_search.metrics import TrialMetrics
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.spec.space import StudentConfig
from mdsnn_search.study.students import StudentsTarget

_RECORD = ConfigDict(frozen=True, extra="forbid")


class TrialContext(BaseModel):
    """What every trial of a study shares: the spec, the teacher's checkpoint and, when the study
    cached them, the teacher's outputs on the training set."""

    model_config = _RECORD

    spec: StudySpec
    teacher_checkpoint: str
    teacher_outputs: str | None = None
    strategy_state: str | None = None
    """What the study's strategy prepared for its searched trials (a oneshot study's supernet)."""
    students: StudentsTarget | None = None
    """Where trials keep their trained students (None: the spec keeps none)."""


class TrialRequest(BaseModel):
    """One claimed trial, decoded: the student to train and, for a baseline, its name."""

    model_config = _RECORD

    number: int
    student: StudentConfig
    baseline: str | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> TrialRequest:
        return cls.model_validate(document)


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


class TrialOutcome(BaseModel):
    """A trial's result: OK with its metrics, or FAILED (INFRASTRUCTURE) with the reason and
    traceback; an OK trial may hand back its student (where it wrote it, or the bytes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: TrialStatus
    metrics: TrialMetrics = TrialMetrics()
    error: str | None = None
    traceback: str | None = None
    student_checkpoint: str | None = None
    """Where the trial wrote its student (the driver's students folder, seen from its node)."""
    student_bytes: bytes | None = None
    """The student checkpoint itself, from a node that does not see that folder (base64 in its
    JSON form)."""

    @field_serializer("student_bytes", when_used="json-unless-none")
    def _encode(self, value: bytes) -> str:
        return base64.b64encode(value).decode()

    @field_validator("student_bytes", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return base64.b64decode(value) if isinstance(value, str) else value

    @classmethod
    def ok(
        cls,
        metrics: Mapping[str, Any] | TrialMetrics,
        student_checkpoint: str | None = None,
        student_bytes: bytes | None = None,
    ) -> TrialOutcome:
        return cls(
            status=TrialStatus.OK,
            metrics=TrialMetrics.model_validate(metrics),
            student_checkpoint=student_checkpoint,
            student_bytes=student_bytes,
        )

    @classmethod
    def failed(cls, error: str, traceback: str | None = None) -> TrialOutcome:
        return cls(status=TrialStatus.FAILED, error=error, traceback=traceback)

    @classmethod
    def from_exception(cls, exc: BaseException) -> TrialOutcome:
        """FAILED (INFRASTRUCTURE, see :func:`is_infrastructure`) with the exception being
        handled and its traceback."""
        status = TrialStatus.INFRASTRUCTURE if is_infrastructure(exc) else TrialStatus.FAILED
        return cls(
            status=status, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()
        )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> TrialOutcome:
        return cls.model_validate(document)


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

    def report(self, number: int, epoch: int, accuracy: float) -> None: ...

    def tell(self, number: int, outcome: TrialOutcome, trial_dir: str | None = None) -> None: ...


TrialFn = Callable[[TrialContext, TrialRequest], TrialOutcome]
"""Runs one trial; :func:`mdsnn_search.search.trial.run_trial` in the product, a cheap stand-in
in tests of the driver."""


EpochReporter = Callable[[int, float], None]
"""``(epoch, validation accuracy)``, called once per epoch by a running trial."""

_epoch_reporter: ContextVar[EpochReporter | None] = ContextVar("epoch_reporter", default=None)


@contextmanager
def epoch_reporting(reporter: EpochReporter) -> Iterator[None]:
    """Within it, :func:`report_epoch` calls ``reporter`` (an executor wraps each trial)."""
    token = _epoch_reporter.set(reporter)
    try:
        yield
    finally:
        _epoch_reporter.reset(token)


def report_epoch(epoch: int, accuracy: float) -> None:
    """Report one epoch's validation accuracy of the running trial; nothing outside a trial."""
    reporter = _epoch_reporter.get()
    if reporter is not None:
        reporter(epoch, accuracy)
