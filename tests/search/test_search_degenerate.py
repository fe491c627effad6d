"""Degenerate specs: training that cannot fit in memory is refused with the estimate; a teacher
that does not clearly beat chance stops the study."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from mdsnn_search.cli import main
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.memory import saved_bytes, training_bytes
from mdsnn_search.snn.models import build_model


def test_the_memory_estimate_is_linear_in_timesteps_and_batch() -> None:
    model = build_model(ModelConfig(arch="vgg5", width=0.5), (1, 8, 8), 10)
    measured = saved_bytes(model, 6, 3)
    estimated = training_bytes(model, 6, 3)
    assert measured > saved_bytes(model, 1, 1) > 0
    assert abs(estimated - measured) <= 0.05 * measured
    assert all(p.grad is None for p in model.parameters()) and model.training
    assert torch.is_grad_enabled()


def test_training_that_cannot_fit_is_refused_with_the_estimate(
    write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = write_spec(data={"timesteps": 100_000})
    for command in ("validate", "run"):
        assert main([command, str(spec)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "data.timesteps: training with 100000 timesteps" in err
        assert "GiB for its activations" in err and "GiB available" in err
    assert not (tmp_path / "tiny.db").exists() and not Path("studies").exists()


def test_a_teacher_at_chance_stops_the_study_before_any_trial(
    write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = write_spec(
        model={"arch": "vgg5", "width": 0.0001},
        teacher={"training": {"epochs": 1, "batch_size": 16, "lr": 1e-9}},
    )
    assert main(["run", str(spec)]) == 2
    last = capsys.readouterr().err.splitlines()[-1]  # after the teacher's epoch line
    assert last.startswith("mdsnn-search run: error: teacher studies/teachers/vgg5-")
    assert "does not clearly beat chance (10.0 % for 10 classes" in last
    # The teacher is prepared before the study is opened: nothing was stored.
    assert not (tmp_path / "tiny.db").exists()
    # The cached teacher is refused at once next time, before anything is stored.
    assert main(["validate", str(spec)]) == 2
    assert "cached teacher" in capsys.readouterr().err
