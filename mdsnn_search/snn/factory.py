"""The layers registered architectures are built from, at full precision.

Architectures ask the factory for ``conv_bn(name, ...)``, ``linear(name, ...)`` and
``neuron(name)``; each layer carries its stable name, by which
:func:`~mdsnn_search.snn.quantize.quantize_` then gives it its precision (and
:func:`~mdsnn_search.snn.pruning.add_channel_masks_` its keep ratio), exactly as for a network
built elsewhere.
"""

from __future__ import annotations

from typing import TypeVar

from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.layers import QuantConvBN2d, QuantLinear
from mdsnn_search.snn.neuron import QuantLIFNode

LayerT = TypeVar("LayerT", QuantConvBN2d, QuantLinear)


class LayerFactory:
    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.built: dict[str, QuantConvBN2d | QuantLinear] = {}

    def channels(self, base: int) -> int:
        """Channel count scaled by the config's width multiplier (at least 1)."""
        return max(1, round(base * self.config.width))

    def conv_bn(
        self, name: str, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, padding: int = 1
    ) -> QuantConvBN2d:
        return self._remember(QuantConvBN2d(name, c_in, c_out, kernel, stride, padding))

    def linear(self, name: str, in_features: int, out_features: int) -> QuantLinear:
        return self._remember(QuantLinear(name, in_features, out_features))

    def neuron(self, name: str) -> QuantLIFNode:
        """The LIF neuron firing on layer ``name``'s output."""
        node = QuantLIFNode(self.config.neuron)
        node.layer_name = name
        return node

    def _remember(self, layer: LayerT) -> LayerT:
        if layer.layer_name in self.built:
            raise ValueError(f"layer name {layer.layer_name!r} used twice")
        self.built[layer.layer_name] = layer
        return layer
