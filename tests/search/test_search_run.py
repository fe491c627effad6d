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
from mdsnn_search.execution.protocol import TrialContext, TrialOutcome, TrialRequest
from mdsnn_search.results import open_stored_study
from mdsnn_search.search.run import run_study
from mdsnn_search.search.trial import run_trial
from mdsnn_search.spec.objectives import (
    ATTR_BASELINE,
    ATTR_CONSTRAINTS,
    ATTR_FAIL_REASON,
    ATTR_FEASIBLE,
    ATTR_METRICS,
    ATTR_SPEC,
    ATTR_STUDENT,
    STUDY_REFERENCE,
    STUDY_TEACHER,
)
from mdsnn_search.spec.schema import StudySpec, load_spec
from mdsnn_search.spec.space import StudentConfig
from mdsnn_search.study.budget import claim, interrupted_numbers, snapshot, top_up
from mdsnn_search.study.documents import trial_document
from mdsnn_search.study.store import check_existing, connect
from mdsnn_search.study.trial_attrs import ATTR_ACCURACY_DROP, MAX_ATTR_CHARS, too_long


def _load(spec_path: Path) -> optuna.Study:
    spec = load_spec(spec_path)
    return optuna.load_study(study_name=spec.study.name, storage=spec.study.storage_url())


