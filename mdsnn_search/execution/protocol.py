"""What the driver hands an executor and what comes back: the trial request and its outcome.

The driver (:mod:`driver`) asks for a :class:`TrialRequest`, an executor (:mod:`executors`,
:mod:`ray_tune`) runs the trial function on it wherever it runs trials and hands the
:class:`TrialOutcome` back to the driver. Where they cross Ray (its trial config, its reported
result) they travel as plain JSON (:meth:`TrialRequest.to_json`, :meth:`TrialOutcome.to_json`), so
Ray's logs and checkpoints hold nothing this package must import to read.

While a trial runs, :func:`report_epoch` hands its validation accuracy after each epoch to
whatever the executor set with :func:`epoch_reporting` (the driver, directly or through Ray
Tune's per-epoch results), so the study stores the trial's learning curve as Optuna
intermediate values. The trial function's signature stays ``(context, request)``.
"""

from __future__ import annotations

import enum
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from mdsnn_search.spec.space import StudentConfig


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a study shares: the spec (as JSON), the teacher's checkpoint and, when
    the study cached them, the teacher's outputs on the training set."""

    spec: dict[str, Any]
    teacher_checkpoint: str
    teacher_outputs: str | None = None
    supernet: str | None = None
    """A oneshot study's supernet: its searched trials start from its weights at their precision."""


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


@dataclass(frozen=True)
class TrialOutcome:
    """A trial's result: OK with its metrics (JSON), or FAILED with the reason and traceback."""

    status: TrialStatus
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None

    @classmethod
    def ok(cls, metrics: dict[str, Any]) -> TrialOutcome:
        return cls(TrialStatus.OK, metrics=metrics)

    @classmethod
    def failed(cls, error: str, traceback: str | None = None) -> TrialOutcome:
        return cls(TrialStatus.FAILED, error=error, traceback=traceback)

    @classmethod
    def from_exception(cls, exc: BaseException) -> TrialOutcome:
        """FAILED with the exception being handled and its traceback."""
        return cls.failed(f"{type(exc).__name__}: {exc}", traceback.format_exc())

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "metrics": self.metrics,
            "error": self.error,
            "traceback": self.traceback,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> TrialOutcome:
        return cls(
            status=TrialStatus(document["status"]),
            metrics=dict(document.get("metrics") or {}),
            error=document.get("error"),
            traceback=document.get("traceback"),
        )


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
