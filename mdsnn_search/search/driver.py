"""Ask/tell between the Optuna study and whatever executes trials.

The driver is the only writer of the study: it asks Optuna for a trial and decodes it into a
student (:meth:`ask`), and records an outcome with its metrics, constraints and user attributes
(:meth:`tell`). Executors (Ray Tune, or in-process) only move requests and outcomes around.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState
from pydantic import ValidationError

from mdsnn_search.errors import MdsnnError
from mdsnn_search.search.objectives import (
    ATTR_BASELINE,
    ATTR_CONSTRAINTS,
    ATTR_FAIL_REASON,
    ATTR_FEASIBLE,
    ATTR_METRICS,
    ATTR_STUDENT,
    ATTR_TRIAL_DIR,
    OBJECTIVES,
)
from mdsnn_search.search.space import LayerRoles, baseline_student, suggest_student
from mdsnn_search.search.spec import StudySpec
from mdsnn_search.search.trial import STATUS_OK

Listener = Callable[["StudyDriver"], None]


class StudyDriver:
    def __init__(
        self,
        study: optuna.Study,
        spec: StudySpec,
        roles: LayerRoles,
        teacher_accuracy: float,
        on_change: Listener | None = None,
    ) -> None:
        self.study = study
        self.spec = spec
        self.roles = roles
        self.teacher_accuracy = teacher_accuracy
        self._open: dict[int, optuna.Trial] = {}
        self._on_change = on_change
        self.completed = 0
        self.failed = 0

    @property
    def running(self) -> int:
        return len(self._open)

    def ask(self) -> dict[str, Any]:
        """The next trial's request: ``{"number", "student", "baseline"}`` (plain data)."""
        while True:
            trial = self.study.ask()
            baseline = trial.user_attrs.get(ATTR_BASELINE)
            try:
                if baseline is not None:
                    student = baseline_student(baseline, self.spec.search_space)
                else:
                    student = suggest_student(trial, self.spec.search_space, self.roles)
            except (ValidationError, MdsnnError, ValueError) as exc:
                # An enqueued configuration the space cannot express: fail it and ask again.
                self._fail(trial, f"invalid configuration: {exc}")
                continue
            trial.set_user_attr(ATTR_STUDENT, student.model_dump(mode="json"))
            self._open[trial.number] = trial
            self._changed()
            return {"number": trial.number, "student": student.model_dump(mode="json"), "baseline": baseline}

    def tell(self, number: int, outcome: dict[str, Any], trial_dir: str | None = None) -> None:
        """Record an outcome: COMPLETE with values and constraints, or FAIL with the reason."""
        trial = self._open.pop(number)
        if trial_dir is not None:
            trial.set_user_attr(ATTR_TRIAL_DIR, trial_dir)
        if outcome.get("status") != STATUS_OK:
            self._fail(trial, str(outcome.get("error", "the trial reported no result")))
            return
        metrics: dict[str, Any] = outcome["metrics"]
        values = [metrics.get(OBJECTIVES[name].metric) for name in self.spec.study.objectives]
        bad = [n for n, v in zip(self.spec.study.objectives, values, strict=True) if not _finite(v)]
        if bad:
            trial.set_user_attr(ATTR_METRICS, _json_safe(metrics))
            self._fail(trial, f"non-finite objective(s) {bad}: {dict(zip(self.spec.study.objectives, values))}")
            return
        trial.set_user_attr(ATTR_METRICS, metrics)
        constraints = self._constraints(metrics)
        for key, value in constraints.items():
            trial.set_constraint(key, value)
        trial.set_user_attr(ATTR_CONSTRAINTS, constraints)
        trial.set_user_attr(ATTR_FEASIBLE, all(v <= 0 for v in constraints.values()))
        self.study.tell(trial, [float(v) for v in values])  # type: ignore[arg-type]
        self.completed += 1
        self._changed()

    def _constraints(self, metrics: dict[str, Any]) -> dict[str, float]:
        limits = self.spec.study.constraints
        constraints = {}
        if limits.max_accuracy_drop is not None:
            drop = self.teacher_accuracy - float(metrics["accuracy"])
            constraints["accuracy_drop"] = drop - limits.max_accuracy_drop
        if limits.max_edap is not None:
            constraints["edap"] = float(metrics["edap"]) - limits.max_edap
        return constraints

    def _fail(self, trial: optuna.Trial, reason: str) -> None:
        trial.set_user_attr(ATTR_FAIL_REASON, reason)
        self.study.tell(trial, state=TrialState.FAIL)
        self.failed += 1
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _json_safe(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in metrics.items()}
