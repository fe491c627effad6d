"""The Pareto front of a study (Optuna's ``best_trials``), its hypervolume in the region of
interest, and its iso-cost gain over each uniform baseline: the one front measure of every view
(``pareto``, the HTML report, ``run``'s summary) and benchmark (docs/design/methods.md section 8).

Region of interest: accuracy (validation) from the floor the study allows, teacher minus
``max_accuracy_drop`` (:data:`DEFAULT_ACCURACY_DROP` when unset), up to the teacher; every cost
objective on a log10 axis from the costliest quantized uniform baseline down to the cheapest
configuration of the space, which the runner computes with the cost model and stores on the
study (:data:`~mdsnn_search.spec.objectives.STUDY_REFERENCE`). Each trial maps into [0, 1] per
axis (clipped: a student above the teacher counts as 1, one costlier than every baseline as 0)
and the hypervolume of the front against (0, ..., 0) is a number in [0, 1].

Studies stored before the reference existed still open: the teacher's accuracy comes from the
study's teacher record (else the best accuracy), the cheapest cost from the cheapest trial, and
their FP32 baseline trial is no uniform baseline here (it is the reference).

Optuna has no public hypervolume; ``optuna._hypervolume.compute_hypervolume`` is imported here and
nowhere else, and a test fails with a clear message if Optuna moves it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from mdsnn_search.metrics import TEST_ACCURACY
from mdsnn_search.results.records import is_feasible
from mdsnn_search.results.storage import StoredStudy
from mdsnn_search.spec.objectives import (
    ATTR_BASELINE,
    ATTR_METRICS,
    OBJECTIVES,
    STUDY_REFERENCE,
    STUDY_TEACHER,
    Direction,
)
from mdsnn_search.study.documents import trial_document

try:
    from optuna._hypervolume import compute_hypervolume
except ImportError as exc:  # pragma: no cover - only when an Optuna release moves it
    raise ImportError(
        f"Optuna {optuna.__version__} no longer has optuna._hypervolume.compute_hypervolume, "
        "which mdsnn_search/results/front.py imports (Optuna has no public hypervolume)"
    ) from exc

FP32_BASELINE = "fp32"
"""Baseline tag of the full-precision trial of studies stored before the FP32 reference moved
onto the study; it is the reference, never a uniform baseline of the measure."""
DEFAULT_ACCURACY_DROP = 0.10
"""Depth of the accuracy axis when the study sets no ``max_accuracy_drop``."""


@dataclass(frozen=True)
class RegionAxis:
    """One objective's axis of the region: ``worst`` maps to 0, ``best`` to 1 (log10 units for
    a cost)."""

    objective: str
    worst: float
    best: float
    log: bool
    source: str

    def score(self, value: float) -> float:
        """``value`` on this axis, clipped to [0, 1]."""
        if self.log:
            if value <= 0:
                return 1.0
            value = math.log10(value)
        width = self.best - self.worst
        if width == 0:
            return 1.0 if (value - self.best) * _sign(self) >= 0 else 0.0
        return min(1.0, max(0.0, (value - self.worst) / width))

    def value_at(self, score: float) -> float:
        """The objective value at ``score`` (for drawing the region)."""
        raw = self.worst + score * (self.best - self.worst)
        return 10.0**raw if self.log else raw


def _sign(axis: RegionAxis) -> float:
    return 1.0 if axis.best >= axis.worst else -1.0


@dataclass(frozen=True)
class Region:
    """The region of interest of one study setup; pass one region to compare studies in one
    box."""

    axes: list[RegionAxis]

    def scores(self, values: Sequence[float]) -> list[float]:
        return [axis.score(float(v)) for axis, v in zip(self.axes, values, strict=True)]

    def hypervolume(self, points: Sequence[Sequence[float]]) -> float:
        """Share of the region that ``points`` (objective vectors as stored) dominate, in [0, 1]."""
        if len(points) == 0:
            return 0.0
        scores = np.array([self.scores(p) for p in points], dtype=float)
        scores = scores[np.all(scores > 0.0, axis=1)]
        if scores.shape[0] == 0:
            return 0.0
        reference = np.ones(len(self.axes))
        return float(compute_hypervolume(reference - scores, reference))

    def describe(self) -> str:
        return "; ".join(
            f"{a.objective} {a.value_at(0):.4g} -> {a.value_at(1):.4g} "
            f"({'log, ' if a.log else ''}{a.source})"
            for a in self.axes
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            a.objective: {
                "worst": a.value_at(0),
                "best": a.value_at(1),
                "log10": a.log,
                "source": a.source,
            }
            for a in self.axes
        }


def uniform_baseline(trial: FrozenTrial) -> str | None:
    """The quantized uniform baseline ``trial`` evaluates, or None (searched, or the legacy FP32
    reference trial)."""
    name = trial.user_attrs.get(ATTR_BASELINE)
    if name is None or str(name).lower() == FP32_BASELINE:
        return None
    return str(name)


def is_searched(trial: FrozenTrial) -> bool:
    return ATTR_BASELINE not in trial.user_attrs


def region_of_interest(
    study: optuna.Study,
    objectives: Sequence[str],
    directions: Sequence[Direction],
    max_accuracy_drop: float | None,
) -> Region:
    """The region of the study's own setup (this module's docstring)."""
    complete = _complete(study)
    reference = study.user_attrs.get(STUDY_REFERENCE)
    reference = reference if isinstance(reference, dict) else {}
    cheapest = reference.get("cheapest") or {}
    axes = []
    for i, (name, direction) in enumerate(zip(objectives, directions, strict=True)):
        observed = [t.values[i] for t in complete]
        if name == "accuracy":
            teacher, source = _teacher_accuracy(study, reference, observed)
            drop = DEFAULT_ACCURACY_DROP if max_accuracy_drop is None else max_accuracy_drop
            axes.append(RegionAxis(name, teacher - drop, teacher, log=False, source=source))
            continue
        if direction == "maximize":  # no such objective today; its observed range
            axes.append(
                RegionAxis(
                    name,
                    min(observed, default=0.0),
                    max(observed, default=1.0),
                    False,
                    "observed range",
                )
            )
            continue
        metric = OBJECTIVES[name].metric if name in OBJECTIVES else name
        baselines = [t.values[i] for t in complete if uniform_baseline(t) is not None]
        positive = [v for v in observed if v > 0]
        if baselines:
            worst, worst_from = max(baselines), "costliest uniform baseline"
        else:
            worst, worst_from = max(positive, default=1.0), "costliest trial"
        stored = cheapest.get(metric)
        if isinstance(stored, (int, float)) and stored > 0:
            best, best_from = float(stored), "cheapest configuration of the space"
        else:
            best, best_from = min(positive, default=worst), "cheapest trial"
        axes.append(
            RegionAxis(
                name,
                math.log10(worst),
                math.log10(min(best, worst)),
                log=True,
                source=f"{worst_from} to {best_from}",
            )
        )
    return Region(axes)


def _teacher_accuracy(
    study: optuna.Study, reference: Mapping[str, Any], observed: Sequence[float]
) -> tuple[float, str]:
    for source, record in (
        ("teacher", reference),
        ("teacher", study.user_attrs.get(STUDY_TEACHER)),
    ):
        if isinstance(record, dict) and isinstance(record.get("accuracy"), (int, float)):
            return float(record["accuracy"]), source
    return max(observed, default=1.0), "best trial (no teacher stored)"


@dataclass(frozen=True)
class IsoCostGain:
    """The best searched trial at no more EDAP than a uniform baseline (chosen on validation),
    and its accuracy minus the baseline's on validation and on test; None where no searched trial
    costs that little."""

    baseline: str
    baseline_trial: int
    cost: float
    trial: int | None
    val_gain: float | None
    test_gain: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def iso_cost_gains(
    trials: Sequence[FrozenTrial], objectives: Sequence[str], cost: str = "edap"
) -> list[IsoCostGain]:
    """Per quantized uniform baseline (by trial number), its iso-cost gain (methods.md s. 8)."""
    if "accuracy" not in objectives or cost not in objectives:
        return []
    ai, ci = objectives.index("accuracy"), objectives.index(cost)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    searched = [t for t in complete if is_searched(t) and is_feasible(t) is not False]
    gains = []
    for base in sorted(complete, key=lambda t: t.number):
        name = uniform_baseline(base)
        if name is None:
            continue
        cheaper = [t for t in searched if t.values[ci] <= base.values[ci]]
        best = max(cheaper, key=lambda t: (t.values[ai], -t.values[ci]), default=None)
        test = _test_gain(best, base)
        gains.append(
            IsoCostGain(
                baseline=name,
                baseline_trial=base.number,
                cost=base.values[ci],
                trial=None if best is None else best.number,
                val_gain=None if best is None else best.values[ai] - base.values[ai],
                test_gain=test,
            )
        )
    return gains


def _test_accuracy(trial: FrozenTrial) -> Any:
    """The trial's test accuracy (a fraction), from its metrics document as the driver stores it."""
    return (trial_document(trial, ATTR_METRICS) or {}).get(TEST_ACCURACY)


