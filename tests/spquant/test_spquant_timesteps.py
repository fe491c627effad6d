"""A student with fewer timesteps than its teacher: its frames, alignment, training and cost."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from mdsnn_search.checkpoint import save_checkpoint
from mdsnn_search.data import DataConfig, DatasetBundle, load_dataset, make_loader
from mdsnn_search.distill import (
    DistillConfig,
    evaluate_student,
    membrane_loss,
    student_time_alignment,
)
from mdsnn_search.errors import ConfigError
from mdsnn_search.job import TrainSpec, run_job
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn import ModelConfig, SpikingNetwork, build_model, student_from_teacher
from mdsnn_search.snn.timesteps import check_student_timesteps, to_student_time
from mdsnn_search.training_loop import TrainConfig, fit

DIGITS_T4 = DataConfig(name="digits", timesteps=4, max_per_class=30)


@pytest.fixture(scope="module")
def digits_t4() -> DatasetBundle:
    return load_dataset(DIGITS_T4)


@pytest.fixture(scope="module")
def teacher_t4(digits_t4: DatasetBundle) -> SpikingNetwork:
    torch.manual_seed(0)
    teacher = build_model(
        ModelConfig(arch="vgg5", width=0.25), digits_t4.input_shape, digits_t4.num_classes
    )
    loader = make_loader(digits_t4.train, 16, shuffle=True, seed=0)
    fit(
        teacher, loader, TrainConfig(epochs=3, batch_size=16, lr=1e-2, device="cpu"), progress=False
    )
    return teacher.eval()


def test_first_and_mean_frames() -> None:
    seq = torch.arange(8.0).view(8, 1)
    torch.testing.assert_close(to_student_time(seq, 2, "first"), torch.tensor([[0.0], [1.0]]))
    torch.testing.assert_close(to_student_time(seq, 2, "mean"), torch.tensor([[1.5], [5.5]]))
    assert (
        to_student_time(seq, 8, "mean") is seq
        and to_student_time(seq[:1], 4, "first").shape[0] == 1
    )
    with pytest.raises(ConfigError, match="divide"):
        to_student_time(seq, 3, "mean")


def test_student_timesteps_are_checked_against_the_data() -> None:
    check_student_timesteps(2, 4, "mean")
    with pytest.raises(ConfigError, match="at most the data's"):
        check_student_timesteps(8, 4, "first")
    with pytest.raises(ConfigError, match="must divide"):
        check_student_timesteps(3, 4, "mean")
    with pytest.raises(ValidationError, match="at most the data's"):
        TrainSpec(data=DIGITS_T4, model=ModelConfig(arch="vgg5", timesteps=6))


@pytest.mark.parametrize("merge", ["first", "mean"])
def test_student_network_runs_its_own_timesteps(merge: str) -> None:
    torch.manual_seed(0)
    full = build_model(ModelConfig(arch="vgg5", width=0.25), (1, 8, 8), 10).eval()
    short = build_model(
        ModelConfig(arch="vgg5", width=0.25, timesteps=2, frame_merge=merge), (1, 8, 8), 10
    ).eval()
    short.load_state_dict(full.state_dict())
    x_seq = torch.rand(4, 3, 1, 8, 8)
    with torch.no_grad():
        out = short(x_seq)
        expected = full(to_student_time(x_seq, 2, merge))  # type: ignore[arg-type]
    assert out.shape == (2, 3, 10)
    torch.testing.assert_close(out, expected)
    assert short.run_timesteps(4) == 2 and full.run_timesteps(4) == 4


def test_teacher_membrane_is_aligned_to_the_students_steps(
    digits_t4: DatasetBundle, teacher_t4: SpikingNetwork
) -> None:
    """A full-precision copy of the teacher at T_s = 2 ('first' frames of direct coding) matches the
    teacher's first two steps exactly: its membrane distance is 0 in evaluation mode."""
    copy = student_from_teacher(teacher_t4, ModelConfig(arch="vgg5", width=0.25, timesteps=2))
    metrics = evaluate_student(copy.eval(), teacher_t4, make_loader(digits_t4.test, 128))
    assert metrics["membrane_mismatch_mean"] == pytest.approx(0.0, abs=1e-12)
    # The loss's alignment follows the student's frame merge: window means for 'mean'.
    h_teacher = torch.arange(4.0).view(4, 1, 1).expand(4, 2, 3)
    h_student = torch.tensor([0.5, 2.5]).view(2, 1, 1).expand(2, 2, 3)
    assert (
        membrane_loss(
            h_student, h_teacher, norm="none", align=student_time_alignment("mean")
        ).item()
        == 0.0
    )
    first = membrane_loss(h_student, h_teacher, norm="none", align=student_time_alignment("first"))
    assert first.item() == pytest.approx(((0.5 - 0.0) ** 2 + (2.5 - 1.0) ** 2) / 2)


def test_smaller_t_student_trains_against_a_larger_t_teacher(
    digits_t4: DatasetBundle, teacher_t4: SpikingNetwork, tmp_path: Path
) -> None:
    teacher_path = save_checkpoint(tmp_path / "teacher.pt", teacher_t4)
    spec = TrainSpec(
        name="t2-student",
        data=DIGITS_T4,
        model=ModelConfig(
            arch="vgg5", width=0.25, timesteps=2, precision=PrecisionConfig.uniform(4, 4, 8)
        ),
        training=TrainConfig(epochs=2, batch_size=16, lr=1e-2, device="cpu"),
        teacher=teacher_path,
        distill=DistillConfig(layers="all", membrane_weight=0.5, kd_weight=1.0),
    )
    result = run_job(spec, bundle=digits_t4, progress=False, save=False)
    assert torch.isfinite(torch.tensor(result.metrics["train_loss"]))
    assert result.metrics["accuracy"] > 0.5  # ten classes: chance is 0.1
    assert set(result.metrics["membrane_mismatch"]) == {"conv1", "conv2", "conv3", "conv4"}
    with torch.no_grad():
        x, _ = next(iter(make_loader(digits_t4.test, 8)))
        assert result.model(x).shape[0] == 2 and teacher_t4(x).shape[0] == 4
