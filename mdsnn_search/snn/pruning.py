"""Channel pruning with a membrane prior (SpQuant-SNN; docs/design/methods.md section 4).

A spiking layer with keep ratio r < 1 gets a :class:`ChannelMask` on its neuron's input: masked
channels receive no current, so their membrane stays at rest (0) and they never spike, whatever the
threshold (always > 0). The mask is a buffer, saved in checkpoints.

Which channels: :func:`prune_channels_` scores every output channel of a masked layer by its
pre-spike membrane H on a few training batches (the network in evaluation mode, masks open):

    score_c = mean over timesteps and samples of  max over positions of  max(H_t, 0)

the peak positive membrane, i.e. how close the channel comes to firing (SpQuant's criterion is the
spatial max of the activation, averaged; on the membrane, the negative part carries nothing: a
channel held near its negative floor never fires). Each layer keeps its ``kept_count(r, C)``
best-scoring channels. All layers are scored in one pass of the unpruned network, then masked.
``mdsnn_search.job`` prunes once, after the student is initialised from the teacher and before
training, so training adapts the remaining channels to the loss of the others.

The kept counts reach the cost model as ``keep_fraction`` (:func:`kept_fractions`): the pruned
layer has fewer crossbar columns and neurons, the next layer fewer rows (``hardware.mapping``).
Spike rates measured on the masked network count the masked channels as silent; the cost model
wants rates over the kept rows, which :func:`kept_channel_activity` converts to.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, cast

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware.layers import LayerActivity, LayerSpec
from mdsnn_search.hardware.mapping import kept_channels
from mdsnn_search.precision import matches_layer


def kept_count(keep_ratio: float, channels: int) -> int:
    """Channels a layer of ``channels`` keeps: ``max(1, round(r * C))``, halves up (as the cost
    model)."""
    return max(1, math.floor(keep_ratio * channels + 0.5))


class PruningConfig(BaseModel):
    """Keep ratio per spiking layer: a default and overrides by exact name or fnmatch pattern."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_ratio: float = Field(
        1.0, gt=0.0, le=1.0, description="fraction of output channels every spiking layer keeps"
    )
    layers: dict[str, float] = Field(
        default_factory=dict,
        description="per-layer keep ratios by name or pattern (later keys win)",
    )
    score_batches: int = Field(
        4, ge=1, description="training batches the membrane statistics are taken on"
    )

    @field_validator("layers")
    @classmethod
    def _ratios_in_range(cls, layers: dict[str, float]) -> dict[str, float]:
        bad = {name: r for name, r in layers.items() if not 0.0 < r <= 1.0}
        if bad:
            raise ValueError(f"keep ratios must lie in (0, 1], but got {bad}")
        return layers

    @property
    def active(self) -> bool:
        """Whether any layer can be pruned (a ratio below 1 anywhere)."""
        return self.keep_ratio < 1.0 or any(r < 1.0 for r in self.layers.values())

    def for_layer(self, name: str) -> float:
        ratio = self.keep_ratio
        for pattern, value in self.layers.items():
            if matches_layer(name, pattern):
                ratio = value
        return ratio

    def unmatched_patterns(self, layer_names: Iterable[str]) -> list[str]:
        names = list(layer_names)
        return [p for p in self.layers if not any(matches_layer(n, p) for n in names)]


class ChannelMask(nn.Module):
    """Multiplies ``[T, B, C, ...]`` (``channel_dim`` 2, or [B, C, ...] with 1) by a 0/1 mask over
    C.

    The mask is open (all ones) until :func:`prune_channels_` sets it.
    """

    mask: torch.Tensor

    def __init__(self, channels: int, keep_ratio: float) -> None:
        super().__init__()
        self.keep_ratio = keep_ratio
        self.register_buffer("mask", torch.ones(channels))

    @property
    def kept(self) -> int:
        return int(self.mask.sum())

    def forward(self, x: torch.Tensor, channel_dim: int = 2) -> torch.Tensor:
        shape = (self.mask.numel(),) + (1,) * (x.dim() - channel_dim - 1)
        return x * self.mask.view(shape)

    def extra_repr(self) -> str:
        return f"channels={self.mask.numel()}, keep_ratio={self.keep_ratio}, kept={self.kept}"


