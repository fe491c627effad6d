"""A failed trial keeps its traceback, logged at WARNING; a run whose trials all failed exits 1."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from optuna.trial import TrialState
from study_runs import bits_trial, stored_trials

from mdsnn_search.cli import main
from mdsnn_search.execution.protocol import TrialContext, TrialOutcome, TrialRequest, TrialStatus
from mdsnn_search.search import run as run_module
from mdsnn_search.search.run import run_study
from mdsnn_search.search.trial import run_trial
from mdsnn_search.spec.objectives import ATTR_FAIL_REASON, ATTR_TRACEBACK
from mdsnn_search.spec.schema import load_spec
from mdsnn_search.spec.space import StudentConfig
from mdsnn_search.study.documents import trial_document


def crash_on_trial_2(context: TrialContext, request: TrialRequest) -> TrialOutcome:
    if request.number == 2:
        raise RuntimeError("forced failure for the test")
    return bits_trial(context, request)


def always_fail(context: TrialContext, request: TrialRequest) -> TrialOutcome:
    raise RuntimeError("every trial fails here")


def test_a_failing_trial_keeps_its_traceback_and_is_logged_at_warning(
    write_spec: Callable[..., Path], tiny_teacher: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = load_spec(write_spec(teacher={"checkpoint": str(tiny_teacher)}))
    with caplog.at_level(logging.WARNING, logger="mdsnn_search"):
        summary = run_study(spec, trial_fn=crash_on_trial_2, progress=False)
    assert (summary.finished, summary.failed_now) == (4, 1)
    trial = stored_trials(spec.study.storage_url())[2]
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs[ATTR_FAIL_REASON] == "RuntimeError: forced failure for the test"
    traceback = trial_document(trial, ATTR_TRACEBACK)
    assert (
        traceback.startswith("Traceback (most recent call last)")
        and "in crash_on_trial_2" in traceback
    )
    (logged,) = [r for r in caplog.records if "trial 2 failed" in r.getMessage()]
    assert logged.levelno == logging.WARNING and "in crash_on_trial_2" in logged.getMessage()


def test_a_trial_failing_inside_the_trial_function_returns_its_traceback(
    tmp_path: Path, write_spec: Callable[..., Path]
) -> None:
    spec = load_spec(write_spec())
    context = TrialContext(
        spec=spec.model_dump(mode="json"), teacher_checkpoint=str(tmp_path / "no-teacher.pt")
    )
    student = {"precision": {"default": {"w_bits": 4, "u_bits": 4, "bn_bits": 8}}, "distill": {}}
    outcome = run_trial(
        context, TrialRequest(number=0, student=StudentConfig.model_validate(student))
    )
    assert outcome.status == TrialStatus.FAILED and outcome.error is not None
    assert outcome.traceback is not None
    assert "no-teacher.pt" in outcome.error
    assert outcome.traceback.startswith("Traceback (most recent call last)")


def test_run_exits_1_when_every_trial_it_ran_failed(
    write_spec: Callable[..., Path],
    tiny_teacher: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec_path = write_spec(study={"n_trials": 2}, teacher={"checkpoint": str(tiny_teacher)})
    monkeypatch.setattr(run_module, "run_study", functools.partial(run_study, trial_fn=always_fail))
    assert main(["run", str(spec_path)]) == 1
    err = capsys.readouterr().err
    assert "every trial this run ran failed (2)" in err and "mdsnn-search status" in err
    assert main(["run", str(spec_path), "--n-trials", "3"]) == 1
    # Nothing left to run is not a failure.
    assert main(["run", str(spec_path), "--n-trials", "3"]) == 0
    # Failures of earlier runs do not count: this run's trials succeed.
    monkeypatch.setattr(
        run_module, "run_study", functools.partial(run_study, trial_fn=crash_on_trial_2)
    )
    assert main(["run", str(spec_path), "--n-trials", "6"]) == 0
