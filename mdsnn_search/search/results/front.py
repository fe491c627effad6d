"""The Pareto front of a study and its hypervolume.

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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from optuna.trial import FrozenTrial

from mdsnn_search.search.objectives import ATTR_BASELINE, Direction
from mdsnn_search.search.results.records import has_constraints, has_finite_values, is_feasible

FP32_BASELINE = "fp32"
"""ATTR_BASELINE tag of the full-precision baseline trial (the cost reference); matched ignoring case."""
FALLBACK_MARGIN = 1.1
IDEAL: dict[str, float] = {"accuracy": 1.0}
"""Ideal value per maximised objective; every minimised objective's ideal is 0."""


def pareto_front(
    trials: Sequence[FrozenTrial], directions: Sequence[Direction]
) -> list[FrozenTrial]:
    """Complete trials with finite values that no other such trial dominates, by trial number.

    Equal points are all kept (neither dominates the other). Feasibility is the caller's
    choice: pass only feasible trials for a constrained front (:func:`feasible_trials`).
    """
    candidates = [t for t in trials if has_finite_values(t, len(directions))]
    if not candidates:
        return []
    losses = as_losses(np.array([t.values for t in candidates], dtype=float), directions)
    keep = non_dominated_mask(losses)
    return sorted((t for t, k in zip(candidates, keep, strict=True) if k), key=lambda t: t.number)


def feasible_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Trials not known to be infeasible (no constraint information counts as feasible)."""
    return [t for t in trials if is_feasible(t) is not False]


def hypervolume(
    points: Sequence[Sequence[float]], directions: Sequence[Direction], reference: Sequence[float]
) -> float:
    """Volume dominated by ``points`` and bounded by ``reference``, in the objectives' own units.

    ``points`` are objective vectors as stored (maximised objectives not negated); points that do
    not dominate the reference in every coordinate add nothing and are dropped. Exact, for any
    number of objectives (Optuna's WFG implementation; an exact 2-D sweep if that is missing).
    """
    ref = as_losses(np.asarray(reference, dtype=float).reshape(1, -1), directions)[0]
    if len(points) == 0:
        return 0.0
    losses = as_losses(np.asarray(points, dtype=float).reshape(len(points), -1), directions)
    if losses.shape[1] != ref.shape[0]:
        raise ValueError(
            f"points and reference must have the same length, but got {losses.shape[1]} and {ref.shape[0]}"
        )
    losses = losses[np.all(np.isfinite(losses), axis=1) & np.all(losses < ref, axis=1)]
    if losses.shape[0] == 0:
        return 0.0
    try:
        from optuna._hypervolume import compute_hypervolume
    except ImportError:  # pragma: no cover - private module; keep working if Optuna moves it
        return _hypervolume_2d(losses, ref)
    return float(compute_hypervolume(losses, ref))


@dataclass(frozen=True)
class Reference:
    """A hypervolume reference point and where each coordinate came from."""

    values: list[float]
    ideal: list[float]
    source: str
    """``"the FP32 baseline, trial N"``, ``"worst observed x 1.1 (...)"``, ``"accuracy 0"`` or ``"given"``."""

    @property
    def box_volume(self) -> float:
        return math.prod(abs(i - r) for i, r in zip(self.ideal, self.values, strict=True))


def reference_point(
    trials: Sequence[FrozenTrial], objectives: Sequence[str], directions: Sequence[Direction]
) -> Reference:
    """The reference point documented in this module's docstring."""
    complete = [t for t in trials if has_finite_values(t, len(objectives))]
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
        source = f"worst observed x {FALLBACK_MARGIN}, as there is no FP32 baseline (not comparable across runs)"
    return Reference(values=values, ideal=ideal, source=source)


@dataclass(frozen=True)
class FrontSummary:
    """The front of a study's trials with its hypervolume, as the ``pareto`` views show it."""

    front: list[FrozenTrial]
    constrained: bool
    """Whether constraints exist, so the front holds feasible trials only."""
    n_complete: int
    n_infeasible: int
    reference: Reference
    hypervolume: float
    normalized_hypervolume: float


def summarize_front(
    trials: Sequence[FrozenTrial],
    objectives: Sequence[str],
    directions: Sequence[Direction],
    reference: Sequence[float] | None = None,
) -> FrontSummary:
    """Front (feasible trials only when any trial was judged against constraints) and hypervolume."""
    complete = [t for t in trials if has_finite_values(t, len(directions))]
    constrained = any(has_constraints(t) for t in complete)
    pool = feasible_trials(complete) if constrained else complete
    front = pareto_front(pool, directions)
    ref = reference_point(trials, objectives, directions)
    if reference is not None:
        ref = Reference(values=[float(v) for v in reference], ideal=ref.ideal, source="given")
    volume = hypervolume([t.values for t in front], directions, ref.values)
    box = ref.box_volume
    return FrontSummary(
        front=front,
        constrained=constrained,
        n_complete=len(complete),
        n_infeasible=len(complete) - len(pool),
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


def non_dominated_mask(losses: np.ndarray, block: int = 512) -> np.ndarray:
    """Mask of rows no other row dominates (<= everywhere and < somewhere).

    Compared a block of rows at a time, so memory stays O(n x block) for large studies.
    """
    dominated = np.zeros(losses.shape[0], dtype=bool)
    for start in range(0, losses.shape[0], block):
        rows = losses[start : start + block]
        le = np.all(
            losses[:, None, :] <= rows[None, :, :], axis=2
        )  # le[j, i]: j <= row i everywhere
        lt = np.any(losses[:, None, :] < rows[None, :, :], axis=2)
        dominated[start : start + block] = np.any(le & lt, axis=0)
    return ~dominated


def _hypervolume_2d(losses: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume of minimisation points that all dominate ``ref``."""
    if losses.shape[1] != 2:
        raise ValueError("without optuna._hypervolume only 2 objectives are supported")
    volume, best_y = 0.0, float(ref[1])
    for x, y in losses[np.lexsort((losses[:, 1], losses[:, 0]))]:
        if y < best_y:
            volume += (ref[0] - x) * (best_y - y)
            best_y = y
    return volume