def add_channel_masks_(model: nn.Module, pruning: PruningConfig) -> None:
    """Give every spiking layer of ``model`` whose keep ratio is below 1 an open channel mask
    (:func:`prune_channels_` closes it), in place; a layer at ratio 1 loses any it had.

    Spiking layers are neurons carrying a ``layer_name`` and a ``channel_mask`` slot (converted
    ones, :mod:`mdsnn_search.snn.quantize`); channels are those of the weight layer of that name.
    Raises ConfigError for a pattern that matches no spiking layer, or a pruned neuron that fires
    on no weight layer.
    """
    # Any: torch types a module's attributes as Tensor | Module, and a mask slot also holds None.
    neurons: dict[str, Any] = {
        str(m.layer_name): m
        for m in model.modules()
        if hasattr(m, "channel_mask") and hasattr(m, "layer_name")
    }
    unmatched = pruning.unmatched_patterns(neurons)
    if unmatched:
        raise ConfigError(
            f"pruning.layers: {unmatched[0]!r} matches no spiking layer "
            f"(spiking layers: {', '.join(neurons)})"
        )
    channels = {
        str(m.layer_name): int(m.out_channels)  # type: ignore[arg-type]
        for m in model.modules()
        if hasattr(m, "layer_name") and hasattr(m, "out_channels")
    }
    for name, node in neurons.items():
        keep_ratio = pruning.for_layer(name)
        if keep_ratio >= 1.0:
            node.channel_mask = None
            continue
        if name not in channels:
            raise ConfigError(f"pruning: spiking layer {name!r} fires on no weight layer")
        node.channel_mask = ChannelMask(channels[name], keep_ratio)


class MaskedNeuron(Protocol):
    """What pruning needs of a neuron with a channel mask (the neuron module imports this one)."""

    layer_name: str
    channel_mask: ChannelMask
    record_membrane: bool
    h_seq: torch.Tensor | None


def _masked_neurons(model: nn.Module) -> dict[str, MaskedNeuron]:
    """Neurons carrying a channel mask, by the name of the layer they fire on."""
    nodes = [
        cast(MaskedNeuron, module)
        for module in model.modules()
        if isinstance(getattr(module, "channel_mask", None), ChannelMask)
    ]
    return {node.layer_name: node for node in nodes}


def _masks(model: nn.Module) -> dict[str, ChannelMask]:
    return {name: node.channel_mask for name, node in _masked_neurons(model).items()}


def channel_scores(h_seq: torch.Tensor) -> torch.Tensor:
    """Per-channel sum over (t, sample) of the spatial max of max(H, 0); ``h_seq`` is [T, B, C,
    ...]."""
    positive = h_seq.detach().clamp_min(0.0)
    if positive.dim() > 3:
        positive = positive.flatten(3).amax(3)
    return positive.sum((0, 1))


