"""A teacher and its student: checking they fit, freezing the teacher, copying its weights.

The student is the teacher's architecture at lower precision, so the two share every weight and
batch-norm tensor name; what the student adds (quantizers, learnable thresholds, pruning masks) is
its own.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from mdsnn_search.errors import ConfigError
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.quantizers import WeightQuantizer


def freeze_teacher(teacher: SpikingNetwork) -> None:
    """Evaluation mode (running BN statistics) and no parameter requires a gradient."""
    teacher.eval()
    teacher.requires_grad_(False)


def check_pair(
    student: SpikingNetwork, teacher: SpikingNetwork, distilled: Iterable[str] = ()
) -> None:
    """Raise ConfigError unless ``student`` can learn from ``teacher`` at the ``distilled`` layers.

    Both must take the same input and give the same classes (logit KD compares them); every
    distilled layer must be a spiking layer of both.
    """
    if student is teacher:
        raise ConfigError(
            "the student must be a separate network from its teacher (the teacher is frozen)"
        )
    if student.input_shape != teacher.input_shape or student.num_classes != teacher.num_classes:
        raise ConfigError(
            f"student takes input {student.input_shape} with {student.num_classes} classes, but "
            f"its teacher {teacher.input_shape} with {teacher.num_classes}"
        )
    teacher_layers, student_layers = teacher.neurons(), student.neurons()
    unknown = [name for name in distilled if name not in teacher_layers]
    if unknown:
        raise ConfigError(
            f"distill.layers: {', '.join(repr(n) for n in unknown)} is not a spiking layer of the "
            f"teacher ({teacher.config.arch}; spiking layers: {', '.join(teacher_layers)})"
        )
    missing = [name for name in distilled if name not in student_layers]
    if missing:
        raise ConfigError(
            f"distill.layers: {', '.join(repr(n) for n in missing)} is a spiking layer of the "
            f"teacher ({teacher.config.arch}) but not of the student ({student.config.arch}; "
            f"spiking layers: {', '.join(student_layers)})"
        )


WEIGHT_MODULES: tuple[type[nn.Module], ...] = (
    nn.Conv2d,
    nn.Linear,
    nn.modules.batchnorm._BatchNorm,
)
"""Modules whose tensors a student takes from its teacher: convolutions, linears, batch norms."""


def weight_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state-dict entries of the model's weight and batch-norm modules (running statistics
    included), by key; what the model adds on top (quantizer scales, learnable thresholds,
    pruning masks) is left out."""
    prefixes = tuple(
        f"{name}." for name, module in model.named_modules() if isinstance(module, WEIGHT_MODULES)
    )
    return {k: v for k, v in model.state_dict().items() if k.startswith(prefixes)}


@torch.no_grad()
def init_student_from_teacher(student: SpikingNetwork, teacher: SpikingNetwork) -> None:
    """Copy every weight and batch-norm tensor of ``teacher`` into ``student``, in place.

    Everything else of the student keeps its own values, except that every weight quantizer is
    told to refit its clipping range to the copied weights on its next forward; learnable thresholds
    (at their configured start), pruning masks. Raises ConfigError naming the first mismatch if
    the two are not the same architecture at the same width.
    """
    if (student.config.arch, student.config.width) != (teacher.config.arch, teacher.config.width):
        raise ConfigError(
            f"cannot initialise a {student.config.arch} (width {student.config.width}) student "
            f"from a {teacher.config.arch} (width {teacher.config.width}) teacher: architectures "
            "differ"
        )
    source, target = weight_state(teacher), weight_state(student)
    only_teacher, only_student = (
        sorted(source.keys() - target.keys()),
        sorted(target.keys() - source.keys()),
    )
    if only_teacher or only_student:
        raise ConfigError(
            f"cannot initialise the student from the teacher: tensors only in the teacher "
            f"{only_teacher[:3]}, only in the student {only_student[:3]}"
        )
    for key, value in source.items():
        if value.shape != target[key].shape:
            raise ConfigError(
                f"cannot initialise the student from the teacher: {key} is {list(value.shape)} in "
                f"the teacher but {list(target[key].shape)} in the student"
            )
    for key, value in source.items():
        target[key].copy_(value)
    for module in student.modules():
        if isinstance(module, WeightQuantizer):
            module.reset_range_()
