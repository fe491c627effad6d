"""The spiking network base class: time-major input, per-timestep logits, named layers."""

from __future__ import annotations

import torch
from spikingjelly.activation_based import functional
from torch import nn

from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.layers import QuantConvBN2d, WeightLayer
from mdsnn_search.snn.neuron import QuantLIFNode
from mdsnn_search.snn.quantize import spiking_neurons, weight_layers
from mdsnn_search.snn.timesteps import to_student_time


class SpikingNetwork(nn.Module):
    """Base of every registered architecture.

    ``forward`` takes ``x_seq`` of shape [T, B, C, H, W] and always returns the per-timestep
    logits [T', B, classes] (average over T' for the prediction). T' = T, unless the config sets
    fewer ``timesteps``: then the network runs T' = T_s steps on ``frame_merge`` of the input's
    frames (:mod:`mdsnn_search.snn.timesteps`). Subclasses implement ``forward_seq``. Membrane
    state is reset at the start of every forward pass, so callers never carry state between
    batches by accident.
    """

    def __init__(
        self, config: ModelConfig, input_shape: tuple[int, int, int], num_classes: int
    ) -> None:
        super().__init__()
        self.config = config
        self.input_shape = input_shape
        self.num_classes = num_classes

    def forward_seq(self, x_seq: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.dim() != 5 or tuple(x_seq.shape[2:]) != self.input_shape:
            raise ValueError(
                f"expected input [T, B, {', '.join(map(str, self.input_shape))}], "
                f"got {list(x_seq.shape)}"
            )
        functional.reset_net(self)
        if self.config.timesteps is not None:
            x_seq = to_student_time(x_seq, self.config.timesteps, self.config.frame_merge)
        return self.forward_seq(x_seq)

    def run_timesteps(self, input_timesteps: int) -> int:
        """Steps run for an input of ``input_timesteps`` frames (what the cost model charges)."""
        if self.config.timesteps is None:
            return input_timesteps
        return min(self.config.timesteps, input_timesteps)

    def weight_layers(self) -> dict[str, WeightLayer]:
        """Weight layers by stable name, in registration order."""
        return weight_layers(self)

    def neurons(self) -> dict[str, QuantLIFNode]:
        """Spiking neurons by the name of the layer whose output they fire on."""
        return spiking_neurons(self)

    def precision_labels(self) -> dict[str, str]:
        """Each weight layer's bits (``W4/U4/BN8``), only of what it has: no ``U`` without a
        neuron, no ``BN`` without batch norm (the classifier has neither)."""
        neurons = self.neurons()
        return {
            name: self.config.precision.for_layer(name).label(
                membrane=name in neurons, bn=isinstance(layer, QuantConvBN2d)
            )
            for name, layer in self.weight_layers().items()
        }

    def record_membranes(self, names: set[str] | None) -> None:
        """Keep the pre-spike membrane ``h_seq`` at the named layers only (``None``: none)."""
        for name, node in self.neurons().items():
            node.record_membrane = names is not None and name in names
            if not node.record_membrane:
                node.h_seq = None
