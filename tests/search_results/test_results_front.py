"""The front is Optuna's ``best_trials`` (constraints included); the region-of-interest
hypervolume and the iso-cost gains on hand-checkable cases; the one private Optuna import,
guarded."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from mdsnn_search.metrics import TEST_ACCURACY
from mdsnn_search.results import iso_cost_gains, region_of_interest, summarize_front
from mdsnn_search.results.front import Region, RegionAxis
from mdsnn_search.spec.objectives import ATTR_BASELINE, ATTR_METRICS, STUDY_REFERENCE, STUDY_TEACHER
from mdsnn_search.study.documents import PREFIX
from mdsnn_search.study.trial_attrs import OPTUNA_CONSTRAINTS

MAX_MIN = ["maximize", "minimize"]
OBJECTIVES = ["accuracy", "edap"]

optuna.logging.set_verbosity(optuna.logging.WARNING)


def study(
    points: list[tuple[float, ...]],
    attrs: dict[int, dict[str, object]] | None = None,
    constraints: dict[int, list[float]] | None = None,
    directions: list[str] = MAX_MIN,
    documents: dict[int, dict[str, object]] | None = None,
) -> optuna.Study:
    """An in-memory study of complete trials, constraints and documents stored as the runner
    stores them."""
    out = optuna.create_study(directions=directions)
    for i, p in enumerate(points):
        system = {OPTUNA_CONSTRAINTS: constraints[i]} if constraints and i in constraints else {}
        system.update((documents or {}).get(i, {}))
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
    assert math.isfinite(summary.hypervolume)


def test_unconstrained_study_front_is_every_non_dominated_trial() -> None:
    """The runner stores an empty constraint list when the spec sets none: none is infeasible."""
    s = study([(0.99, 1.0), (0.9, 2.0)], constraints={0: [], 1: []})
    summary = summarize_front(s, OBJECTIVES, MAX_MIN)  # type: ignore[arg-type]
    assert not summary.constrained and summary.n_infeasible == 0
    assert [t.number for t in summary.front] == [0]


def region(acc: tuple[float, float], edap: tuple[float, float]) -> Region:
    """Accuracy from acc[0] (0) to acc[1] (1); EDAP from edap[0] (0) down to edap[1] (1), log10."""
    return Region(
        [
            RegionAxis("accuracy", acc[0], acc[1], log=False, source="given"),
            RegionAxis("edap", math.log10(edap[0]), math.log10(edap[1]), log=True, source="given"),
        ]
    )


def test_region_hypervolume_by_hand() -> None:
    # accuracy 0.8..1.0, EDAP 100 -> 1 (two decades): (0.9, 10) scores (0.5, 0.5), (1.0, 100)
    # scores (1, 0) and adds nothing, (0.85, 1) scores (0.25, 1): 0.25 + 0.25 - 0.125 = 0.375.
    box = region((0.8, 1.0), (100.0, 1.0))
    assert box.hypervolume([(0.9, 10.0)]) == pytest.approx(0.25)
    assert box.hypervolume([(0.9, 10.0), (1.0, 100.0), (0.85, 1.0)]) == pytest.approx(0.375)
    # clipped: above the teacher counts as 1, below the cheapest as 1; dominated adds nothing
    assert box.hypervolume([(1.5, 0.01)]) == pytest.approx(1.0)
    assert box.hypervolume([(0.9, 10.0), (0.88, 20.0)]) == pytest.approx(0.25)
    assert box.hypervolume([]) == 0.0


def test_region_of_interest_from_the_stored_reference() -> None:
    """Accuracy from the teacher less the allowed drop; EDAP from the costliest quantized
    baseline (never a legacy FP32 trial) to the space's cheapest configuration."""
    s = study(
        [(0.99, 1000.0), (0.95, 100.0), (0.90, 10.0), (0.96, 5.0)],
        {0: {ATTR_BASELINE: "fp32"}, 1: {ATTR_BASELINE: "w8u8"}, 2: {ATTR_BASELINE: "w2u2"}},
    )
    s.set_user_attr(STUDY_REFERENCE, {"accuracy": 0.98, "cheapest": {"edap": 1.0}})
    box = region_of_interest(s, OBJECTIVES, MAX_MIN, max_accuracy_drop=0.08)  # type: ignore[arg-type]
    acc, cost = box.axes
    assert (acc.worst, acc.best) == pytest.approx((0.90, 0.98))
    assert (cost.worst, cost.best) == pytest.approx((2.0, 0.0))
    assert "cheapest configuration of the space" in cost.source
    # without the constraint the floor is 10 points below the teacher
    assert region_of_interest(s, OBJECTIVES, MAX_MIN, None).axes[0].worst == pytest.approx(0.88)  # type: ignore[arg-type]
    summary = summarize_front(s, OBJECTIVES, MAX_MIN, 0.08)  # type: ignore[arg-type]
    # trial 3 scores (0.75, 1 - log10(5)/2): the fp32 trial is past the costliest baseline
    assert summary.hypervolume == pytest.approx(0.75 * (1 - math.log10(5) / 2))


def test_region_of_a_legacy_study_without_reference() -> None:
    """Stored before the reference: the teacher record's accuracy, the cheapest trial."""
    s = study([(0.95, 1000.0), (0.9, 100.0), (0.8, 10.0)], {0: {ATTR_BASELINE: "fp32"}})
    s.set_user_attr(STUDY_TEACHER, {"accuracy": 0.95})
    acc, cost = region_of_interest(s, OBJECTIVES, MAX_MIN, None).axes  # type: ignore[arg-type]
    assert (acc.worst, acc.best) == pytest.approx((0.85, 0.95))
    assert (cost.worst, cost.best) == pytest.approx((3.0, 1.0))
    assert cost.source == "costliest trial to cheapest trial"


def test_iso_cost_gain_per_baseline() -> None:
    """The best searched trial at no more EDAP, on validation; its test gain beside it."""
    attrs: dict[int, dict[str, object]] = {0: {ATTR_BASELINE: "w4u4"}, 1: {ATTR_BASELINE: "w2u2"}}
    tests = [0.90, 0.85, 0.91, 0.80, 0.99]  # in each trial's metrics document, as stored
    documents = {i: {PREFIX + ATTR_METRICS: {TEST_ACCURACY: a}} for i, a in enumerate(tests)}
    points = [(0.90, 10.0), (0.86, 4.0), (0.93, 9.0), (0.80, 3.0), (0.99, 11.0)]
    s = study(points, attrs, documents=documents)
    gains = {g.baseline: g for g in iso_cost_gains(s.trials, OBJECTIVES)}
    assert gains["w4u4"].trial == 2 and gains["w4u4"].val_gain == pytest.approx(0.03)
    assert gains["w4u4"].test_gain == pytest.approx(0.01)
    assert gains["w2u2"].trial == 3 and gains["w2u2"].val_gain == pytest.approx(-0.06)
    assert iso_cost_gains(s.trials, ["accuracy"]) == []


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
