"""The supernet: one set of weights serving every precision, keep ratio, T_s and threshold mode.

Every weight layer and neuron of one :class:`~mdsnn_search.snn.models.SpikingNetwork` keeps,
per candidate bit-width, its own weight quantizer and membrane quantizer (so its own clipping
ranges, AdaBits-style), and per weight layer and its own (T_s, w_bits, bn_bits) its own
batch-norm running statistics (switchable BN; T_s in the key only when the space offers
timesteps). Channels are elastic by slicing one importance order per spiking layer, fixed once
from the teacher with pruning's membrane prior (:func:`~mdsnn_search.snn.pruning.channel_order`),
so every keep ratio r keeps the first ``kept_count(r, C)`` channels of it; timesteps are elastic
because the network maps its input onto ``config.timesteps`` itself
(:mod:`mdsnn_search.snn.timesteps`). A space that searches learnable thresholds gets one learnt
threshold per spiking layer and membrane width (a configuration with fixed thresholds uses
none). :meth:`Supernet.configure_` puts that state into the network for one configuration,
exactly where the factory would have built it (quantizers, channel masks, thresholds, T_s); the
network then *is* the standalone student of that configuration, with the same module tree and
state-dict keys, which :meth:`Supernet.student` relies on.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import cast

import torch
from torch import nn

from mdsnn_search.precision import (
    LayerPrecision,
    integer_membrane_lower,
    is_full_precision,
    membrane_code,
)
from mdsnn_search.snn.integer_membrane import IntegerMembraneQuantizer
from mdsnn_search.snn.layers import QuantConvBN2d
from mdsnn_search.snn.models import SpikingNetwork
from mdsnn_search.snn.neuron import QuantLIFNode
from mdsnn_search.snn.pruning import ChannelMask, close_mask_
from mdsnn_search.snn.quantizers import (
    BiasQuantizer,
    MembraneQuantizer,
    WeightQuantizer,
    make_weight_quantizer,
)
from mdsnn_search.snn.threshold import LearnableThreshold
from mdsnn_search.strategies.oneshot.subnet import SubnetConfig

FULL_MEMBRANE = "u32"
"""Membrane key of a full-precision membrane (it has no quantizer, but may have a threshold)."""


def _key(name: str) -> str:
    """A layer name as a module key (``features.0`` -> ``features_0``)."""
    return name.replace(".", "_")


def _membrane_key(precision: LayerPrecision) -> str | None:
    if precision.u_levels is None and is_full_precision(precision.u_bits):
        return None
    return membrane_code(precision.u_bits, precision.u_levels)


def _bn_key(precision: LayerPrecision, timesteps: int | None) -> str:
    bits = f"w{precision.w_bits}_bn{precision.bn_bits}"
    return bits if timesteps is None else f"t{timesteps}_{bits}"


class Supernet(nn.Module):
    """``network`` (full precision, no masks, weights from the teacher) and its per-bit-width
    state.

    ``weight_bits``/``membrane`` list the candidate widths per layer; their quantizers are made
    here, their clipping ranges fitted lazily on first use as a student's are. BN statistics
    per (layer, T_s, w_bits, bn_bits) start from the teacher's. Each spiking layer's channel
    order starts as the channels' own order until :meth:`set_channel_order_` fixes it.
    """

    def __init__(
        self,
        network: SpikingNetwork,
        weight_bits: Mapping[str, list[int]],
        membrane: Mapping[str, list[LayerPrecision]],
        *,
        learnt_thresholds: bool = False,
    ) -> None:
        super().__init__()
        self.network = network
        quant = network.config.quant
        if quant.share_scale:
            raise ValueError("model.quant.share_scale: the supernet keeps one range per bit-width")
        self.weight_quantizers = nn.ModuleDict()
        for name, choices in weight_bits.items():
            per_bits = nn.ModuleDict()
            for bits in choices:
                quantizer = make_weight_quantizer(
                    bits, transform=quant.weight_transform, scale_init=quant.scale_init
                )
                if quantizer is not None:
                    per_bits[str(bits)] = quantizer
            self.weight_quantizers[_key(name)] = per_bits
        self.membrane_quantizers = nn.ModuleDict()
        threshold = float(network.config.neuron.v_threshold)
        for name, precisions in membrane.items():
            per_width = nn.ModuleDict()
            for precision in precisions:
                key = _membrane_key(precision)
                if key is None or key in per_width:
                    continue
                per_width[key] = (
                    IntegerMembraneQuantizer(integer_membrane_lower(precision.u_levels))
                    if precision.u_levels is not None
                    else MembraneQuantizer(precision.u_bits, init_alpha=threshold)
                )
            self.membrane_quantizers[_key(name)] = per_width
        self.thresholds = nn.ModuleDict()
        """Per spiking layer and membrane width, its learnt threshold (when the space offers)."""
        neurons = network.neurons()
        for name, precisions in membrane.items() if learnt_thresholds else ():
            per_width = nn.ModuleDict()
            for precision in precisions:
                key = _membrane_key(precision) or FULL_MEMBRANE
                if key not in per_width:
                    per_width[key] = LearnableThreshold(float(neurons[name].v_threshold))
            self.thresholds[_key(name)] = per_width
        layers = network.weight_layers()
        self.channel_order: dict[str, torch.Tensor] = {
            name: torch.arange(layers[name].out_channels)
            for name in network.neurons()
            if name in layers
        }
        """Each spiking layer's channels, most important first (kept on the CPU)."""
        self._bn_slots: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]] = {}
        self._active: dict[str, str] = {}

    def set_channel_order_(self, order: Mapping[str, torch.Tensor]) -> None:
        """Fix the channel order of the layers ``order`` names (from
        :func:`~mdsnn_search.snn.pruning.channel_order` on the teacher)."""
        for name, channels in order.items():
            if sorted(channels.tolist()) != list(range(len(self.channel_order[name]))):
                raise ValueError(f"channel order of {name!r} is not a permutation of its channels")
            self.channel_order[name] = channels.detach().to("cpu", torch.int64).clone()

    # -- switching -------------------------------------------------------------------------

    def configure_(self, configuration: SubnetConfig) -> None:
        """Make :attr:`network` the student of ``configuration`` (in place).

        In training mode the BN statistics the outgoing configuration updated go back to its
        slot; in evaluation mode slots never change (a scoring pass may re-estimate statistics
        for one configuration without touching the trained ones)."""
        network = self.network
        if network.config.timesteps != configuration.timesteps:
            network.config = network.config.model_copy(
                update={"timesteps": configuration.timesteps}
            )
        neurons = network.neurons()
        self._mask_channels(neurons, configuration.keep_ratio)
        for name, layer in self.network.weight_layers().items():
            precision = configuration[name]
            weights = cast(nn.ModuleDict, self.weight_quantizers[_key(name)])
            layer.weight_quantizer = (
                None
                if is_full_precision(precision.w_bits)
                else cast(WeightQuantizer, weights[str(precision.w_bits)])
            )
            if isinstance(layer, QuantConvBN2d):
                layer.bn_quantizer = (
                    None
                    if is_full_precision(precision.bn_bits)
                    else BiasQuantizer(precision.bn_bits)
                )
                self._swap_bn(name, layer, _bn_key(precision, configuration.timesteps))
            if name in neurons:
                key = _membrane_key(precision)
                membranes = cast(nn.ModuleDict, self.membrane_quantizers[_key(name)])
                neurons[name].membrane_quantizer = None if key is None else membranes[key]
                neurons[name].threshold = (
                    cast(
                        LearnableThreshold,
                        cast(nn.ModuleDict, self.thresholds[_key(name)])[key or FULL_MEMBRANE],
                    )
                    if configuration.learnable_threshold
                    else None
                )

    def _mask_channels(
        self, neurons: Mapping[str, QuantLIFNode], keep: Mapping[str, float]
    ) -> None:
        """A closed mask on the first ``kept_count(r, C)`` channels of each layer below r = 1,
        none elsewhere (as ``add_channel_masks_`` and ``prune_channels_`` give a student)."""
        device = next(self.network.parameters()).device
        for name, order in self.channel_order.items():
            ratio = keep.get(name, 1.0)
            if ratio >= 1.0:
                neurons[name].channel_mask = None
                continue
            mask = ChannelMask(len(order), ratio).to(device)
            close_mask_(mask, order)
            neurons[name].channel_mask = mask

    def _swap_bn(self, name: str, layer: QuantConvBN2d, key: str) -> None:
        """Store the running statistics of the slot in use, load those of ``key`` (the teacher's
        when the slot is new)."""
        bn = layer.bn
        assert bn.running_mean is not None and bn.running_var is not None
        slots = self._bn_slots.setdefault(name, {})
        active = self._active.get(name)
        if active is not None and self.training:
            slots[active] = (bn.running_mean.clone(), bn.running_var.clone())
        elif not slots:
            slots["teacher"] = (bn.running_mean.clone(), bn.running_var.clone())
        mean, var = slots.get(key, slots["teacher"])
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        self._active[name] = key

    def student(self, configuration: SubnetConfig) -> SpikingNetwork:
        """A standalone copy of the network configured at ``configuration``: same weights,
        clipping ranges and BN statistics, sharing nothing with the supernet."""
        self.configure_(configuration)
        return copy.deepcopy(self.network)

    # -- state -----------------------------------------------------------------------------

    def supernet_state(self) -> dict[str, object]:
        """Everything to rebuild this supernet: weights, quantizers, every BN slot, the channel
        order."""
        self._store_active()
        derived = ("weight_quantizer", "membrane_quantizer", "channel_mask", "threshold.")
        return {
            "weights": {
                k: v
                for k, v in self.network.state_dict().items()
                if not any(part in k for part in derived)
            },
            "channel_order": {k: v.clone() for k, v in self.channel_order.items()},
            "weight_quantizers": self.weight_quantizers.state_dict(),
            "membrane_quantizers": self.membrane_quantizers.state_dict(),
            "thresholds": self.thresholds.state_dict(),
            "bn_slots": copy.deepcopy(self._bn_slots),
            "active": dict(self._active),
        }

    def load_supernet_state(self, state: Mapping[str, object]) -> None:
        self._detach_quantizers()
        self.network.load_state_dict(state["weights"])  # type: ignore[arg-type]
        self.weight_quantizers.load_state_dict(state["weight_quantizers"])  # type: ignore[arg-type]
        self.membrane_quantizers.load_state_dict(state["membrane_quantizers"])  # type: ignore[arg-type]
        self.thresholds.load_state_dict(state["thresholds"])  # type: ignore[arg-type]
        self.set_channel_order_(state["channel_order"])  # type: ignore[arg-type]
        self._bn_slots = copy.deepcopy(state["bn_slots"])  # type: ignore[arg-type]
        self._active = dict(state["active"])  # type: ignore[call-overload]

    def _store_active(self) -> None:
        if not self.training:
            return
        for name, layer in self.network.weight_layers().items():
            key = self._active.get(name)
            if key is not None and isinstance(layer, QuantConvBN2d):
                bn = layer.bn
                assert bn.running_mean is not None and bn.running_var is not None
                self._bn_slots[name][key] = (bn.running_mean.clone(), bn.running_var.clone())

    def _detach_quantizers(self) -> None:
        """Back to full precision and every channel (the module tree the saved weights were
        taken from)."""
        for layer in self.network.weight_layers().values():
            layer.weight_quantizer = None
            if isinstance(layer, QuantConvBN2d):
                layer.bn_quantizer = None
        for node in self.network.neurons().values():
            node.membrane_quantizer = None
            node.channel_mask = None
            node.threshold = None
