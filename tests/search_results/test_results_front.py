"""Pareto front and hypervolume on hand-checkable cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from mdsnn_search.search.objectives import ATTR_BASELINE, ATTR_FEASIBLE
from mdsnn_search.search.results import hypervolume, pareto_front, reference_point, summarize_front
from mdsnn_search.search.results.front import _hypervolume_2d, as_losses

MAX_MIN = ["maximize", "minimize"]


def trials(
    points: list[tuple[float, ...]], attrs: dict[int, dict[str, object]] | None = None
) -> list[FrozenTrial]:
    out = []
    for i, p in enumerate(points):
        t = create_trial(values=list(p), user_attrs=dict((attrs or {}).get(i, {})))
        t.number = i
        out.append(t)
    return out


def test_front_excludes_dominated_and_keeps_ties() -> None:
    # (accuracy up, edap down): 1 dominates 2; 3 ties 0 exactly; 4 is worst in both.
    points = [(0.9, 2.0), (0.95, 3.0), (0.94, 3.5), (0.9, 2.0), (0.5, 4.0), (0.7, 1.0)]
    front = pareto_front(trials(points), MAX_MIN)
    assert [t.number for t in front] == [0, 1, 3, 5]


def test_front_respects_directions() -> None:
    points = [(1.0, 1.0), (2.0, 2.0), (0.5, 3.0)]
    assert [t.number for t in pareto_front(trials(points), ["minimize", "minimize"])] == [0, 2]
    assert [t.number for t in pareto_front(trials(points), ["maximize", "maximize"])] == [1, 2]


def test_front_skips_unfinished_and_non_finite() -> None:
    ts = trials([(0.9, 1.0), (float("-inf"), 0.1), (0.99, float("inf"))])
    running = create_trial(state=TrialState.RUNNING)
    running.number = 3
    assert [t.number for t in pareto_front([*ts, running], MAX_MIN)] == [0]
    assert pareto_front([], MAX_MIN) == []


def test_hypervolume_two_objectives_by_hand() -> None:
    # accuracy 0.5 @ edap 2 and 0.8 @ edap 3, reference (0, 4):
    # union of [2,4]x[0,0.5] (1.0) and [3,4]x[0,0.8] (0.8) minus overlap [3,4]x[0,0.5] (0.5) = 1.3
    assert hypervolume([(0.5, 2.0), (0.8, 3.0)], MAX_MIN, (0.0, 4.0)) == pytest.approx(1.3)
    # a dominated point and a point beyond the reference add nothing
    assert hypervolume(
        [(0.5, 2.0), (0.8, 3.0), (0.4, 3.5), (0.99, 5.0)], MAX_MIN, (0.0, 4.0)
    ) == pytest.approx(1.3)
    assert hypervolume([], MAX_MIN, (0.0, 4.0)) == 0.0


def test_hypervolume_three_objectives_is_a_box_for_one_point() -> None:
    assert hypervolume(
        [(0.5, 1.0, 2.0)], ["maximize", "minimize", "minimize"], (0.0, 3.0, 3.0)
    ) == pytest.approx(0.5 * 2 * 1)


def test_2d_fallback_matches_optuna() -> None:
    from optuna._hypervolume import compute_hypervolume

    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, size=(40, 2))
    ref = np.array([1.2, 1.1])
    assert _hypervolume_2d(pts, ref) == pytest.approx(compute_hypervolume(pts, ref))
    assert hypervolume(pts, ["minimize", "minimize"], ref) == pytest.approx(
        compute_hypervolume(pts, ref)
    )
    flipped = as_losses(
        pts, ["maximize", "minimize"]
    )  # first column negated: a maximised objective
    assert hypervolume(flipped, MAX_MIN, [-1.2, 1.1]) == pytest.approx(
        compute_hypervolume(pts, ref)
    )


def test_reference_is_the_fp32_baseline_and_normalises_to_unit_box() -> None:
    ts = trials([(0.95, 10.0), (0.9, 2.0), (0.8, 1.0)], {0: {ATTR_BASELINE: "fp32"}})
    ref = reference_point(ts, ["accuracy", "edap"], MAX_MIN)
    assert ref.values == [0.0, 10.0] and ref.ideal == [1.0, 0.0] and "FP32" in ref.source
    summary = summarize_front(ts, ["accuracy", "edap"], MAX_MIN)
    # 0.9 x (10-2) + 0.8 x (2-1) over a 1 x 10 box (the FP32 point sits on the reference edge)
    assert summary.hypervolume == pytest.approx(0.9 * 8 + 0.8 * 1)
    assert summary.normalized_hypervolume == pytest.approx((0.9 * 8 + 0.8 * 1) / 10)


def test_reference_falls_back_to_worst_observed() -> None:
    ref = reference_point(trials([(0.9, 2.0), (0.8, 4.0)]), ["accuracy", "edap"], MAX_MIN)
    assert ref.values == [0.0, pytest.approx(4.4)] and "not comparable" in ref.source


def test_constrained_front_uses_feasible_trials_only() -> None:
    ts = trials(
        [(0.99, 1.0), (0.9, 2.0), (0.8, 3.0)], {0: {ATTR_FEASIBLE: False}, 1: {ATTR_FEASIBLE: True}}
    )
    summary = summarize_front(ts, ["accuracy", "edap"], MAX_MIN)
    assert summary.constrained and summary.n_infeasible == 1
    assert [t.number for t in summary.front] == [1]  # trial 2 is dominated by trial 1
    assert math.isfinite(summary.normalized_hypervolume)
