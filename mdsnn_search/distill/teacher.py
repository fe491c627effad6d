"""The frozen teacher as a distillation step runs it: inference only, and what one pass yields.

A student's step needs from its full-precision teacher only the logits and the pre-spike
membranes of the distilled layers, never a gradient, a batch statistic or a quantizer.
:func:`inference_teacher` makes that network once (a frozen copy whose batch norms are folded into
their convolutions); :func:`run_teacher` runs one batch through it, keeping the membranes of the
named layers only; :class:`TeacherOutputs` is what comes back, whether computed now or read from
a study's cache (:mod:`mdsnn_search.distill.cache`).

The pass runs under ``torch.no_grad`` rather than ``torch.inference_mode``: its outputs become
the targets of ``F.mse_loss``, which saves its target for the backward pass, and inference
tensors cannot be saved. Inference mode plus the copy that makes its outputs usable measured the
same as no_grad (vgg5 distillation step, 1 thread: 149.5 against 149.8 ms), so the simpler one
stays. A study's cache, whose outputs never meet autograd, is computed under inference mode.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from contextlib import ExitStack
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mdsnn_search.distill.pair import freeze_teacher
from mdsnn_search.distill.recording import batch_statistics, recording_membranes, take_membranes
from mdsnn_search.snn.layers import QuantConvBN2d
from mdsnn_search.snn.models.network import SpikingNetwork


@dataclass(frozen=True)
class TeacherOutputs:
    """The teacher's per-timestep logits ``[T, B, classes]`` and pre-spike membranes ``[T, B, ...]``
    of the distilled layers, for one batch."""

    logits_seq: torch.Tensor
    membranes: dict[str, torch.Tensor]


def inference_teacher(teacher: SpikingNetwork, *, fold_bn: bool = True) -> SpikingNetwork:
    """A frozen copy of ``teacher`` for inference; ``teacher`` itself is left as it is.

    With ``fold_bn`` every full-precision conv-BN layer becomes one conv with a bias,
    ``W*gamma/sigma`` and ``beta - gamma*mu/sigma`` from the running statistics
    (``torch.nn.utils.fusion.fuse_conv_bn_eval``), so a forward pass does not normalise again.
    A teacher whose batch norm must see each batch's statistics (``teacher_bn: batch``) keeps it.
    """
    frozen = copy.deepcopy(teacher)
    freeze_teacher(frozen)
    if fold_bn:
        for layer in frozen.modules():
            if (
                isinstance(layer, QuantConvBN2d)
                and layer.weight_quantizer is None
                and layer.bn_quantizer is None
            ):
                layer.conv = fuse_conv_bn_eval(layer.conv, layer.bn)
                layer.bn = nn.Identity()  # type: ignore[assignment]
    return frozen


@torch.no_grad()
def run_teacher(
    teacher: SpikingNetwork, x_seq: torch.Tensor, layers: Collection[str], *, batch_bn: bool = False
) -> TeacherOutputs:
    """One pass of a frozen teacher over ``x_seq``, keeping the membranes at ``layers`` only.

    ``batch_bn`` normalises with the batch's own statistics (``teacher_bn: batch``; the teacher's
    running statistics stay as they are). No spike monitor or other hook is attached.
    """
    with ExitStack() as stack:
        nodes = stack.enter_context(recording_membranes(teacher, layers))
        if batch_bn:
            stack.enter_context(batch_statistics(teacher))
        logits_seq = teacher(x_seq)
        return TeacherOutputs(logits_seq, take_membranes(nodes))
