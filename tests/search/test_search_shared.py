"""Runs that share one study, and runs killed at any point: the study ends with exactly n_trials.

Every run here is a separate ``mdsnn-search run`` process on one SQLite file, as on one machine;
the PostgreSQL test does the same across a real server. Heartbeats are fast (1 s, stale after 2 s)
so a stopped run's trials are taken over quickly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from optuna.trial import TrialState
from study_runs import distinct_students, mdsnn_search, stored_trials, trial_states

pytestmark = pytest.mark.slow

FAST_HEARTBEAT = {"heartbeat_interval_s": 1, "grace_period_s": 2}


def shared_spec(write_spec: Callable[..., Path], teacher: Path, n_trials: int, epochs: int) -> Path:
    return write_spec(
        study={**FAST_HEARTBEAT, "n_trials": n_trials},
        teacher={"checkpoint": str(teacher)},
        training={"epochs": epochs},
    )


def test_two_runs_share_one_study_exactly(
    write_spec: Callable[..., Path], tiny_teacher: Path, tmp_path: Path
) -> None:
    # Trials of 12 epochs outlast the 2 s grace period: a run that failed the other's live trials
    # (the old recovery did) would leave FAIL trials and repeat configurations.
    spec = shared_spec(write_spec, tiny_teacher, n_trials=8, epochs=12)
    runs = [mdsnn_search("run", str(spec), "--json", cwd=tmp_path) for _ in range(2)]
    outputs = [run.communicate(timeout=900) for run in runs]
    for run, (_, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err[-3000:]
    ran = [json.loads(out)["ran_now"] for out, _ in outputs]
    assert sum(ran) == 8 and min(ran) >= 1, ran  # both took part, neither repeated the other's work
    trials = stored_trials(f"sqlite:///{tmp_path / 'tiny.db'}")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 8
    assert distinct_students(trials)


KILL_POINTS: dict[str, Callable[[Path, list[str]], bool]] = {
    "while-creating-the-storage": lambda db, states: db.exists(),
    "while-a-trial-runs": lambda db, states: "RUNNING" in states,
    "after-two-trials": lambda db, states: states.count("COMPLETE") >= 2,
}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_run_killed_at_any_point_resumes_to_exactly_n_trials(
    point: str, write_spec: Callable[..., Path], tiny_teacher: Path, tmp_path: Path
) -> None:
    spec = shared_spec(write_spec, tiny_teacher, n_trials=6, epochs=4)
    db = tmp_path / "tiny.db"
    run = mdsnn_search("run", str(spec), "--json", cwd=tmp_path)
    deadline = time.monotonic() + 300
    while not KILL_POINTS[point](db, trial_states(db)):
        assert run.poll() is None, (
            f"the run ended before the kill point: {run.communicate()[1][-2000:]}"
        )
        assert time.monotonic() < deadline
        time.sleep(0.01)
    run.kill()  # SIGKILL: nothing of the run gets to clean up
    run.communicate()
    rerun = mdsnn_search("run", str(spec), "--json", cwd=tmp_path)
    out, err = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, err[-3000:]
    assert json.loads(out)["finished"] == 6
    trials = stored_trials(f"sqlite:///{db}")
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 6
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert distinct_students(trials)
