"""A real study, run in-process: storage contents, resume, failures, mismatched studies."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from mdsnn_search.cli import main
from mdsnn_search.errors import StudyError
from mdsnn_search.search.budget import claim, interrupted_numbers, snapshot, top_up
from mdsnn_search.search.objectives import (
    ATTR_BASELINE,
    ATTR_FAIL_REASON,
    ATTR_FEASIBLE,
    ATTR_METRICS,
    ATTR_STUDENT,
    STUDY_SPEC,
    STUDY_TEACHER,
)
from mdsnn_search.search.protocol import TrialContext, TrialOutcome, TrialRequest
from mdsnn_search.search.run import run_study
from mdsnn_search.search.space import StudentConfig
from mdsnn_search.search.spec import load_spec
from mdsnn_search.search.store import check_existing, connect
from mdsnn_search.search.trial import run_trial


def _load(spec_path: Path) -> optuna.Study:
    spec = load_spec(spec_path)
    return optuna.load_study(study_name=spec.study.name, storage=spec.study.storage_url())


def test_study_stores_objectives_metrics_and_configs(write_spec: Callable[..., Path]) -> None:
    spec_path = write_spec(study={"constraints": {"max_accuracy_drop": 0.5}})
    assert main(["run", str(spec_path), "--json"]) == 0
    study = _load(spec_path)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["accuracy", "edap"]
    assert (
        STUDY_SPEC in study.user_attrs
        and Path(study.user_attrs[STUDY_TEACHER]["checkpoint"]).is_file()
    )
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 4
    assert [t.user_attrs.get(ATTR_BASELINE) for t in trials[:2]] == ["fp32", "w4u4"]
    for trial in trials:
        metrics = trial.user_attrs[ATTR_METRICS]
        assert trial.values == [metrics["accuracy"], metrics["edap"]]
        for key in (
            "energy_pj",
            "latency_ns",
            "area_um2",
            "tops_per_w",
            "tops_per_mm2",
            "spikes_per_sample",
        ):
            assert metrics[key] > 0
        assert set(metrics["layer_firing_rates"]) == {"conv1", "conv2", "conv3", "conv4"}
        assert set(metrics["membrane_mismatch"]) == {"conv1", "conv2", "conv3", "conv4"}
        student = StudentConfig.model_validate(trial.user_attrs[ATTR_STUDENT])
        conv1 = student.precision.for_layer("conv1")
        assert conv1.w_bits == (32 if trial.number == 0 else 8)  # pinned by fixed_layers
        if trial.number > 0:
            assert conv1.u_bits in (2, 4)  # not pinned: quantized like any other layer
        assert trial.constraints.keys() == {"accuracy_drop"}
        if (
            trial.number > 0
        ):  # digits are direct-coded: the study's cached teacher outputs serve every step
            assert metrics["teacher_outputs"] == "cached"
        assert trial.user_attrs[ATTR_FEASIBLE] == (trial.constraints["accuracy_drop"] <= 0)
    fp32, searched = trials[0], trials[2]
    assert fp32.user_attrs[ATTR_METRICS]["accuracy"] == study.user_attrs[STUDY_TEACHER]["accuracy"]
    assert searched.params and all(
        k.startswith(("w_bits:", "u_bits:", "bn_bits:", "distill:"))
        or k in {"membrane_weight", "kd_weight", "teacher_temperature", "student_temperature"}
        for k in searched.params
    )
    # The FP32 baseline costs more than any quantized student on the same crossbar.
    assert fp32.values[1] > max(t.values[1] for t in trials[1:])


def test_trial_of_a_stopped_run_goes_stale_and_runs_again(write_spec: Callable[..., Path]) -> None:
    spec_path = write_spec(study={"heartbeat_interval_s": 1, "grace_period_s": 2})
    spec = load_spec(spec_path)
    run_study(spec, n_trials=2, progress=False)
    storage = connect(spec.study.storage_url(), spec.study)
    study = optuna.load_study(study_name="tiny", storage=storage)
    # What a killed run leaves behind: a claimed trial, RUNNING, whose heartbeat stops.
    top_up(study, snapshot(study, 4))
    claimed = claim(study, storage, snapshot(study, 4))
    assert claimed is not None
    crashed = claimed.trial
    storage.set_trial_param(
        claimed.trial_id, "w_bits:conv2", 0.0, optuna.distributions.CategoricalDistribution([2, 4])
    )
    summary = run_study(spec, progress=False)
    assert (
        summary.finished == 4 and summary.ran_now == 2
    )  # trial 3, then the crashed one queued again
    trials = _load(spec_path).get_trials()
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert interrupted_numbers(trials) == {crashed.number}
    assert trials[crashed.number].state == TrialState.FAIL
    rerun = [t for t in trials if t.number > crashed.number and t.params.get("w_bits:conv2") == 2]
    assert [t.state for t in rerun] == [
        TrialState.COMPLETE
    ]  # the crashed configuration ran again, once
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 4
    # Running the same command again adds nothing.
    assert run_study(spec, progress=False).ran_now == 0
    assert len(_load(spec_path).get_trials()) == len(trials)


def test_without_room_for_the_teacher_outputs_each_step_runs_the_teacher(
    write_spec: Callable[..., Path],
) -> None:
    spec_path = write_spec(study={"n_trials": 2}, teacher={"output_cache_mb": 0})
    run_study(load_spec(spec_path), progress=False)
    quantized = _load(spec_path).get_trials()[1]
    assert quantized.user_attrs[ATTR_METRICS]["teacher_outputs"] == "per_batch"
    assert not list(Path("studies/teachers").glob("*-outputs-*.pt"))


def test_failing_trial_is_recorded_and_the_study_goes_on(write_spec: Callable[..., Path]) -> None:
    spec_path = write_spec()
    spec = load_spec(spec_path)

    def flaky(context: TrialContext, request: TrialRequest) -> TrialOutcome:
        if request.number == 2:
            raise RuntimeError("forced failure for the test")
        return run_trial(context, request)

    summary = run_study(spec, trial_fn=flaky, progress=False)
    assert summary.failed_now == 1
    trials = _load(spec_path).get_trials()
    states = {t.number: t.state for t in trials}
    assert states == {
        0: TrialState.COMPLETE,
        1: TrialState.COMPLETE,
        2: TrialState.FAIL,
        3: TrialState.COMPLETE,
    }
    assert trials[2].user_attrs[ATTR_FAIL_REASON] == "RuntimeError: forced failure for the test"


def test_non_finite_result_is_a_failure(write_spec: Callable[..., Path]) -> None:
    spec_path = write_spec(study={"n_trials": 3})
    spec = load_spec(spec_path)

    def nan_accuracy(context: TrialContext, request: TrialRequest) -> TrialOutcome:
        outcome = run_trial(context, request)
        if request.number == 1:
            outcome.metrics["val_accuracy"] = float("nan")
        return outcome

    run_study(spec, trial_fn=nan_accuracy, progress=False)
    trial = _load(spec_path).trials[1]
    assert trial.state == TrialState.FAIL and "non-finite" in trial.user_attrs[ATTR_FAIL_REASON]


def test_mismatched_existing_study_is_refused_untouched(
    write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = write_spec(study={"n_trials": 2})
    run_study(load_spec(spec_path), progress=False)
    before = len(_load(spec_path).trials)
    other = write_spec("other.yaml", study={"n_trials": 3, "objectives": ["accuracy", "energy"]})
    assert main(["run", str(other)]) == 2
    assert "optimises ['accuracy', 'edap']" in capsys.readouterr().err
    assert len(_load(spec_path).trials) == before
    with pytest.raises(StudyError):
        check_existing(
            load_spec(other),
            "other.yaml",
            load_spec(other).study.storage_url(),
            accept_change=False,
        )


def test_export_then_train_round_trips(
    write_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = write_spec(study={"n_trials": 3})
    run_study(load_spec(spec_path), progress=False)
    stored = _load(spec_path).trials[2]
    out = tmp_path / "exports"
    assert (
        main(["export", str(spec_path), "--trials", "2", "--out", str(out), "--epochs", "1"]) == 0
    )
    (exported,) = out.glob("*.yaml")
    capsys.readouterr()
    assert main(["train", str(exported), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 <= result["accuracy"] <= 1.0 and result["spikes_per_sample"] > 0
    student = StudentConfig.model_validate(stored.user_attrs[ATTR_STUDENT])
    expected = {name: student.precision.for_layer(name).label for name in result["precision"]}
    assert result["precision"] == expected  # the retrained model has the trial's bits
    assert set(result["membrane_mismatch"]) == {"conv1", "conv2", "conv3", "conv4"}
    assert Path(result["checkpoint"]).is_file()
