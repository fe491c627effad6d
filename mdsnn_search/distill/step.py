"""One distillation training step: the ``step_loss`` that :func:`~mdsnn_search.training_loop.fit`
calls.

Per batch the student runs with membranes recording at the distilled layers, and the loss is

    L = CE + lambda_mem * sum_l w_l * L_mem(l) + lambda_kd * L_kd + lambda_spk * L_spk.

The teacher's side comes from one of two places, and ``teacher_path`` says which: a study's cache
of the teacher's outputs on the training set (``cached``: the batch's rows, by the samples'
indices, which the loader then yields as a third batch field), or a pass of a frozen inference
copy of the teacher over the batch (``per_batch``: BN folded into its convolutions, membranes
kept at the distilled layers only; see :mod:`mdsnn_search.distill.teacher`). With neither
membrane nor logit distillation the teacher is not used at all (``none``), so quantization-aware
training alone goes through the same step.

A caller may also hand a batch's teacher outputs in (``teacher_outputs=``): in-place
distillation, where a supernet's largest configuration, run just before on the same batch,
teaches the smaller ones. With ``keep_outputs`` set, a step keeps its student's detached logits
and recorded membranes in ``outputs`` for exactly that.

The student's membrane step t is compared with the teacher steps it corresponds to
(:func:`~mdsnn_search.distill.alignment.alignment_for`: the same step, or the student's frame
merge when it runs fewer timesteps). Terms whose weight is zero are not computed. Nothing reads a
tensor back to the host: the loss parts stay on the device in ``step.parts``.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Literal

import torch

from mdsnn_search.distill.alignment import alignment_for
from mdsnn_search.distill.cache import TeacherOutputCache
from mdsnn_search.distill.config import DistillConfig
from mdsnn_search.distill.losses import (
    TimeAlignment,
    heterogeneous_kd,
    membrane_loss,
    spike_rate_loss,
)
from mdsnn_search.distill.pair import check_pair, freeze_teacher
from mdsnn_search.distill.recording import SpikeCollector, recording_membranes, take_membranes
from mdsnn_search.distill.teacher import TeacherOutputs, inference_teacher, run_teacher
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.neuron import QuantLIFNode
from mdsnn_search.training_loop import classification_loss

PART_TOTAL = "total"
PART_CE = "ce"
PART_MEMBRANE = "membrane"
PART_KD = "kd"
PART_SPIKE = "spike"
MEMBRANE_LAYER_PREFIX = "membrane/"
"""``parts`` keys: each term before its lambda (``membrane`` is sum_l w_l * L_mem(l)), the total,
and ``membrane/<layer>`` for each distilled layer's L_mem(l)."""


def firing_threshold(node: QuantLIFNode) -> float:
    """The neuron's threshold theta: its learnt one if it has one, else the configured value."""
    learnt = getattr(node, "threshold", None)
    return float(learnt().detach()) if callable(learnt) else float(node.v_threshold)


TeacherPath = Literal["cached", "per_batch", "none"]
"""Where a step's teacher outputs come from (see the module docstring); a trial records it."""


