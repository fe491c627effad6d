"""What distillation reads out of a forward pass: membranes at chosen layers, spikes with gradient.

Both are scoped to one forward pass by context managers, so a network records nothing (and holds
no tensors) outside a distillation step: evaluation and the cost model see the plain network.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import nn

from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.neuron import QuantLIFNode


@contextmanager
def recording_membranes(
    model: SpikingNetwork, names: Collection[str]
) -> Iterator[dict[str, QuantLIFNode]]:
    """Record the pre-spike membrane ``h_seq`` at ``names`` only, for the passes inside the block.

    Yields the recording neurons by name (read ``node.h_seq`` after the forward). On exit the
    previous recording flags come back and the recorded sequences are dropped, so memory stays
    proportional to ``names`` and nothing outlives the block but what the caller kept.
    """
    nodes = model.neurons()
    previous = {name: node.record_membrane for name, node in nodes.items()}
    for name, node in nodes.items():
        node.record_membrane = name in names
    try:
        yield {name: nodes[name] for name in names}
    finally:
        for name, node in nodes.items():
            node.record_membrane = previous[name]
            if name in names:
                node.h_seq = None


@contextmanager
def batch_statistics(model: nn.Module) -> Iterator[None]:
    """Inside the block the model's batch norms normalise with each batch's own statistics and
    leave their running statistics alone (training mode without tracking); restored on exit.

    Applies to ``nn.BatchNorm*`` modules, i.e. a full-precision teacher; a layer whose batch norm
    is folded and quantized decides on its own ``training`` flag and keeps its running statistics.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.training, m.track_running_stats) for m in norms]
    for m in norms:
        m.training, m.track_running_stats = True, False
    try:
        yield
    finally:
        for m, (training, tracking) in zip(norms, saved, strict=True):
            m.training, m.track_running_stats = training, tracking


def take_membranes(nodes: dict[str, QuantLIFNode]) -> dict[str, torch.Tensor]:
    """The ``h_seq`` each recording node kept in the last forward, taken out of the node."""
    taken: dict[str, torch.Tensor] = {}
    for name, node in nodes.items():
        if node.h_seq is None:
            raise RuntimeError(f"layer {name!r} recorded no membrane (was the forward pass run?)")
        taken[name] = node.h_seq
        node.h_seq = None
    return taken


class SpikeCollector(ExitStack):
    """Keeps every spiking layer's output ``[T, B, ...]`` of the passes inside it, graph attached.

    For the spike-rate regulariser, whose gradient flows through the surrogate; counting for
    reports is :class:`~mdsnn_search.snn.monitor.SpikeMonitor`'s job.
    """

    def __init__(self, model: SpikingNetwork) -> None:
        super().__init__()
        self.model = model
        self.spike_seqs: list[torch.Tensor] = []

    def __enter__(self) -> SpikeCollector:
        super().__enter__()
        for node in self.model.neurons().values():
            self.enter_context(node.register_forward_hook(self._keep))
        return self

    def _keep(
        self, module: torch.nn.Module, args: tuple[torch.Tensor, ...], spikes: torch.Tensor
    ) -> None:
        self.spike_seqs.append(spikes)
