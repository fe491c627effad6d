"""A student's training step and a membrane-distillation step give on the GPU what they give on
the CPU: same seeds, same batch, through ``fit`` as a job runs them.

Each device's step is compared with the CPU's. On the CPU itself that checks the step repeats bit
for bit (and keeps the comparison exercised on machines without CUDA); the ``gpu`` cases are
skipped where torch sees no CUDA device.

Tolerances (relative): 1e-3 on the loss and on the norm of the weight update. Float32 kernels on
the two devices differ only in summation order, about 1e-7 relative (TF32, which rounds
convolution inputs to 10 mantissa bits by design, is switched off for the comparison). Measured
on this step on the CPU: perturbing the input by 1e-5 relative (100x that) changes neither the loss
nor the update by more than 2e-8 relative, since the spikes and the 2-bit levels absorb it; by
1e-3 relative (10,000x), the loss by 3.6e-4 and the update by 5.7e-5. A device bug (a tensor left
on the other device, a step on other data, another precision) moves both by order 1. SGD without
momentum keeps the update proportional to the gradient (Adam's first step is lr times the
gradient's sign, which a gradient near zero flips).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from conftest import STUDENT_PRECISION

from mdsnn_search.distill import DistillConfig, make_distill_step
from mdsnn_search.snn import SpikingNetwork, student_from_teacher
from mdsnn_search.training_loop import TrainConfig, deterministic_kernels, fit, seed_everything

RTOL = 1e-3

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
        ],
    ),
]

State = dict[str, torch.Tensor]


@contextmanager
def float32_kernels() -> Iterator[None]:
    """Full float32 convolutions and matmuls on CUDA for the block (no TF32)."""
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def one_step(
    device: str,
    teacher: SpikingNetwork,
    batch: tuple[torch.Tensor, torch.Tensor],
    distill: bool,
) -> tuple[float, State, State]:
    """The loss of one training step of a W2/U2/BN8 student copied from ``teacher``, and the
    student's state (weights, quantizer scales, BN statistics) before and after it."""
    teacher = copy.deepcopy(teacher)
    student = student_from_teacher(
        teacher, teacher.config.model_copy(update={"precision": STUDENT_PRECISION})
    )
    before = {k: v.detach().double().clone() for k, v in student.state_dict().items()}
    config = TrainConfig(
        epochs=1,
        optimizer="sgd",
        momentum=0.0,
        lr=0.01,
        schedule="constant",
        precise_bn=False,
        device=device,  # type: ignore[arg-type]
    )
    step = (
        make_distill_step(teacher, DistillConfig(layers="all", membrane_weight=1.0))
        if distill
        else None
    )
    seed_everything(0)
    with deterministic_kernels(), float32_kernels():
        result = fit(student, [batch], config, step_loss=step, progress=False)
    after = {k: v.detach().double().cpu() for k, v in student.state_dict().items()}
    return result.history[-1].train_loss, before, after


def update(before: State, after: State) -> torch.Tensor:
    return torch.cat([(after[k] - before[k]).flatten() for k in before])


@pytest.mark.parametrize("distill", [False, True], ids=["student step", "distillation step"])
@pytest.mark.parametrize("device", DEVICES)
def test_a_step_on_the_device_agrees_with_the_cpu(
    device: str,
    distill: bool,
    teacher: SpikingNetwork,
    batch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    cpu_loss, cpu_before, cpu_after = one_step("cpu", teacher, batch, distill)
    loss, before, after = one_step(device, teacher, batch, distill)
    assert all(torch.equal(before[k], cpu_before[k]) for k in cpu_before)  # same start
    assert loss == pytest.approx(cpu_loss, rel=RTOL)
    expected = update(cpu_before, cpu_after)
    assert expected.norm() > 0  # the step moved the student
    assert float((update(before, after) - expected).norm() / expected.norm()) <= RTOL
