"""Evaluating a student against its teacher: accuracy, activity and membrane mismatch in one pass.

The mismatch is the raw per-layer MSE of the pre-spike membrane H between student and teacher on
the same inputs (both in evaluation mode), averaged over timesteps, samples and neurons, with the
teacher's steps aligned to the student's as in training. It is not normalised like the training
loss, so it reads in the membrane's own units.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from types import TracebackType

import torch

from mdsnn_search.distill.alignment import alignment_for
from mdsnn_search.distill.losses import TimeAlignment
from mdsnn_search.distill.pair import check_pair
from mdsnn_search.distill.recording import recording_membranes, take_membranes
from mdsnn_search.metrics import (
    ACCURACY,
    LAYER_FIRING_RATES,
    LAYER_INPUT_RATES,
    LOSS,
    MEMBRANE_MISMATCH,
    MEMBRANE_MISMATCH_MEAN,
    SAMPLES,
    SPIKES_PER_SAMPLE,
)
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.neuron import QuantLIFNode
from mdsnn_search.training_loop import Batch, evaluate

STUDENT_METRICS: tuple[str, ...] = (
    ACCURACY,
    LOSS,
    SPIKES_PER_SAMPLE,
    LAYER_FIRING_RATES,
    LAYER_INPUT_RATES,
    SAMPLES,
    MEMBRANE_MISMATCH,
    MEMBRANE_MISMATCH_MEAN,
)
"""Keys of :func:`evaluate_student`'s dict; the first six are those of
:class:`~mdsnn_search.training_loop.EvalResult`."""


class MembraneComparison:
    """While active, every forward of ``student`` also runs ``teacher`` on the same input and adds
    the squared membrane differences per layer on the device; ``mse()`` reads them out at the end.

    Hooking the student's forward lets an ordinary evaluation loop (``train.evaluate``) measure
    the mismatch in the same pass as accuracy and spikes. ``align`` defaults to the student's
    own (:func:`~mdsnn_search.distill.alignment.alignment_for`).
    """

    def __init__(
        self,
        student: SpikingNetwork,
        teacher: SpikingNetwork,
        layers: Sequence[str],
        align: TimeAlignment | None = None,
    ) -> None:
        check_pair(student, teacher, layers)
        self.student, self.teacher, self.layers = student, teacher, list(layers)
        self.align = align if align is not None else alignment_for(student)
        self._squared: dict[str, torch.Tensor] = {}
        self._count: dict[str, int] = {}
        self._stack = ExitStack()
        self._student_nodes: dict[str, QuantLIFNode] = {}

    def __enter__(self) -> MembraneComparison:
        self.teacher.to(next(self.student.parameters()).device)
        was_training = self.teacher.training
        self.teacher.eval()
        self._stack.callback(self.teacher.train, was_training)
        self._student_nodes = self._stack.enter_context(
            recording_membranes(self.student, self.layers)
        )
        self._stack.callback(self.student.register_forward_hook(self._compare).remove)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    @torch.no_grad()
    def _compare(
        self, module: torch.nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor
    ) -> None:
        student_h = take_membranes(self._student_nodes)
        with recording_membranes(self.teacher, self.layers) as teacher_nodes:
            self.teacher(args[0])
            teacher_h = take_membranes(teacher_nodes)
        for name in self.layers:
            s, t = self.align(student_h[name], teacher_h[name])
            self._squared[name] = self._squared.get(name, 0) + (s - t).square().sum()
            self._count[name] = self._count.get(name, 0) + s.numel()

    def mse(self) -> dict[str, float]:
        """Per-layer mean squared membrane difference over every pass so far (NaN if none)."""
        return {
            name: float(self._squared[name]) / self._count[name]
            if name in self._squared
            else float("nan")
            for name in self.layers
        }


def _resolve(
    student: SpikingNetwork, teacher: SpikingNetwork, layers: Sequence[str] | None
) -> list[str]:
    """``layers``, or every spiking layer of the teacher; ConfigError if either lacks one."""
    names = list(teacher.neurons()) if layers is None else list(layers)
    check_pair(student, teacher, names)
    return names


@torch.no_grad()
def membrane_mismatch(
    student: SpikingNetwork,
    teacher: SpikingNetwork,
    loader: Iterable[Batch],
    layers: Sequence[str] | None = None,
) -> dict[str, float]:
    """Per-layer MSE of H, student against teacher, on ``loader`` (default: every spiking layer)."""
    names = _resolve(student, teacher, layers)
    device = next(student.parameters()).device
    was_training = student.training
    student.eval()
    try:
        with MembraneComparison(student, teacher, names) as comparison:
            for x, _ in loader:
                student(x.to(device, non_blocking=True))
    finally:
        student.train(was_training)
    return comparison.mse()


def evaluate_student(
    student: SpikingNetwork,
    teacher: SpikingNetwork,
    loader: Iterable[Batch],
    *,
    per_timestep_ce: bool = False,
    layers: Sequence[str] | None = None,
) -> dict[str, object]:
    """One JSON-able dict for a study: :func:`train.evaluate`'s metrics plus the membrane mismatch
    per layer (``layers``; ``None``: every spiking layer) and its mean over layers, in one pass.

    The student is left in evaluation mode (as ``train.evaluate`` leaves it); the teacher's mode is
    restored.
    """
    names = _resolve(student, teacher, layers)
    with MembraneComparison(student, teacher, names) as comparison:
        result = evaluate(student, loader, per_timestep_ce=per_timestep_ce)
    mismatch = comparison.mse()
    return {
        ACCURACY: result.accuracy,
        LOSS: result.loss,
        SPIKES_PER_SAMPLE: result.spikes_per_sample,
        LAYER_FIRING_RATES: dict(result.layer_firing_rates),
        LAYER_INPUT_RATES: dict(result.layer_input_rates),
        SAMPLES: result.samples,
        MEMBRANE_MISMATCH: mismatch,
        MEMBRANE_MISMATCH_MEAN: sum(mismatch.values()) / len(mismatch) if mismatch else None,
    }