def test_study_stores_objectives_metrics_and_configs(
    write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = write_spec(study={"constraints": {"max_accuracy_drop": 0.5}})
    assert main(["run", str(spec_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["finished"] == 4 and summary["counts"]["complete"] == 4
    assert main(["pareto", str(spec_path), "--json", "--no-files"]) == 0
    pareto = json.loads(capsys.readouterr().out)
    assert summary["front"] == pareto["front"] and summary["front"]  # the table's trials, whole
    assert summary["hypervolume"] == pareto["hypervolume"]  # one measure, one definition
    assert summary["iso_cost_gains"] == pareto["iso_cost_gains"]
    assert [g["baseline"] for g in pareto["iso_cost_gains"]] == ["w4u4"]
    gain = pareto["iso_cost_gains"][0]  # a test gain beside every validation gain
    assert (gain["val_gain"] is None) == (gain["test_gain"] is None)
    study = _load(spec_path)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["accuracy", "edap"]
    assert (
        open_stored_study(spec_path).spec_document["study"]["name"] == "tiny"
        and Path(study.user_attrs[STUDY_TEACHER]["checkpoint"]).is_file()
    )
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 4
    # fp32 is the study's reference, measured once, not a trial
    assert [t.user_attrs.get(ATTR_BASELINE) for t in trials[:2]] == ["w4u4", None]
    reference = study.user_attrs[STUDY_REFERENCE]
    assert reference["accuracy"] == study.user_attrs[STUDY_TEACHER]["accuracy"]
    # The FP32 reference costs more than any quantized student, the space's cheapest less.
    assert reference["fp32"]["edap"] > max(t.values[1] for t in trials)
    assert 0 < reference["cheapest"]["edap"] < trials[0].values[1]
    for trial in trials:
        metrics = trial_document(trial, ATTR_METRICS)
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
        student = StudentConfig.model_validate(trial_document(trial, ATTR_STUDENT))
        conv1 = student.precision.for_layer("conv1")
        assert conv1.w_bits == 8  # pinned by fixed_layers
        assert conv1.u_bits in (2, 4)  # not pinned: quantized like any other layer
        assert trial.user_attrs[ATTR_CONSTRAINTS].keys() == {"accuracy_drop"}
        assert list(trial.constraints.values()) == [
            trial.user_attrs[ATTR_CONSTRAINTS]["accuracy_drop"]
        ]
        # digits are direct-coded: the study's cached teacher outputs serve every step
        assert metrics["teacher_outputs"] == "cached"
        assert trial.user_attrs[ATTR_FEASIBLE] is (trial.constraints["0"] <= 0)
    w4u4, searched = trials[0], trials[1]
    # A baseline is an ordinary trial: every searched parameter, at its values (conv1's weights
    # are pinned).
    assert w4u4.params.keys() == searched.params.keys()
    assert {v for k, v in w4u4.params.items() if k.startswith(("w_bits:", "u_bits:"))} == {4}
    assert all(v is True for k, v in w4u4.params.items() if k.startswith("distill:"))
    assert w4u4.params["kd_weight"] == 0.0 and w4u4.distributions == {
        k: searched.distributions[k] for k in w4u4.params
    }
    assert w4u4.user_attrs["bits.fc"] == "W4" and w4u4.user_attrs["bits.conv1"] == "W8/U4/BN8"
    assert w4u4.user_attrs["code"] == "W4/8 U4 BN8 D4"  # its distill flags: all 4 layers
    assert searched.params and all(
        k.startswith(("w_bits:", "u_bits:", "bn_bits:", "distill:"))
        or k in {"membrane_weight", "kd_weight", "teacher_temperature", "student_temperature"}
        for k in searched.params
    )
    # optuna-dashboard cuts attributes at 1,024 characters: what it shows stays under that, the
    # long documents are stored whole where it does not show them.
    for attrs in [study.user_attrs, *(t.user_attrs for t in study.get_trials())]:
        assert too_long(attrs) == {}
    assert len(json.dumps(trial_document(searched, ATTR_SPEC))) > MAX_ATTR_CHARS
    assert trial_document(searched, ATTR_SPEC)["study"]["name"] == "tiny"
    assert searched.user_attrs["edap"] == searched.values[1]
    drop = (
        study.user_attrs[STUDY_TEACHER]["accuracy"]
        - trial_document(searched, ATTR_METRICS)["accuracy"]
    )
    assert searched.user_attrs[ATTR_ACCURACY_DROP] == pytest.approx(100.0 * drop)  # points
    metrics = trial_document(searched, ATTR_METRICS)
    assert searched.user_attrs["validation accuracy (%)"] == pytest.approx(
        100.0 * metrics["val_accuracy"]
    )
    assert searched.user_attrs["test accuracy (%)"] == pytest.approx(
        100.0 * metrics["test_accuracy"]
    )
    assert "val_accuracy" not in searched.user_attrs  # no fraction a person would misread
    assert searched.constraints == {"0": pytest.approx(drop - 0.5)}


def test_a_run_into_a_log_prints_each_epoch_step_and_trial_event(
    write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Captured stderr is no terminal, as under CI or nohup: the teacher's epochs, the caching of
    its outputs and the trials each print plain lines as they happen."""
    assert main(["run", str(write_spec(study={"n_trials": 2}))]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    epochs = [line.split(" loss ")[0] for line in lines if line.startswith("teacher-vgg5: ")]
    assert epochs == [f"teacher-vgg5: epoch {e}/4" for e in range(1, 5)]
    caching = [line.rsplit(", ", 1)[0] for line in lines if line.startswith("teacher outputs: ")]
    samples = 200 - 40  # 20 a class, less the validation split
    assert caching[0] == f"teacher outputs: running the teacher over {samples} training samples"
    assert caching[-1] == f"teacher outputs: {samples}/{samples} samples" and len(caching) <= 11
    trials = [line for line in lines if line.startswith("tiny: ")]
    assert trials[-1].startswith("tiny: 2/2 trials done (2 complete, 0 failed this run)")
    assert len(trials) == len(set(trials)) and len(lines) == len(epochs) + len(caching) + len(
        trials
    )
    assert "2/2 trials finished" in captured.out and "Pareto front" in captured.out


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
    assert trial_document(quantized, ATTR_METRICS)["teacher_outputs"] == "per_batch"
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
            return TrialOutcome.ok({**outcome.metrics.as_dict(), "val_accuracy": float("nan")})
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
    student = StudentConfig.model_validate(trial_document(stored, ATTR_STUDENT))
    expected = {
        name: student.precision.for_layer(name).label(membrane=name != "fc", bn=name != "fc")
        for name in result["precision"]
    }
    assert result["precision"] == expected  # the retrained model has the trial's bits
    assert set(result["membrane_mismatch"]) == {"conv1", "conv2", "conv3", "conv4"}
    assert Path(result["checkpoint"]).is_file()


def test_the_teacher_is_ready_before_the_executor_starts(
    write_spec: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The teacher trains (and its outputs are cached) before the executor starts Ray, whose
    processes would otherwise share its CPUs (issue 26: 16 s an epoch inside run, 1.5 s alone)."""
    import mdsnn_search.search.run as run_module
    from mdsnn_search.search.teacher import cached_teacher_path

    spec = load_spec(write_spec())
    teacher = cached_teacher_path(spec)
    seen: list[bool] = []
    opened = run_module.open_executor

    def open_executor(*args: object, **kwargs: object) -> object:
        seen.append(teacher.is_file() and any(teacher.parent.glob("*-outputs-*.pt")))
        return opened(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(run_module, "open_executor", open_executor)

    def stand_in(context: TrialContext, request: TrialRequest) -> TrialOutcome:
        return TrialOutcome.failed("a stand-in trial")

    summary = run_study(spec, trial_fn=stand_in, progress=False)
    assert seen == [True] and summary.ran_now == 4


def test_each_trained_trial_stores_its_learning_curve(write_spec: Callable[..., Path]) -> None:
    """Validation accuracy after every epoch, as the trial's Optuna intermediate values (the
    dashboard's intermediate-value plot); every trial here trains, the baseline included."""
    spec = load_spec(write_spec(study={"n_trials": 3}, training={"epochs": 2}))
    run_study(spec, progress=False)
    trials = _load_study(spec).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for trial in trials:
        curve = trial.intermediate_values
        assert sorted(curve) == [1, 2] and all(0.0 < v <= 1.0 for v in curve.values())


def _load_study(spec: StudySpec) -> optuna.Study:
    return optuna.load_study(study_name=spec.study.name, storage=spec.study.storage_url())
