"""The front is Optuna's ``best_trials`` (constraints included); hypervolume on hand-checkable
cases; the one private Optuna import, guarded."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from mdsnn_search.results import hypervolume, reference_point, summarize_front
from mdsnn_search.spec.objectives import ATTR_BASELINE
from mdsnn_search.study.trial_attrs import OPTUNA_CONSTRAINTS

MAX_MIN = ["maximize", "minimize"]
OBJECTIVES = ["accuracy", "edap"]

optuna.logging.set_verbosity(optuna.logging.WARNING)


def study(
    points: list[tuple[float, ...]],
    attrs: dict[int, dict[str, object]] | None = None,
    constraints: dict[int, list[float]] | None = None,
    directions: list[str] = MAX_MIN,
) -> optuna.Study:
    """An in-memory study of complete trials, constraints stored as the runner stores them."""
    out = optuna.create_study(directions=directions)
    for i, p in enumerate(points):
        system = {OPTUNA_CONSTRAINTS: constraints[i]} if constraints and i in constraints else {}
        out.add_trial(
            create_trial(
                values=list(p), user_attrs=dict((attrs or {}).get(i, {})), system_attrs=system
            )
        )
    return out


def front_numbers(s: optuna.Study, directions: list[str] = MAX_MIN) -> list[int]:
    names = ["accuracy", "edap", "spikes"][: len(directions)]
    return [t.number for t in summarize_front(s, names, directions).front]  # type: ignore[arg-type]


def test_front_excludes_dominated_and_keeps_ties() -> None:
    # (accuracy up, edap down): 1 dominates 2; 3 ties 0 exactly; 4 is worst in both.
    points = [(0.9, 2.0), (0.95, 3.0), (0.94, 3.5), (0.9, 2.0), (0.5, 4.0), (0.7, 1.0)]
    assert front_numbers(study(points)) == [0, 1, 3, 5]


def test_front_respects_directions() -> None:
    points = [(1.0, 1.0), (2.0, 2.0), (0.5, 3.0)]
    assert front_numbers(study(points, directions=["minimize", "minimize"]), ["minimize"] * 2) == [
        0,
        2,
    ]
    assert front_numbers(study(points, directions=["maximize"] * 2), ["maximize"] * 2) == [1, 2]


def test_front_skips_unfinished_trials() -> None:
    s = study([(0.9, 1.0)])
    s.add_trial(create_trial(state=TrialState.FAIL))
    s.enqueue_trial({})
    assert front_numbers(s) == [0]
    assert front_numbers(study([])) == []


def test_constrained_front_uses_feasible_trials_only() -> None:
    """Optuna's own constraints decide: trial 0 is best in both objectives but infeasible."""
    s = study(
        [(0.99, 1.0), (0.9, 2.0), (0.8, 3.0), (0.95, 2.5)],
        constraints={0: [0.5, -1.0], 1: [-0.1, -1.0], 2: [0.0, 0.0], 3: [-1.0, 0.2]},
    )
    summary = summarize_front(s, OBJECTIVES, MAX_MIN)  # type: ignore[arg-type]
    assert summary.constrained and summary.n_infeasible == 2 and summary.n_complete == 4
    assert [t.number for t in summary.front] == [1]  # 2 (slack exactly 0 is feasible) is dominated
    assert [t.number for t in summary.front] == sorted(t.number for t in s.best_trials)
    assert math.isfinite(summary.normalized_hypervolume)


def test_unconstrained_study_front_is_every_non_dominated_trial() -> None:
    """The runner stores an empty constraint list when the spec sets none: none is infeasible."""
    s = study([(0.99, 1.0), (0.9, 2.0)], constraints={0: [], 1: []})
    summary = summarize_front(s, OBJECTIVES, MAX_MIN)  # type: ignore[arg-type]
    assert not summary.constrained and summary.n_infeasible == 0
    assert [t.number for t in summary.front] == [0]


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


def test_optuna_still_has_the_pinned_hypervolume() -> None:
    """``optuna._hypervolume.compute_hypervolume`` is the one private Optuna name the project
    uses (Optuna has no public hypervolume); if an Optuna release moves or changes it, this
    fails saying where it is used (front.py's import fails with the same message)."""
    try:
        from optuna._hypervolume import compute_hypervolume
    except ImportError as exc:
        pytest.fail(
            f"Optuna {optuna.__version__} no longer has optuna._hypervolume.compute_hypervolume "
            f"({exc}); mdsnn_search/results/front.py imports it: find its new home there"
        )
    # Two boxes [0,2]x[0,1] and [0,1]x[0,2] under reference (2, 2) for minimisation points
    # (0, 1) and (1, 0): 2 + 2 - 1 = 3, in Optuna's minimisation convention.
    points = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert compute_hypervolume(points, np.array([2.0, 2.0])) == pytest.approx(3.0)


def test_reference_is_the_fp32_baseline_and_normalises_to_unit_box() -> None:
    s = study([(0.95, 10.0), (0.9, 2.0), (0.8, 1.0)], {0: {ATTR_BASELINE: "fp32"}})
    ref = reference_point(s.trials, OBJECTIVES, MAX_MIN)  # type: ignore[arg-type]
    assert ref.values == [0.0, 10.0] and ref.ideal == [1.0, 0.0] and "FP32" in ref.source
    summary = summarize_front(s, OBJECTIVES, MAX_MIN)  # type: ignore[arg-type]
    # 0.9 x (10-2) + 0.8 x (2-1) over a 1 x 10 box (the FP32 point sits on the reference edge)
    assert summary.hypervolume == pytest.approx(0.9 * 8 + 0.8 * 1)
    assert summary.normalized_hypervolume == pytest.approx((0.9 * 8 + 0.8 * 1) / 10)


def test_reference_falls_back_to_worst_observed() -> None:
    ref = reference_point(study([(0.9, 2.0), (0.8, 4.0)]).trials, OBJECTIVES, MAX_MIN)  # type: ignore[arg-type]
    assert ref.values == [0.0, pytest.approx(4.4)] and "not comparable" in ref.source
