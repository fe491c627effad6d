"""A teacher and its student: checking they fit, freezing the teacher.

A student that starts from its teacher is a converted copy of it
(:func:`~mdsnn_search.snn.models.student_from_teacher`), so the two share every layer name.
"""

from __future__ import annotations

from collections.abc import Iterable

from mdsnn_search.errors import ConfigError
from mdsnn_search.snn.models.network import SpikingNetwork


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
            f"student takes input {student.input_shape} with {student.num_classes} classes, "
            f"but its teacher {teacher.input_shape} with {teacher.num_classes}"
        )
    teacher_layers, student_layers = teacher.neurons(), student.neurons()
    unknown = [name for name in distilled if name not in teacher_layers]
    if unknown:
        raise ConfigError(
            f"distill.layers: {', '.join(repr(n) for n in unknown)} is not a spiking layer of "
            f"the teacher ({teacher.config.label}; spiking layers: {', '.join(teacher_layers)})"
        )
    missing = [name for name in distilled if name not in student_layers]
    if missing:
        raise ConfigError(
            f"distill.layers: {', '.join(repr(n) for n in missing)} is a spiking layer of the "
            f"teacher ({teacher.config.label}) but not of the student ({student.config.label}; "
            f"spiking layers: {', '.join(student_layers)})"
        )
