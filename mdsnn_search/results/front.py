"""The Pareto front of a study (Optuna's ``best_trials``) and its hypervolume.

Reference point and normalisation (what ``pareto`` reports, and what a sampler benchmark should
compare): each objective is measured from a reference ("nadir") value towards an ideal one,

- ``accuracy`` (maximise): reference 0, ideal 1 (accuracy is stored as a fraction);
- every cost objective (minimise: EDAP, energy, latency, area, spikes): reference = the value of
  the study's FP32 baseline trial, ideal 0.

The normalised hypervolume is the dominated volume divided by the box between reference and
ideal, a number in [0, 1]. For (accuracy, EDAP) it is the share of the "accuracy x fraction of
the FP32 EDAP saved" square the front covers. The FP32 baseline is evaluated in every run of a
study setup (model, data, teacher, hardware preset) whatever the sampler, so runs of one setup are
comparable; a benchmark that wants the very same box for all runs passes one reference to
:func:`hypervolume` or :func:`summarize_front`. A trial costlier than FP32 in some objective adds
nothing (there it is worse than not compressing at all). Without an FP32 baseline the reference
falls back to the worst complete value x 1.1, which depends on the run; :class:`Reference` says
which was used.

Optuna has no public hypervolume; ``optuna._hypervolume.compute_hypervolume`` is imported here and
nowhere else, and a test fails with a clear message if Optuna moves it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from mdsnn_search.results.records import is_feasible
from mdsnn_search.spec.objectives import ATTR_BASELINE, Direction

try:
    from optuna._hypervolume import compute_hypervolume
except ImportError as exc:  # pragma: no cover - only when an Optuna release moves it
    raise ImportError(
        f"Optuna {optuna.__version__} no longer has optuna._hypervolume.compute_hypervolume, "
        "which mdsnn_search/results/front.py imports (Optuna has no public hypervolume)"
    ) from exc

FP32_BASELINE = "fp32"
"""ATTR_BASELINE tag of the full-precision baseline (the cost reference); matched ignoring case."""
FALLBACK_MARGIN = 1.1
IDEAL: dict[str, float] = {"accuracy": 1.0}
"""Ideal value per maximised objective; every minimised objective's ideal is 0."""


def hypervolume(
    points: Sequence[Sequence[float]], directions: Sequence[Direction], reference: Sequence[float]
) -> float:
    """Volume dominated by ``points`` and bounded by ``reference``, in the objectives' own units.

    ``points`` are objective vectors as stored (maximised objectives not negated); points that do
    not dominate the reference in every coordinate add nothing and are dropped. Exact, for any
    number of objectives (Optuna's WFG implementation).
    """
    ref = as_losses(np.asarray(reference, dtype=float).reshape(1, -1), directions)[0]
    if len(points) == 0:
        return 0.0
    losses = as_losses(np.asarray(points, dtype=float).reshape(len(points), -1), directions)
    losses = losses[np.all(np.isfinite(losses), axis=1) & np.all(losses < ref, axis=1)]
    if losses.shape[0] == 0:
        return 0.0
    return float(compute_hypervolume(losses, ref))


@dataclass(frozen=True)
class Reference:
    """A hypervolume reference point and where each coordinate came from."""

    values: list[float]
    ideal: list[float]
    source: str
    """``"the FP32 baseline, trial N"``, ``"worst observed x 1.1 (...)"``, ``"accuracy 0"`` or
    ``"given"``."""

    @property
    def box_volume(self) -> float:
        return math.prod(abs(i - r) for i, r in zip(self.ideal, self.values, strict=True))


def reference_point(
    trials: Sequence[FrozenTrial], objectives: Sequence[str], directions: Sequence[Direction]
) -> Reference:
    """The reference point documented in this module's docstring."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    fp32 = [
        t for t in complete if str(t.user_attrs.get(ATTR_BASELINE, "")).lower() == FP32_BASELINE
    ]
    ideal = [
        IDEAL.get(name, 1.0) if d == "maximize" else 0.0
        for name, d in zip(objectives, directions, strict=True)
    ]
    values: list[float] = []
    for i, direction in enumerate(directions):
        if direction == "maximize":
            values.append(0.0)
        elif fp32:
            values.append(float(fp32[0].values[i]))
        else:
            worst = max((t.values[i] for t in complete), default=1.0)
            values.append(worst * FALLBACK_MARGIN if worst > 0 else 1.0)
    if all(d == "maximize" for d in directions):
        source = "accuracy 0"
    elif fp32:
        source = f"the FP32 baseline, trial {fp32[0].number}"
    else:
        source = (
            f"worst observed x {FALLBACK_MARGIN}, as there is no FP32 baseline "
            "(not comparable across runs)"
        )
    return Reference(values=values, ideal=ideal, source=source)


@dataclass(frozen=True)
class FrontSummary:
    """The front of a study with its hypervolume, as the ``pareto`` views show it."""

    front: list[FrozenTrial]
    """``study.best_trials`` by number: feasible trials only once any trial has constraints."""
    constrained: bool
    """Whether constraints exist, so the front holds feasible trials only."""
    n_complete: int
    n_infeasible: int
    reference: Reference
    hypervolume: float
    normalized_hypervolume: float


def summarize_front(
    study: optuna.Study,
    objectives: Sequence[str],
    directions: Sequence[Direction],
    reference: Sequence[float] | None = None,
) -> FrontSummary:
    """The study's front (Optuna's, constraints respected) with its hypervolume."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    front = sorted(study.best_trials, key=lambda t: t.number)
    ref = reference_point(complete, objectives, directions)
    if reference is not None:
        ref = Reference(values=[float(v) for v in reference], ideal=ref.ideal, source="given")
    volume = hypervolume([t.values for t in front], directions, ref.values)
    box = ref.box_volume
    return FrontSummary(
        front=front,
        constrained=any(t.constraints for t in complete),
        n_complete=len(complete),
        n_infeasible=sum(is_feasible(t) is False for t in complete),
        reference=ref,
        hypervolume=volume,
        normalized_hypervolume=volume / box if box > 0 else float("nan"),
    )


def as_losses(values: np.ndarray, directions: Sequence[Direction]) -> np.ndarray:
    """Values turned into losses (maximised columns negated), so smaller is better everywhere."""
    if values.shape[1] != len(directions):
        raise ValueError(f"expected {len(directions)} values per point, but got {values.shape[1]}")
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return np.asarray(values * signs, dtype=float)
