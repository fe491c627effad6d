"""Stopping a run on Ray: SIGINT/SIGTERM end it cleanly, and no Ray process outlives it (by PID).

Each test starts ``mdsnn-search run`` on a local Ray, waits until trials are running, stops the
run, then resumes the study inline (execution settings may change between runs) and checks that
it ends with n_trials complete and nothing RUNNING.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from optuna.trial import TrialState
from study_runs import distinct_students, mdsnn_search, stored_trials, trial_states

from mdsnn_search.execution import local_ray
from mdsnn_search.study.budget import INTERRUPTED
from mdsnn_search.study.signals import RunInterrupted, StopOnSignals

N_TRIALS = 4
FAST_HEARTBEAT = {"heartbeat_interval_s": 1, "grace_period_s": 2}


def alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if local_ray._alive(pid)]


def write_pair(write_spec: Callable[..., Path], teacher: Path) -> tuple[Path, Path]:
    """The same study (trials long enough to be caught running) on Ray, and inline."""
    common = {
        "study": {**FAST_HEARTBEAT, "n_trials": N_TRIALS},
        "teacher": {"checkpoint": str(teacher)},
        "training": {"epochs": 10},
    }
    return (
        write_spec(
            "ray.yaml",
            **common,
            execution={"backend": "ray", "cpus_per_trial": 1, "max_concurrent": 2},
        ),
        write_spec("inline.yaml", **common),
    )


def start_on_ray(spec: Path, cwd: Path) -> tuple[subprocess.Popen[str], Path, list[int]]:
    """The run, its Ray temp dir and the PIDs of its Ray processes, once a trial runs on Ray."""
    run = mdsnn_search("run", str(spec), cwd=cwd)
    deadline = time.monotonic() + 300
    while True:
        assert run.poll() is None, run.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no trial started within 300 s"
        states = trial_states(cwd / "tiny.db")
        if (
            states.count("COMPLETE") >= 1 and "RUNNING" in states
        ):  # the fp32 baseline is done, the next trains
            break
        time.sleep(0.2)
    (temp_dir,) = Path(tempfile.gettempdir()).glob(f"{local_ray.PREFIX}{run.pid}-*")
    pids = local_ray.processes_of(temp_dir)
    assert any(
        b"ray::" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids
    )  # a Ray worker among them
    return run, temp_dir, pids


def resume_inline(spec: Path, cwd: Path) -> None:
    rerun = mdsnn_search("run", str(spec), "--json", cwd=cwd)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-3000:]
    assert json.loads(out)["finished"] == N_TRIALS
    trials = stored_trials(f"sqlite:///{cwd / 'tiny.db'}")
    assert sum(t.state == TrialState.COMPLETE for t in trials) == N_TRIALS
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert distinct_students(trials)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_stops_a_ray_study_cleanly(
    sig: signal.Signals,
    status: int,
    write_spec: Callable[..., Path],
    tiny_teacher: Path,
    tmp_path: Path,
) -> None:
    on_ray, inline = write_pair(write_spec, tiny_teacher)
    run, temp_dir, ray_pids = start_on_ray(on_ray, tmp_path)
    run.send_signal(sig)
    out, err = run.communicate(timeout=180)
    assert run.returncode == status, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert (
        last.startswith(f"mdsnn-search run: interrupted by {sig.name}; ")
        and "rerun to resume" in last
    ), err[-3000:]
    assert "Traceback" not in err and out == ""  # no summary, no front: a script must not carry on
    assert alive(ray_pids) == [] and not temp_dir.exists()
    trials = stored_trials(f"sqlite:///{tmp_path / 'tiny.db'}")
    assert TrialState.RUNNING not in [t.state for t in trials]
    assert {t.user_attrs.get("fail_reason") for t in trials if t.state == TrialState.FAIL} == {
        INTERRUPTED
    }
    resume_inline(inline, tmp_path)


@pytest.mark.ray
@pytest.mark.slow
def test_ray_processes_of_a_killed_run_do_not_outlive_the_rerun(
    write_spec: Callable[..., Path], tiny_teacher: Path, tmp_path: Path
) -> None:
    on_ray, inline = write_pair(write_spec, tiny_teacher)
    run, temp_dir, ray_pids = start_on_ray(on_ray, tmp_path)
    run.kill()
    run.communicate()
    resume_inline(
        inline, tmp_path
    )  # waits out the grace period, then requeues the killed run's trials
    assert alive(ray_pids) == [] and not temp_dir.exists()


def test_the_next_run_stops_processes_recorded_by_a_dead_one(tmp_path: Path) -> None:
    """The mechanism itself, on plain processes: one tagged with a dead run's Ray dir is stopped,
    one of a live run's is not."""
    owner = subprocess.Popen(["sleep", "60"])
    dead = Path(tempfile.mkdtemp(prefix=f"{local_ray.PREFIX}{owner.pid}-"))
    (dead / local_ray.OWNER_FILE).write_text(
        json.dumps({"pid": owner.pid, "start": local_ray._start_time(owner.pid)})
    )
    owner.kill()
    owner.wait()
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    left_behind = subprocess.Popen(sleeper, env={**os.environ, local_ray.ENV_MARKER: str(dead)})
    live = local_ray.claim_temp_dir()  # owned by this (live) process
    in_use = subprocess.Popen(sleeper, env={**os.environ, local_ray.ENV_MARKER: str(live)})
    try:
        assert local_ray.processes_of(dead) == [left_behind.pid]
        assert left_behind.pid in local_ray.stop_orphans()
        assert left_behind.wait(timeout=30) == -signal.SIGTERM
        assert not dead.exists()
        assert in_use.poll() is None and live.exists()
    finally:
        local_ray.release(live)
        in_use.wait(timeout=30)


def test_a_signal_lost_in_a_finaliser_still_stops_the_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Python runs a signal handler wherever the main thread is; raised inside a finaliser, its
    exception is dropped. The signal must still stop the run at the driver's next check."""

    class SignalsWhileCollected:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)  # the handler runs here, inside the finaliser

    before = signal.getsignal(signal.SIGTERM)
    with StopOnSignals() as stop:
        SignalsWhileCollected()  # collected at once: the handler's exception is dropped
        assert stop.received == signal.SIGTERM
        with pytest.raises(RunInterrupted) as interrupted:
            stop.check()
    assert interrupted.value.exit_status == 143
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is back
    assert capsys.readouterr().err == ""  # dropped silently: no "Exception ignored" traceback


def test_a_signal_inside_a_deferred_step_is_raised_when_the_step_ends() -> None:
    """Claiming a trial and recording it as the run's is one step: a signal in the middle must
    not leave a trial RUNNING that the run cannot find to requeue."""
    finished = False
    with StopOnSignals() as stop:
        with pytest.raises(RunInterrupted) as raised:
            with stop.deferred():
                os.kill(os.getpid(), signal.SIGINT)
                finished = True
    assert finished and raised.value.signum == signal.SIGINT
    assert stop.received == signal.SIGINT


def test_a_signal_inside_nested_deferred_steps_is_raised_when_the_outer_one_ends() -> None:
    """A storage write inside a larger step (a claim inside the driver's ask): the signal waits
    for the whole step, not only for the inner write."""
    after_inner = False
    with StopOnSignals() as stop:
        with pytest.raises(RunInterrupted):
            with stop.deferred():
                with stop.deferred():
                    os.kill(os.getpid(), signal.SIGTERM)
                after_inner = True
    assert after_inner