class DistillStep:
    """Callable ``(student, x_seq, y[, index]) -> (loss, logits_seq)``: distils a frozen teacher.

    ``cache`` (a study's :class:`~mdsnn_search.distill.cache.TeacherOutputCache`) is used when it
    holds every distilled layer and the teacher's BN uses running statistics; the step then needs
    each batch's sample ``index``. After each call ``parts`` maps the loss terms (see the
    ``PART_*`` keys) to detached scalar tensors on the device, for logging without a host sync in
    the step itself.
    """

    def __init__(
        self,
        teacher: SpikingNetwork,
        config: DistillConfig,
        *,
        per_timestep_ce: bool = False,
        cache: TeacherOutputCache | None = None,
    ) -> None:
        self.teacher = teacher
        self.config = config
        self.per_timestep_ce = per_timestep_ce
        freeze_teacher(teacher)
        teacher_neurons = teacher.neurons()
        self.layer_weights = config.resolve_layers(
            list(teacher_neurons), where=f"the teacher ({teacher.config.label})"
        )
        self.thresholds = {
            name: firing_threshold(teacher_neurons[name]) for name in self.layer_weights
        }
        uses_teacher = bool(self.layer_weights) or config.uses_kd
        batch_bn = config.teacher_bn == "batch"
        self.cache = (
            cache
            if uses_teacher
            and cache is not None
            and not batch_bn
            and cache.serves(self.layer_weights)
            else None
        )
        self.inference = None
        if uses_teacher and self.cache is None:
            self.inference = inference_teacher(teacher, fold_bn=not batch_bn)
        self.parts: dict[str, torch.Tensor] = {}
        self.keep_outputs = False
        self.outputs: TeacherOutputs | None = None
        """With ``keep_outputs``: the last call's student logits and membranes, detached."""

    @property
    def uses_teacher(self) -> bool:
        return self.inference is not None or self.cache is not None

    @property
    def teacher_path(self) -> TeacherPath:
        if self.cache is not None:
            return "cached"
        return "per_batch" if self.inference is not None else "none"

    def __call__(
        self,
        student: SpikingNetwork,
        x_seq: torch.Tensor,
        y: torch.Tensor,
        index: torch.Tensor | None = None,
        *,
        teacher_outputs: TeacherOutputs | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``teacher_outputs``: the batch's teacher side given by the caller (the frozen teacher
        is then not asked); its membranes are on the timeline of the network that made them."""
        check_pair(student, self.teacher, self.layer_weights)
        teacher = (
            teacher_outputs if teacher_outputs is not None else self._teacher_outputs(x_seq, index)
        )
        with ExitStack() as stack:
            nodes = stack.enter_context(recording_membranes(student, self.layer_weights))
            spikes = (
                stack.enter_context(SpikeCollector(student))
                if self.config.spike_weight > 0
                else None
            )
            logits_seq = student(x_seq)
            student_h = take_membranes(nodes)
        ce = classification_loss(logits_seq, y, self.per_timestep_ce)
        parts = {PART_CE: ce}
        loss = ce
        if self.layer_weights:
            assert teacher is not None
            membrane = self._membrane_term(
                student_h, teacher.membranes, parts, alignment_for(student)
            )
            loss = loss + self.config.membrane_weight * membrane
        if self.config.uses_kd:
            assert teacher is not None
            kd = heterogeneous_kd(
                logits_seq.mean(0),
                teacher.logits_seq.mean(0),
                teacher_temperature=self.config.teacher_temperature,
                student_temperature=self.config.student_temperature,
            )
            parts[PART_KD] = kd
            loss = loss + self.config.kd_weight * kd
        if spikes is not None:
            rate = spike_rate_loss(spikes.spike_seqs)
            parts[PART_SPIKE] = rate
            loss = loss + self.config.spike_weight * rate
        parts[PART_TOTAL] = loss
        self.parts = {key: value.detach() for key, value in parts.items()}
        if self.keep_outputs:
            self.outputs = TeacherOutputs(
                logits_seq.detach(), {name: h.detach() for name, h in student_h.items()}
            )
        return loss, logits_seq

    def _teacher_outputs(
        self, x_seq: torch.Tensor, index: torch.Tensor | None
    ) -> TeacherOutputs | None:
        if self.cache is not None:
            if index is None:
                raise ValueError(
                    "a step reading cached teacher outputs needs the batch's sample indices"
                )
            return self.cache.lookup(index, self.layer_weights, x_seq.device)
        if self.inference is None:
            return None
        if next(self.inference.parameters()).device != x_seq.device:
            self.inference.to(x_seq.device)
        return run_teacher(
            self.inference, x_seq, self.layer_weights, batch_bn=self.config.teacher_bn == "batch"
        )

    def _membrane_term(
        self,
        student_h: dict[str, torch.Tensor],
        teacher_h: dict[str, torch.Tensor],
        parts: dict[str, torch.Tensor],
        align: TimeAlignment,
    ) -> torch.Tensor:
        """sum_l w_l * L_mem(l); records each unweighted L_mem(l) in ``parts``."""
        total: torch.Tensor | None = None
        for name, weight in self.layer_weights.items():
            term = membrane_loss(
                student_h[name],
                teacher_h[name],
                norm=self.config.membrane_norm,
                threshold=self.thresholds[name],
                align=align,
            )
            parts[MEMBRANE_LAYER_PREFIX + name] = term
            total = weight * term if total is None else total + weight * term
        assert total is not None
        parts[PART_MEMBRANE] = total
        return total


def make_distill_step(
    teacher: SpikingNetwork,
    config: DistillConfig,
    *,
    per_timestep_ce: bool = False,
    student: SpikingNetwork | None = None,
    cache: TeacherOutputCache | None = None,
) -> DistillStep:
    """Freeze ``teacher`` and return the step that distils it into the model ``fit`` trains.

    The result is a :data:`~mdsnn_search.training_loop.StepLoss` (a :class:`DistillStep`, whose
    ``parts`` hold the last batch's loss terms); with a usable ``cache`` it reads the teacher's
    outputs from it (see :class:`DistillStep`).

    Raises ConfigError if a distilled layer is not a spiking layer of the teacher (listing those
    there are) or, when ``student`` is given now or the step first meets one, of the student.
    """
    step = DistillStep(teacher, config, per_timestep_ce=per_timestep_ce, cache=cache)
    if student is not None:
        check_pair(student, teacher, step.layer_weights)
    return step
