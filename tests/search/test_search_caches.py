"""Files a study reads back carry checksums; damage is rebuilt or refused by name; a trial that
cannot run for an infrastructure reason is queued again and not counted; one run builds a
shared teacher while the others wait."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState
from study_runs import bits_trial

from mdsnn_search.checksums import checksum_path, damage, publish, verify
from mdsnn_search.cli import main
from mdsnn_search.data.frame_cache import load_cached, store_cached
from mdsnn_search.distill.cache import TeacherOutputCache
from mdsnn_search.errors import InfrastructureError, StudyError
from mdsnn_search.execution.protocol import TrialContext, TrialOutcome, TrialRequest
from mdsnn_search.file_lock import exclusive
from mdsnn_search.search.run import run_study
from mdsnn_search.search.teacher import cached_teacher_path
from mdsnn_search.spec.objectives import ATTR_FAIL_REASON
from mdsnn_search.spec.schema import load_spec
from mdsnn_search.study.budget import INFRASTRUCTURE_FAILED, interrupted_numbers


def zero_bytes(path: Path, at: float = 0.5, count: int = 16) -> None:
    data = bytearray(path.read_bytes())
    start = int(len(data) * at)
    data[start : start + count] = bytes(count)
    path.write_bytes(bytes(data))


def test_a_published_file_verifies_until_a_byte_changes(tmp_path: Path) -> None:
    staged, path = tmp_path / "staged", tmp_path / "cache.bin"
    staged.write_bytes(bytes(range(256)) * 4)
    publish(staged, path)
    assert not staged.exists() and checksum_path(path).is_file() and damage(path) is None
    zero_bytes(path)
    assert "changed since it was written" in (damage(path) or "")
    with pytest.raises(InfrastructureError, match=f"cache {path} is damaged"):
        verify(path, "cache")
    checksum_path(path).unlink()
    assert "no readable checksum" in (damage(path) or "")


def test_a_damaged_teacher_output_cache_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "outputs.pt"
    TeacherOutputCache(torch.ones(2, 8, 3), {"conv1": torch.ones(2, 8, 4)}).save(path)
    assert TeacherOutputCache.load(path).samples == 8
    zero_bytes(path, at=0.9)
    with pytest.raises(InfrastructureError, match="teacher-output cache .*outputs.pt is damaged"):
        TeacherOutputCache.load(path)


def test_a_damaged_frame_cache_entry_is_binned_again(tmp_path: Path) -> None:
    entry = tmp_path / "frames.npy"
    frames = np.ones((2, 3, 4), dtype=np.float16)
    store_cached(entry, frames)
    loaded = load_cached(entry, frames.shape)
    assert loaded is not None and np.array_equal(loaded, frames)
    zero_bytes(entry, at=0.9, count=8)
    assert load_cached(entry, frames.shape) is None


def test_a_damaged_cached_teacher_fails_validate_and_run_by_name(
    write_spec: Callable[..., Path], tiny_teacher: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = write_spec()
    cached = cached_teacher_path(load_spec(spec_path))
    cached.parent.mkdir(parents=True)
    staged = cached.with_name("staged.pt")
    shutil.copy(tiny_teacher, staged)
    publish(staged, cached)
    assert main(["validate", str(spec_path)]) == 0
    capsys.readouterr()
    zero_bytes(cached)
    for command in ("validate", "run"):
        assert main([command, str(spec_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"cached teacher {cached} is damaged" in err, err
    assert not Path("tiny.db").exists() and not (Path(spec_path).parent / "tiny.db").exists()


def test_infrastructure_failures_are_queued_again_and_not_counted(
    write_spec: Callable[..., Path], tiny_teacher: Path
) -> None:
    spec = load_spec(write_spec(teacher={"checkpoint": str(tiny_teacher)}))
    broken_once: set[int] = set()

    def damaged_once(context: TrialContext, request: TrialRequest) -> TrialOutcome:
        if request.number == 1 and not broken_once:
            broken_once.add(request.number)
            raise InfrastructureError("teacher-output cache x.pt is damaged: for the test")
        return bits_trial(context, request)

    summary = run_study(spec, trial_fn=damaged_once, progress=False)
    assert summary.finished == 4 and summary.failed_now == 0
    trials = optuna.load_study(study_name="tiny", storage=spec.study.storage_url()).trials
    assert interrupted_numbers(trials) == {1}
    assert trials[1].user_attrs[ATTR_FAIL_REASON].startswith(INFRASTRUCTURE_FAILED)
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4


def test_a_run_whose_trials_keep_failing_for_infrastructure_stops_with_one_line(
    write_spec: Callable[..., Path], tiny_teacher: Path
) -> None:
    spec = load_spec(write_spec(teacher={"checkpoint": str(tiny_teacher)}))

    def always_full(context: TrialContext, request: TrialRequest) -> TrialOutcome:
        raise OSError(28, "No space left on device")

    with pytest.raises(StudyError, match="3 trials in a row could not run"):
        run_study(spec, trial_fn=always_full, progress=False)
    trials = optuna.load_study(study_name="tiny", storage=spec.study.storage_url()).trials
    assert not [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(interrupted_numbers(trials)) == 3  # none counts against n_trials


def test_one_holder_builds_while_the_others_wait(tmp_path: Path) -> None:
    path = tmp_path / "teacher.pt"
    order: list[str] = []
    waited = threading.Event()

    def second() -> None:
        with exclusive(path, on_wait=waited.set):
            order.append("second saw " + ("it" if path.exists() else "nothing"))

    with exclusive(path):
        thread = threading.Thread(target=second)
        thread.start()
        assert waited.wait(10)  # it found the lock held and waits
        time.sleep(0.1)
        path.write_text("built")
        order.append("first built")
    thread.join(10)
    assert order == ["first built", "second saw it"]


def test_two_runs_started_together_train_the_teacher_once(
    write_spec: Callable[..., Path],
) -> None:
    from mdsnn_search.data import load_search_dataset
    from mdsnn_search.search.teacher import ensure_teacher, ensure_teacher_outputs

    spec = load_spec(write_spec())
    bundle = load_search_dataset(spec.data)
    results: list[tuple[bool, Path | None]] = []

    def run() -> None:
        teacher = ensure_teacher(spec, bundle, progress=False)
        results.append((teacher.trained_now, ensure_teacher_outputs(spec, bundle, teacher)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert sorted(trained for trained, _ in results) == [False, True]
    assert len({outputs for _, outputs in results}) == 1
    cached = sorted(p.name for p in Path("studies/teachers").glob("*.pt"))
    assert len(cached) == 2 and all(damage(Path("studies/teachers") / n) is None for n in cached)