@torch.no_grad()
def channel_order(model: nn.Module, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every masked layer's channels, best-scoring first (:func:`channel_scores` averaged over
    ``batches``, ties in channel order): the first ``kept_count(r, C)`` are what a layer at keep
    ratio r keeps, so every ratio keeps a prefix of one order.

    ``batches`` are input sequences ``[T, B, ...]`` (training data, already on the model's device);
    the model runs in evaluation mode with its masks open, which stay open afterwards.
    """
    nodes = _masked_neurons(model)
    if not nodes:
        return {}
    masks: dict[str, ChannelMask] = {name: node.channel_mask for name, node in nodes.items()}
    sums = {name: torch.zeros_like(mask.mask) for name, mask in masks.items()}
    counts = dict.fromkeys(masks, 0)
    was_training = model.training
    previous = {name: node.record_membrane for name, node in nodes.items()}
    model.eval()
    try:
        for mask in masks.values():
            mask.mask.fill_(1.0)
        for node in nodes.values():
            node.record_membrane = True
        for x_seq in batches:
            model(x_seq)
            for name, node in nodes.items():
                assert node.h_seq is not None
                sums[name] += channel_scores(node.h_seq)
                counts[name] += node.h_seq.shape[0] * node.h_seq.shape[1]
                node.h_seq = None
    finally:
        for name, node in nodes.items():
            node.record_membrane = previous[name]
            node.h_seq = None
        model.train(was_training)
    if not any(counts.values()):
        raise ValueError("pruning needs at least one batch to score the channels on")
    return {
        name: torch.argsort(sums[name] / max(counts[name], 1), descending=True, stable=True)
        for name in masks
    }


def close_mask_(mask: ChannelMask, order: torch.Tensor) -> int:
    """Keep the first ``kept_count(mask.keep_ratio, C)`` channels of ``order``; returns that
    count."""
    keep = kept_count(mask.keep_ratio, mask.mask.numel())
    mask.mask.zero_().index_fill_(0, order[:keep].to(mask.mask.device), 1.0)
    return keep


@torch.no_grad()
def prune_channels_(model: nn.Module, batches: Iterable[torch.Tensor]) -> dict[str, int]:
    """Score and mask every masked layer of ``model`` in place; returns the kept count per layer.

    ``batches`` are input sequences ``[T, B, ...]`` (training data, already on the model's device).
    Masks are opened first, so pruning again re-scores from scratch. Nothing to prune: no pass.
    """
    masks = _masks(model)
    orders = channel_order(model, batches)
    return {name: close_mask_(masks[name], order) for name, order in orders.items()}


def kept_counts(model: nn.Module) -> dict[str, int]:
    """Kept output channels per masked layer (what a job reports as ``kept_channels``)."""
    return {name: mask.kept for name, mask in _masks(model).items()}


def kept_fractions(model: nn.Module) -> dict[str, float]:
    """Kept share of output channels per masked layer, as ``estimate_cost``'s ``keep_fraction``."""
    return {name: mask.kept / mask.mask.numel() for name, mask in _masks(model).items()}


def kept_channel_activity(
    table: Sequence[LayerSpec],
    activity: Mapping[str, LayerActivity],
    keep_fraction: Mapping[str, float],
) -> dict[str, LayerActivity]:
    """Spike rates over the kept channels, from rates measured over every channel of a masked
    network.

    A masked channel is silent, so a rate measured over C channels is the kept rate times
    kept / C. The kept input and output channels are the cost model's own (``kept_channels``), so
    the rows the cost model removes are exactly those the conversion stops counting.
    """
    channels = kept_channels(list(table), keep_fraction)
    converted = {}
    for spec, (c_in, c_out) in zip(table, channels, strict=True):
        rates = activity.get(spec.name)
        if rates is None:
            continue
        output_rate = (
            _over_kept(rates.output_rate, spec.c_out, c_out) if spec.spiking else rates.output_rate
        )
        converted[spec.name] = LayerActivity(
            input_rate=_over_kept(rates.input_rate, spec.c_in, c_in), output_rate=output_rate
        )
    return converted


def kept_input_rates(
    table: Sequence[LayerSpec], input_rates: Mapping[str, float], keep_fraction: Mapping[str, float]
) -> dict[str, float]:
    """Input spike rates over the kept rows (:func:`kept_channel_activity`'s input half), for a
    caller that measured input rates only (the one-shot proxy)."""
    channels = kept_channels(list(table), keep_fraction)
    return {
        spec.name: _over_kept(input_rates[spec.name], spec.c_in, c_in)
        for spec, (c_in, _) in zip(table, channels, strict=True)
        if spec.name in input_rates
    }


def _over_kept(rate: float, channels: int, kept: int) -> float:
    """A rate over ``channels`` channels, ``channels - kept`` of them silent, over the kept ones."""
    return min(1.0, rate * channels / kept)
