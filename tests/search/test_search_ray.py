"""Real Ray: trials run as Ray Tune trials; a crashing trial; joining a running Ray head."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from mdsnn_search.execution.protocol import TrialContext, TrialOutcome, TrialRequest
from mdsnn_search.search.run import run_study
from mdsnn_search.search.trial import run_trial
from mdsnn_search.spec.objectives import (
    ATTR_FAIL_REASON,
    ATTR_METRICS,
    ATTR_TRACEBACK,
    ATTR_TRIAL_DIR,
)
from mdsnn_search.spec.schema import load_spec
from mdsnn_search.study.documents import trial_document
from mdsnn_search.study.students import ATTR_STUDENT_CHECKPOINT

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ray = pytest.importorskip("ray")


@pytest.fixture
def ray_session() -> Iterator[None]:
    yield
    ray.shutdown()


def crash_on_trial_2(context: TrialContext, request: TrialRequest) -> TrialOutcome:
    if request.number == 2:
        raise RuntimeError("forced crash inside the Ray worker")
    return run_trial(context, request)


def test_study_on_ray_records_results_and_a_crashed_trial(
    write_spec: Callable[..., Path], tiny_teacher: Path, ray_session: None
) -> None:
    spec_path = write_spec(
        execution={"backend": "ray", "cpus_per_trial": 1, "max_concurrent": 2},
        teacher={"checkpoint": str(tiny_teacher)},
    )
    spec = load_spec(spec_path)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    summary = run_study(spec, trial_fn=crash_on_trial_2, progress=False)
    assert (summary.finished, summary.failed_now) == (4, 1)
    trials = optuna.load_study(study_name="tiny", storage=spec.study.storage_url()).get_trials()
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.FAIL,
        TrialState.COMPLETE,
    ]
    assert "forced crash inside the Ray worker" in trials[2].user_attrs[ATTR_FAIL_REASON]
    assert "in crash_on_trial_2" in trial_document(
        trials[2], ATTR_TRACEBACK
    )  # the worker's traceback reached the driver
    for trial in trials:
        assert Path(trial.user_attrs[ATTR_TRIAL_DIR]).is_dir()  # the Ray trial directory
    assert all(trial_document(t, ATTR_METRICS) for t in trials if t.state == TrialState.COMPLETE)
    # Each complete trial's student, trained in a Ray worker, is kept where the driver records it.
    kept = [t.user_attrs.get(ATTR_STUDENT_CHECKPOINT) for t in trials]
    assert [k is not None for k in kept] == [t.state == TrialState.COMPLETE for t in trials]
    assert all(Path(k).is_file() for k in kept if k is not None)
    # One Tune result per epoch (1 here) reached the driver as the intermediate value, and the
    # trial's progress.csv holds it; the crashed trial 2 reported none.
    for trial in (trials[0], trials[1], trials[3]):
        assert list(trial.intermediate_values) == [1]
        progress = (Path(trial.user_attrs[ATTR_TRIAL_DIR]) / "progress.csv").read_text()
        header, first = progress.splitlines()[:2]
        row = dict(zip(header.split(","), first.split(","), strict=False))
        assert float(row["val_accuracy"]) == pytest.approx(trial.intermediate_values[1])
    assert trials[2].intermediate_values == {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop_ray_head(temp_dir: str) -> None:
    """Stop the head this test started, and only it (``ray stop`` stops every Ray on the machine):
    its processes are the ones whose command line names its own temp dir."""
    ours = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and temp_dir.encode() in (proc / "cmdline").read_bytes():
                ours.append(int(proc.name))
        except OSError:
            continue
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in ours:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in ours):
            time.sleep(0.2)


def test_run_joins_an_existing_ray_head(
    write_spec: Callable[..., Path], tiny_teacher: Path, tmp_path: Path
) -> None:
    spec_path = write_spec(
        study={"n_trials": 2, "baselines": ["w4u4"]},
        execution={"backend": "ray"},
        teacher={"checkpoint": str(tiny_teacher)},
    )
    ray_bin = Path(sys.executable).with_name("ray")
    port = _free_port()
    # A loopback-only test cluster: no auth token (ray start enables one by default in 2.60).
    env = {**os.environ, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled"}
    # Ray keeps Unix sockets under its temp dir; pytest's long tmp paths exceed the socket limit.
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    subprocess.run(
        [
            str(ray_bin),
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={ray_tmp}",
        ],
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "mdsnn_search.cli",
                "run",
                str(spec_path),
                "--address",
                f"127.0.0.1:{port}",
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert '"finished": 2' in result.stdout
    finally:
        _stop_ray_head(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    trials = optuna.load_study(
        study_name="tiny", storage=load_spec(spec_path).study.storage_url()
    ).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE]


def test_teacher_reaches_a_node_that_cannot_see_the_driver_path(tmp_path: Path) -> None:
    from mdsnn_search.execution.ray_tune import _local_copy

    payload = b"checkpoint bytes"
    present = tmp_path / "teacher.pt"
    present.write_bytes(payload)
    assert _local_copy(str(present), payload) == str(present)
    copied = Path(_local_copy(str(tmp_path / "elsewhere" / "teacher.pt"), payload))
    assert copied.read_bytes() == payload and copied.parent == Path(tempfile.gettempdir())
    copied.unlink()
