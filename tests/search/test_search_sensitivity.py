"""The sensitivity strategy: its integer program by hand, its pass on a real teacher-copied
student (no training), its allocations as the first searched trials of a run, and the spaces it
refuses before anything is stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from study_runs import bits_trial, stored_trials

from mdsnn_search.cli import main
from mdsnn_search.data import load_search_dataset
from mdsnn_search.search.reference import student_cost, student_of
from mdsnn_search.search.run import check_spec, run_study
from mdsnn_search.snn.models import model_layer_table
from mdsnn_search.spec.objectives import ATTR_BASELINE
from mdsnn_search.spec.schema import load_spec
from mdsnn_search.spec.space import baseline_queue
from mdsnn_search.strategies.sensitivity import (
    ATTR_ALLOCATION,
    STUDY_SENSITIVITY,
    _solve,
    sensitivity_allocations,
)


def test_the_integer_program_picks_the_least_sensitive_savings() -> None:
    # Two layers with choices (highest, cheaper): layer a saves 1.0 for 0.5 loss, b 1.0 for 0.1,
    # and a cheaper still saves 2.0 for 2.0.
    groups = [
        ("a", [8, 4, 2], [0.0, 0.5, 2.0], [0.0, -1.0, -2.0]),
        ("b", [8, 4], [0.0, 0.1], [0.0, -1.0]),
    ]
    assert _solve(groups, 0.0) == [0, 0]
    assert _solve(groups, -1.0) == [0, 1]  # b alone
    assert _solve(groups, -2.0) == [1, 1]  # 0.6 beats a at 2 bits (2.0)
    assert _solve(groups, -3.0) == [2, 1]
    assert _solve(groups, -4.0) is None


def test_the_pass_spans_the_edap_range_on_a_real_student(
    write_spec: Callable[..., Path], tiny_teacher: Path
) -> None:
    spec = load_spec(
        write_spec(
            study={"strategy": "sensitivity"},
            teacher={"checkpoint": str(tiny_teacher)},
            search_space={"keep_ratio": [0.5, 1.0], "timesteps": [1, 2]},
        )
    )
    roles = check_spec(spec)
    allocations, record = sensitivity_allocations(
        spec, roles, load_search_dataset(spec.data), str(tiny_teacher), count=3
    )
    edaps = [a.edap for a in allocations]
    assert edaps == sorted(edaps) and edaps[0] < edaps[-1]
    assert len({repr(sorted(a.params.items())) for a in allocations}) == len(allocations)
    assert record["seconds"] > 0 and record["training_sample_equivalents"] > 0
    # one iso-cost anchor per quantized uniform baseline, within that baseline's EDAP
    queue, _ = baseline_queue(
        spec.search_space, roles, list(spec.study.baselines), spec.data.timesteps
    )
    table = model_layer_table(spec.model, (1, 8, 8), 10)
    anchors = {name: a for a in allocations for name in a.baselines}
    assert queue and set(anchors) == set(queue)
    for name, params in queue.items():
        edap = student_cost(spec, table, student_of(params, spec, roles), None)["edap"]
        assert anchors[name].edap <= edap * (1 + 1e-9), name
    assert len(allocations) <= max(3, len({id(a) for a in anchors.values()}))
    # the sweep reaches the space's cheapest point: it takes every cheaper choice
    cheapest = min(allocations, key=lambda a: a.edap)
    assert cheapest.params["timesteps"] == 1 and cheapest.params["w_bits:conv2"] == 2


def test_a_run_queues_the_allocations_first_then_samples(
    write_spec: Callable[..., Path], tiny_teacher: Path
) -> None:
    spec = load_spec(
        write_spec(
            study={"strategy": "sensitivity", "n_trials": 6, "baselines": ["w4u4"]},
            teacher={"checkpoint": str(tiny_teacher)},
        )
    )
    run_study(spec, trial_fn=bits_trial, progress=False)
    trials = stored_trials(spec.study.storage_url())
    assert trials[0].user_attrs[ATTR_BASELINE] == "w4u4"
    allocated = [t.number for t in trials if ATTR_ALLOCATION in t.user_attrs]
    assert allocated and allocated == list(range(1, 1 + len(allocated)))  # first searched
    assert len(allocated) <= 2  # half the 5 searched trials at most: the sampler has the rest
    study = optuna.load_study(study_name="tiny", storage=spec.study.storage_url())
    assert study.user_attrs[STUDY_SENSITIVITY]["forward_samples"] > 0


@pytest.mark.parametrize(
    ("space", "field"),
    [
        ({"tie_layers": True}, "search_space.tie_layers"),
        ({"learnable_threshold": [False, True]}, "search_space.learnable_threshold"),
    ],
)
def test_a_space_it_cannot_enumerate_is_refused_before_anything_is_stored(
    space: dict[str, object],
    field: str,
    write_spec: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec_path = write_spec(study={"strategy": "sensitivity"}, search_space=space)
    assert main(["run", str(spec_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0]
    assert not (tmp_path / "tiny.db").exists()
