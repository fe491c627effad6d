"""Driver claims: pending until an executor starts it, then running; heartbeats while open."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from mdsnn_search.execution.protocol import TrialOutcome
from mdsnn_search.search.driver import StudyDriver
from mdsnn_search.search.progress import LiveProgress
from mdsnn_search.search.run import check_spec
from mdsnn_search.search.samplers import make_sampler
from mdsnn_search.search.teacher import TeacherInfo
from mdsnn_search.spec.schema import load_spec
from mdsnn_search.study.budget import claim, open_claimed, snapshot
from mdsnn_search.study.heartbeat import Heartbeat
from mdsnn_search.study.store import connect, open_study
from mdsnn_search.study.students import ATTR_STUDENT_CHECKPOINT


def test_a_claimed_trial_is_pending_until_started_and_beats_while_open(
    write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = load_spec(write_spec(study={"heartbeat_interval_s": 1, "grace_period_s": 2}))
    url = spec.study.storage_url()
    storage = connect(url, spec.study)
    study = open_study(spec, "spec.yaml", url, storage, accept_change=False).study
    progress = LiveProgress()  # stderr is no terminal here: one line per change
    with Heartbeat(storage, 1) as heartbeat:
        driver = StudyDriver(
            study,
            storage,
            spec,
            check_spec(spec),
            TeacherInfo(Path("t.pt"), accuracy=0.9, test_accuracy=0.9, trained_now=False),
            heartbeat,
            progress,
        )
        request = driver.ask()
        assert request is not None and (driver.pending, len(driver.running)) == (1, 0)
        assert (
            capsys.readouterr()
            .err.splitlines()[-1]
            .startswith(
                "tiny: 0/4 trials done (0 complete, 0 failed this run), 0 running, 1 pending"
            )
        )
        driver.started(request.number)
        assert "1 running, 0 pending" in capsys.readouterr().err
        # Longer than the grace period: its heartbeat keeps another run from failing it.
        time.sleep(3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        assert study.trials[request.number].state == TrialState.RUNNING
        assert driver.interrupt_open() == 1
    trials = snapshot(study, 4).trials
    assert trials[request.number].state == TrialState.FAIL
    # Its configuration was queued again: the next claimable trial samples the same parameters.
    claimable = snapshot(study, 4).claimable
    assert [t.params for t in claimable] == [trials[request.number].params]


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_claimed_trial_opens_as_an_optuna_trial_that_samples_and_records(
    sampler: str, write_spec: Callable[..., Path]
) -> None:
    """budget.open_claimed rebuilds what Study.ask builds around a popped trial, from public
    Optuna calls; a change in Optuna that breaks it fails here, by name, not deep in a study."""
    spec = load_spec(write_spec(study={"baselines": []}))
    url = spec.study.storage_url()
    storage = connect(url, spec.study)
    study = open_study(spec, "spec.yaml", url, storage, accept_change=False).study
    claimed = claim(study, storage, snapshot(study, 4))
    assert claimed is not None and claimed.trial.state == TrialState.WAITING
    trial = open_claimed(study, storage, claimed, make_sampler(sampler, 0))
    assert trial.number == claimed.trial.number
    bits = trial.suggest_categorical("w_bits:conv2", [2, 4])
    trial.set_user_attr("note", "opened")
    trial.set_constraint("edap", -1.0)
    trial.study.tell(trial, [0.5, 1.0])
    stored = study.trials[claimed.trial.number]
    assert stored.state == TrialState.COMPLETE and stored.values == [0.5, 1.0]
    assert stored.params == {"w_bits:conv2": bits} and stored.user_attrs["note"] == "opened"
    assert stored.constraints == {"edap": -1.0}


def test_a_huge_budget_queues_trials_as_they_are_claimed_not_up_front(
    write_spec: Callable[..., Path],
) -> None:
    spec = load_spec(write_spec(study={"n_trials": 100000, "baselines": []}))
    url = spec.study.storage_url()
    storage = connect(url, spec.study)
    study = open_study(spec, "spec.yaml", url, storage, accept_change=False).study
    assert [t.state for t in study.get_trials()] == [TrialState.WAITING]
    with Heartbeat(storage, 60) as heartbeat:
        driver = StudyDriver(
            study,
            storage,
            spec,
            check_spec(spec),
            TeacherInfo(Path("t.pt"), accuracy=0.9, test_accuracy=0.9, trained_now=False),
            heartbeat,
        )
        requests = [driver.ask() for _ in range(3)]
        assert [r.number for r in requests if r is not None] == [0, 1, 2]
        assert [t.state for t in study.get_trials()] == [TrialState.RUNNING] * 3
        driver.interrupt_open()


def test_a_student_returned_as_bytes_is_written_by_the_driver(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    """A trial on a node without the driver's file system sends its student back as bytes."""
    spec = load_spec(write_spec())
    url = spec.study.storage_url()
    storage = connect(url, spec.study)
    study = open_study(spec, "spec.yaml", url, storage, accept_change=False).study
    folder = tmp_path / "students"
    folder.mkdir()
    with Heartbeat(storage, 10) as heartbeat:
        driver = StudyDriver(
            study,
            storage,
            spec,
            check_spec(spec),
            TeacherInfo(Path("t.pt"), accuracy=0.9, test_accuracy=0.9, trained_now=False),
            heartbeat,
            students_folder=str(folder),
        )
        request = driver.ask()
        assert request is not None
        driver.started(request.number)
        metrics = {"accuracy": 0.8, "val_accuracy": 0.8, "test_accuracy": 0.8, "edap": 1e-9}
        driver.tell(request.number, TrialOutcome.ok(metrics, student_bytes=b"the checkpoint"))
    trial = study.trials[request.number]
    assert trial.state == TrialState.COMPLETE
    kept = Path(trial.user_attrs[ATTR_STUDENT_CHECKPOINT])
    assert kept == folder / f"trial-{request.number}.pt"
    assert kept.read_bytes() == b"the checkpoint"
    assert [p.name for p in folder.iterdir()] == [kept.name]  # no temporary file left


def test_every_progress_line_counts_agree_and_no_run_is_invented(
    write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """One run alone, trials told one after another: each progress line's done count holds every
    outcome told so far (it used to lag one behind: "6/16 trials done (7 complete ...)"), and a
    trial just told never shows as "running in other runs"."""
    from mdsnn_search.execution.protocol import TrialOutcome

    spec = load_spec(write_spec())
    url = spec.study.storage_url()
    storage = connect(url, spec.study)
    study = open_study(spec, "spec.yaml", url, storage, accept_change=False).study
    progress = LiveProgress()
    teacher = TeacherInfo(Path("t.pt"), accuracy=0.9, test_accuracy=0.9, trained_now=False)
    with Heartbeat(storage, 1) as heartbeat:
        driver = StudyDriver(study, storage, spec, check_spec(spec), teacher, heartbeat, progress)
        for told in range(1, 3):
            request = driver.ask()
            assert request is not None
            driver.started(request.number)
            driver.tell(request.number, TrialOutcome.failed("a stand-in trial"))
            line = capsys.readouterr().err.splitlines()[-1]
            assert line.startswith(f"tiny: {told}/4 trials done (0 complete, {told} failed")
            assert "other runs" not in line and driver.elsewhere == 0


def test_counts_read_in_the_singular_and_plural() -> None:
    from mdsnn_search.tables import counted

    assert [counted(n, "trial") for n in (0, 1, 2)] == ["0 trials", "1 trial", "2 trials"]
