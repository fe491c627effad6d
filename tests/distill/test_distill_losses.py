"""The loss terms on hand-made tensors: values, zeros, the temperature algebra, gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mdsnn_search.distill import (
    heterogeneous_kd,
    membrane_loss,
    membrane_scale,
    same_timesteps,
    spike_rate_loss,
)
from mdsnn_search.errors import ConfigError

temperatures = st.floats(0.25, 10.0)


def _logits(seed: int, batch: int = 6, classes: int = 10, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(batch, classes, generator=torch.Generator().manual_seed(seed)) * scale


def _hinton_kd(student: torch.Tensor, teacher: torch.Tensor, tau: float) -> torch.Tensor:
    """Conventional KD written out: tau^2 * mean over the batch of sum p_T (log p_T - log p_S)."""
    p_t = torch.softmax(teacher / tau, dim=-1)
    kl = (p_t * (torch.log(p_t) - torch.log_softmax(student / tau, dim=-1))).sum(-1).mean()
    return tau**2 * kl


def test_membrane_loss_is_zero_for_equal_membranes_and_the_normalised_mse_otherwise() -> None:
    teacher = torch.tensor([[[1.0, -1.0]], [[2.0, 0.0]]])  # [T=2, B=1, 2 neurons]; mean H^2 = 1.5
    student = teacher + torch.tensor([[[0.5, 0.0]], [[0.0, -0.5]]])  # MSE = 0.125
    for norm in ("teacher_power", "threshold", "none"):
        assert membrane_loss(teacher.clone(), teacher, norm=norm).item() == 0.0
    assert membrane_loss(student, teacher, norm="none").item() == pytest.approx(0.125)
    assert membrane_loss(student, teacher, norm="teacher_power").item() == pytest.approx(
        0.125 / 1.5
    )
    assert membrane_loss(student, teacher, norm="threshold", threshold=0.5).item() == pytest.approx(
        0.125 / 0.25
    )


def test_membrane_loss_is_the_mean_over_timesteps_of_per_timestep_mse() -> None:
    student, teacher = torch.randn(4, 3, 5, 2, 2), torch.randn(4, 3, 5, 2, 2)
    per_step = torch.stack([F.mse_loss(s, t) for s, t in zip(student, teacher, strict=True)])
    assert membrane_loss(student, teacher, norm="none").item() == pytest.approx(
        per_step.mean().item(), rel=1e-6
    )


def test_teacher_power_normalisation_makes_the_loss_scale_free() -> None:
    student, teacher = torch.randn(3, 4, 8), torch.randn(3, 4, 8)
    base = membrane_loss(student, teacher).item()
    assert membrane_loss(100 * student, 100 * teacher).item() == pytest.approx(base, rel=1e-5)
    # A silent teacher layer is floored, not divided by zero.
    assert math.isfinite(membrane_loss(student, torch.zeros_like(teacher)).item())
    assert float(membrane_scale(torch.zeros(2, 2), "teacher_power")) > 0


def test_membrane_loss_refuses_sequences_of_different_length() -> None:
    with pytest.raises(ConfigError, match="time alignment"):
        membrane_loss(torch.zeros(2, 1, 3), torch.zeros(4, 1, 3))
    with pytest.raises(ConfigError):
        same_timesteps(torch.zeros(2, 1, 3), torch.zeros(2, 2, 3))


def test_membrane_loss_accepts_a_time_alignment() -> None:
    """The hook a later issue (T_s < T_t) plugs into: here, the teacher's first T_s steps."""
    student, teacher = (
        torch.ones(2, 1, 3),
        torch.cat([torch.ones(2, 1, 3), torch.full((2, 1, 3), 9.0)]),
    )

    def first_steps(s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return s, t[: s.shape[0]]

    assert membrane_loss(student, teacher, align=first_steps).item() == 0.0


def test_no_gradient_reaches_teacher_tensors_through_any_loss() -> None:
    student = torch.randn(2, 3, 4, requires_grad=True)
    teacher = torch.randn(2, 3, 4, requires_grad=True)
    (
        membrane_loss(student, teacher)
        + heterogeneous_kd(student[0], teacher[0], teacher_temperature=4.0, student_temperature=2.0)
    ).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


@settings(max_examples=40, deadline=None)
@given(tau=temperatures, seed=st.integers(0, 2**16))
def test_heterogeneous_kd_equals_conventional_kd_at_equal_temperatures(
    tau: float, seed: int
) -> None:
    student, teacher = _logits(seed), _logits(seed + 1)
    ours = heterogeneous_kd(student, teacher, teacher_temperature=tau, student_temperature=tau)
    assert ours.item() == pytest.approx(
        _hinton_kd(student, teacher, tau).item(), rel=1e-4, abs=1e-6
    )


@settings(max_examples=40, deadline=None)
@given(tau_t=temperatures, tau_s=temperatures, seed=st.integers(0, 2**16))
def test_heterogeneous_kd_is_non_negative_and_zero_at_the_rescaled_teacher(
    tau_t: float, tau_s: float, seed: int
) -> None:
    """The minimiser is z_S = (tau_s / tau_t) * z_T (plus any per-sample shift)."""
    student, teacher = _logits(seed), _logits(seed + 1)
    assert (
        heterogeneous_kd(
            student, teacher, teacher_temperature=tau_t, student_temperature=tau_s
        ).item()
        >= -1e-6
    )
    shift = torch.randn(teacher.shape[0], 1)
    rescaled = (tau_s / tau_t) * teacher + shift
    at_minimum = heterogeneous_kd(
        rescaled, teacher, teacher_temperature=tau_t, student_temperature=tau_s
    )
    assert at_minimum.item() == pytest.approx(0.0, abs=1e-5)


def test_kd_is_zero_for_equal_logits_at_equal_temperatures_only() -> None:
    z = _logits(0)
    assert heterogeneous_kd(
        z.clone(), z, teacher_temperature=3.0, student_temperature=3.0
    ).item() == pytest.approx(0.0, abs=1e-6)
    assert (
        heterogeneous_kd(z.clone(), z, teacher_temperature=4.0, student_temperature=1.0).item()
        > 1e-3
    )


def test_kd_gradient_on_the_student_logits() -> None:
    """d L_kd / d z_S = tau_t * (softmax(z_S/tau_s) - softmax(z_T/tau_t)) / B."""
    student, teacher = _logits(3).requires_grad_(True), _logits(4)
    tau_t, tau_s = 4.0, 2.0
    heterogeneous_kd(
        student, teacher, teacher_temperature=tau_t, student_temperature=tau_s
    ).backward()
    expected = (
        tau_t
        * (torch.softmax(student.detach() / tau_s, -1) - torch.softmax(teacher / tau_t, -1))
        / len(teacher)
    )
    assert torch.allclose(student.grad, expected, atol=1e-6)


def test_spike_rate_loss_is_the_neuron_weighted_rate_and_differentiable() -> None:
    a = torch.tensor([[1.0, 0.0, 1.0, 1.0]], requires_grad=True)  # 3 of 4
    b = torch.zeros(1, 12, requires_grad=True)  # 0 of 12
    rate = spike_rate_loss([a, b])
    assert rate.item() == pytest.approx(3 / 16)
    rate.backward()
    assert torch.allclose(a.grad, torch.full_like(a, 1 / 16))
    with pytest.raises(ValueError):
        spike_rate_loss([])