def _test_gain(best: FrozenTrial | None, base: FrozenTrial) -> float | None:
    if best is None:
        return None
    ours, theirs = _test_accuracy(best), _test_accuracy(base)
    if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
        return float(ours) - float(theirs)
    return None


@dataclass(frozen=True)
class FrontSummary:
    """The front of a study with its measure, as the ``pareto`` views show it."""

    front: list[FrozenTrial]
    """``study.best_trials`` by number: feasible trials only once any trial has constraints."""
    constrained: bool
    """Whether constraints exist, so the front holds feasible trials only."""
    n_complete: int
    n_infeasible: int
    region: Region
    hypervolume: float
    """Hypervolume of the front in the region of interest, in [0, 1]."""
    gains: list[IsoCostGain]

    def to_dict(self) -> dict[str, Any]:
        return {
            "hypervolume": self.hypervolume,
            "region": self.region.to_dict(),
            "iso_cost_gains": [g.to_dict() for g in self.gains],
        }


def summarize_front(
    study: optuna.Study,
    objectives: Sequence[str],
    directions: Sequence[Direction],
    max_accuracy_drop: float | None = None,
    region: Region | None = None,
) -> FrontSummary:
    """The study's front (Optuna's, constraints respected) with its hypervolume in ``region``
    (default: the study's own region of interest) and its iso-cost gains."""
    complete = _complete(study)
    front = sorted(study.best_trials, key=lambda t: t.number)
    region = region or region_of_interest(study, objectives, directions, max_accuracy_drop)
    return FrontSummary(
        front=front,
        constrained=any(t.constraints for t in complete),
        n_complete=len(complete),
        n_infeasible=sum(is_feasible(t) is False for t in complete),
        region=region,
        hypervolume=region.hypervolume([t.values for t in front]),
        gains=iso_cost_gains(complete, objectives),
    )


def summarize_stored(stored: StoredStudy, region: Region | None = None) -> FrontSummary:
    """:func:`summarize_front` of a stored study, with the accuracy floor of its stored spec."""
    return summarize_front(
        stored.study,
        stored.objectives,
        stored.directions,
        stored.constraints.get("max_accuracy_drop"),
        region,
    )


def _complete(study: optuna.Study) -> list[FrozenTrial]:
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values is not None
    ]


def as_losses(values: np.ndarray, directions: Sequence[Direction]) -> np.ndarray:
    """Values turned into losses (maximised columns negated), so smaller is better everywhere."""
    if values.shape[1] != len(directions):
        raise ValueError(f"expected {len(directions)} values per point, but got {values.shape[1]}")
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return np.asarray(values * signs, dtype=float)
