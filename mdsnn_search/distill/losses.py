"""The distillation losses as plain tensor functions (docs/design/methods.md section 3).

Nothing here knows about networks or hooks, so each term can be tested on hand-made tensors and
reused by the step, the evaluation and any later variant (e.g. a student with fewer timesteps).
Teacher tensors are detached inside every function: no gradient can reach the teacher through a
loss, whatever the caller did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from mdsnn_search.distill.config import MembraneNorm
from mdsnn_search.errors import ConfigError

TEACHER_POWER_FLOOR = 1e-6
"""Smallest teacher mean H^2 divided by (a silent teacher layer must not blow the loss up)."""

TimeAlignment = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``(student_h_seq, teacher_h_seq) -> (student, teacher)`` of equal shape ``[T, B, ...]``.

The hook where a student with fewer timesteps than its teacher (T_s < T_t) will map the two
sequences onto each other; today both nets see the same input, so the default only checks.
"""


def same_timesteps(
    student_h_seq: torch.Tensor, teacher_h_seq: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The identity alignment: both sequences must already have the same shape."""
    if student_h_seq.shape != teacher_h_seq.shape:
        raise ConfigError(
            "membrane distillation compares membrane sequences of equal shape, but got student "
            f"{list(student_h_seq.shape)} and teacher {list(teacher_h_seq.shape)} "
            "(a student with other timesteps needs a time alignment)"
        )
    return student_h_seq, teacher_h_seq


def membrane_scale(
    teacher_h_seq: torch.Tensor, norm: MembraneNorm, threshold: float = 1.0
) -> torch.Tensor | float:
    """The divisor that makes one layer's membrane MSE comparable with another's.

    ``teacher_power`` is the teacher's mean H^2 on this batch (detached), so L_mem is the relative
    squared error; ``threshold`` is theta^2; ``none`` is 1.
    """
    if norm == "teacher_power":
        flat = teacher_h_seq.detach().reshape(-1)
        # A dot product reads the membranes once (square().mean() writes a squared copy first).
        return (torch.dot(flat, flat) / flat.numel()).clamp_min(TEACHER_POWER_FLOOR)
    if norm == "threshold":
        return float(threshold) ** 2
    return 1.0


def membrane_loss(
    student_h_seq: torch.Tensor,
    teacher_h_seq: torch.Tensor,
    *,
    norm: MembraneNorm = "teacher_power",
    threshold: float = 1.0,
    align: TimeAlignment = same_timesteps,
) -> torch.Tensor:
    """L_mem(l): mean over timesteps, samples and neurons of (H^S_t - H^T_t)^2, normalised.

    Both arguments are pre-spike membrane sequences ``[T, B, ...]`` of one layer. Every timestep
    holds the same number of neurons, so this equals the mean over t of the per-timestep MSE.
    """
    student, teacher = align(student_h_seq, teacher_h_seq.detach())
    return F.mse_loss(student, teacher) / membrane_scale(teacher, norm, threshold)


def heterogeneous_kd(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    *,
    teacher_temperature: float,
    student_temperature: float,
) -> torch.Tensor:
    """L_kd = tau_t * tau_s * KL(softmax(z_T / tau_t) || softmax(z_S / tau_s)), batch mean.

    ``z`` are ``[B, classes]`` (the step passes time-averaged logits). With tau_t == tau_s == tau
    this is Hinton's KD, tau^2 * KL. With tau_s != tau_t the minimiser is not z_S = z_T but
    z_S = (tau_s / tau_t) * z_T (up to a shift per sample): tau_s < tau_t asks the student for
    logits smaller than the teacher's, which a spiking classifier reaches with fewer input spikes.
    The product tau_t * tau_s keeps the gradient's size comparable across temperatures, as tau^2
    does for conventional KD. Our formulation (the paper's exact one is not public).
    """
    log_p_teacher = F.log_softmax(teacher_logits.detach() / teacher_temperature, dim=-1)
    log_p_student = F.log_softmax(student_logits / student_temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return teacher_temperature * student_temperature * kl


def spike_rate_loss(spike_seqs: Iterable[torch.Tensor]) -> torch.Tensor:
    """L_spk: the overall firing rate, all spikes over all neuron-timestep slots of the layers.

    Weighted by neuron count (not the mean of per-layer rates), so it is proportional to the
    spikes per sample the cost model charges for; differentiable through the surrogate.
    """
    seqs = list(spike_seqs)
    if not seqs:
        raise ValueError("spike_rate_loss needs at least one spike sequence")
    total = torch.stack([s.sum() for s in seqs]).sum()
    return total / sum(s.numel() for s in seqs)
