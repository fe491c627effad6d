"""One stored trial, read back: values by objective, metrics, student, baseline tag, feasibility.

The runner writes these under the keys of :mod:`mdsnn_search.spec.objectives`; this module is
the one place that reads them, so tables, plots, JSON and export show the same thing.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from mdsnn_search.spec.objectives import (
    ATTR_BASELINE,
    ATTR_CONSTRAINTS,
    ATTR_FAIL_REASON,
    ATTR_METRICS,
    ATTR_STUDENT,
)
from mdsnn_search.spec.summary import feasibility, student_summary
from mdsnn_search.study.budget import STALE
from mdsnn_search.study.documents import trial_document

STATE_NAMES: dict[TrialState, str] = {
    TrialState.COMPLETE: "complete",
    TrialState.RUNNING: "running",
    TrialState.FAIL: "failed",
    TrialState.WAITING: "waiting",
    TrialState.PRUNED: "pruned",
}


@dataclass(frozen=True)
class TrialRecord:
    """What the results views show of one trial."""

    number: int
    state: str
    values: dict[str, float]
    """Objective values by objective name (empty unless complete)."""
    metrics: dict[str, Any]
    student: dict[str, Any]
    baseline: str | None
    feasible: bool | None
    """None when the trial has no constraint information."""
    constrained: bool
    """Whether constraints were evaluated for it (see :func:`has_constraints`)."""
    constraints: dict[str, float]
    fail_reason: str | None
    duration_s: float | None
    """Run time; for a running trial, the time since it started."""
    datetime_start: str | None

    @classmethod
    def from_trial(cls, trial: FrozenTrial, objectives: Sequence[str]) -> TrialRecord:
        attrs = trial.user_attrs
        values = (
            dict(zip(objectives, trial.values, strict=False)) if trial.values is not None else {}
        )
        reason = attrs.get(ATTR_FAIL_REASON, STALE if trial.state == TrialState.FAIL else None)
        return cls(
            number=trial.number,
            state=STATE_NAMES.get(trial.state, trial.state.name.lower()),
            values={k: float(v) for k, v in values.items()},
            metrics=dict(trial_document(trial, ATTR_METRICS) or {}),
            student=dict(trial_document(trial, ATTR_STUDENT) or {}),
            baseline=attrs.get(ATTR_BASELINE),
            feasible=is_feasible(trial),
            constrained=has_constraints(trial),
            constraints=constraint_values(trial),
            fail_reason=str(reason) if reason is not None else None,
            duration_s=_duration_s(trial),
            datetime_start=trial.datetime_start.isoformat(timespec="seconds")
            if trial.datetime_start
            else None,
        )

    @property
    def student_summary(self) -> str:
        return student_summary(self.student)

    @property
    def feasibility(self) -> str | None:
        """``feasible``, or ``infeasible:`` and each violated constraint (:func:`feasibility`);
        None when no constraint was evaluated."""
        return feasibility(self.constraints) if self.constrained else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "baseline": self.baseline,
            "values": self.values,
            "feasible": self.feasible,
            "constrained": self.constrained,
            "constraints": self.constraints,
            "feasibility": self.feasibility,
            "duration_s": self.duration_s,
            "datetime_start": self.datetime_start,
            "fail_reason": self.fail_reason,
            "student_summary": self.student_summary,
            "metrics": self.metrics,
            "student": self.student,
        }


def constraint_values(trial: FrozenTrial) -> dict[str, float]:
    """Constraint slacks by name (<= 0 holds): the runner's named user attribute, else Optuna's."""
    stored = trial.user_attrs.get(ATTR_CONSTRAINTS)
    if isinstance(stored, dict):
        return {str(k): float(v) for k, v in stored.items()}
    return {str(k): float(v) for k, v in trial.constraints.items()}


def is_feasible(trial: FrozenTrial) -> bool | None:
    """Whether every constraint Optuna holds for the trial is <= 0 (what ``best_trials`` and the
    samplers use); None when it has none."""
    if not trial.constraints:
        return None
    return all(v <= 0.0 for v in trial.constraints.values())


def has_constraints(trial: FrozenTrial) -> bool:
    """Whether Optuna holds constraint values for the trial."""
    return bool(trial.constraints)


def trial_counts(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    """Trials per state, every state named (``complete``, ``running``, ``failed``, ``waiting``,
    ``pruned``)."""
    counts = Counter(STATE_NAMES.get(t.state, t.state.name.lower()) for t in trials)
    return {name: counts.get(name, 0) for name in STATE_NAMES.values()}


def _duration_s(trial: FrozenTrial) -> float | None:
    if trial.datetime_start is None:
        return None
    end = trial.datetime_complete
    if end is None:
        if trial.state != TrialState.RUNNING:
            return None
        end = datetime.datetime.now()
    return max((end - trial.datetime_start).total_seconds(), 0.0)
