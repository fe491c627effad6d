"""Builds a model's layers with the precision its config gives each layer name.

Architectures ask the factory for ``conv_bn(name, ...)``, ``linear(name, ...)`` and
``neuron(name)``; the factory looks the name up in the :class:`PrecisionConfig` (and the
:class:`~mdsnn_search.snn.pruning.PruningConfig`), so builders never deal with quantizers or masks
and every architecture gets per-layer precision and pruning for free.
"""

from __future__ import annotations

from typing import TypeVar

from mdsnn_search.errors import ConfigError
from mdsnn_search.precision import LayerPrecision, integer_membrane_lower, is_full_precision
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.layers import QuantConvBN2d, QuantLinear
from mdsnn_search.snn.neuron import QuantLIFNode
from mdsnn_search.snn.pruning import ChannelMask
from mdsnn_search.snn.quantizers import (
    BiasQuantizer,
    IntegerMembraneQuantizer,
    MembraneQuantizer,
    make_weight_quantizer,
)

LayerT = TypeVar("LayerT", QuantConvBN2d, QuantLinear)


class LayerFactory:
    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.built: dict[str, QuantConvBN2d | QuantLinear] = {}
        self.neurons: list[str] = []

    def precision(self, name: str) -> LayerPrecision:
        return self.config.precision.for_layer(name)

    def channels(self, base: int) -> int:
        """Channel count scaled by the config's width multiplier (at least 1)."""
        return max(1, round(base * self.config.width))

    def conv_bn(
        self, name: str, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, padding: int = 1
    ) -> QuantConvBN2d:
        p = self.precision(name)
        q = self.config.quant
        layer = QuantConvBN2d(
            name,
            c_in,
            c_out,
            kernel,
            stride,
            padding,
            weight_quantizer=make_weight_quantizer(
                p.w_bits, transform=q.weight_transform, scale_init=q.scale_init
            ),
            bn_quantizer=None if is_full_precision(p.bn_bits) else BiasQuantizer(p.bn_bits),
        )
        return self._remember(layer)

    def linear(self, name: str, in_features: int, out_features: int) -> QuantLinear:
        p = self.precision(name)
        q = self.config.quant
        layer = QuantLinear(
            name,
            in_features,
            out_features,
            weight_quantizer=make_weight_quantizer(
                p.w_bits, transform=q.weight_transform, scale_init=q.scale_init
            ),
        )
        return self._remember(layer)

    def neuron(self, name: str) -> QuantLIFNode:
        """The LIF neuron firing on layer ``name``'s output, with that layer's membrane precision
        (uniform ``u_bits`` or integer ``u_levels``) and, if its keep ratio is below 1, a channel
        mask."""
        p = self.precision(name)
        cfg = self.config
        source = self.built.get(name)
        quantizer: MembraneQuantizer | IntegerMembraneQuantizer | None = None
        if p.u_levels is not None:
            quantizer = IntegerMembraneQuantizer(integer_membrane_lower(p.u_levels))
        elif not is_full_precision(p.u_bits):
            shared = (
                source.weight_quantizer if cfg.quant.share_scale and source is not None else None
            )
            quantizer = MembraneQuantizer(
                p.u_bits, init_alpha=cfg.neuron.v_threshold, shared_with=shared
            )
        mask = None
        keep_ratio = cfg.pruning.for_layer(name)
        if keep_ratio < 1.0:
            if source is None:
                raise ConfigError(
                    f"pruning: layer {name!r} has no weight layer built before its neuron"
                )
            mask = ChannelMask(source.out_channels, keep_ratio)
        node = QuantLIFNode(cfg.neuron, quantizer, channel_mask=mask)
        node.layer_name = name
        self.neurons.append(name)
        return node

    def _remember(self, layer: LayerT) -> LayerT:
        if layer.layer_name in self.built:
            raise ValueError(f"layer name {layer.layer_name!r} used twice")
        self.built[layer.layer_name] = layer
        return layer

    def check_overrides(self) -> None:
        """Refuse precision and pruning overrides that matched no layer: they are typos, not
        intentions."""
        unmatched = self.config.precision.unmatched_patterns(self.built)
        if unmatched:
            raise ConfigError(
                f"precision.layers: {unmatched[0]!r} matches no layer of {self.config.arch} "
                f"(layers: {', '.join(self.built)})"
            )
        unmatched = self.config.pruning.unmatched_patterns(self.neurons)
        if unmatched:
            raise ConfigError(
                f"pruning.layers: {unmatched[0]!r} matches no spiking layer of {self.config.arch} "
                f"(spiking layers: {', '.join(self.neurons)})"
            )
