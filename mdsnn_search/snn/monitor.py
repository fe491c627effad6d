"""Counting spikes: per-layer firing rates, input activity and spikes per sample.

Hooks add into tensors on the model's device, so monitoring a batch costs no host sync; the rates
are read out once at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import torch

from mdsnn_search.hardware.layers import LayerActivity
from mdsnn_search.snn.models.network import SpikingNetwork


class SpikeMonitor(ExitStack):
    """Context manager recording, over every forward pass inside it:

    - ``firing_rates``: per spiking layer, spikes / (neurons x timesteps x samples);
    - ``input_rates``: per weight layer, the fraction of nonzero inputs (the crossbar rows driven);
    - ``spikes_per_sample``: all spikes of all layers over all timesteps, per input sample.
    """

    def __init__(self, model: SpikingNetwork) -> None:
        super().__init__()
        self.model = model
        self._spikes: dict[str, torch.Tensor] = {}
        self._neuron_slots: dict[str, int] = {}
        self._active_inputs: dict[str, torch.Tensor] = {}
        self._input_slots: dict[str, int] = {}
        self.samples = 0

    def __enter__(self) -> SpikeMonitor:
        super().__enter__()
        for name, node in self.model.neurons().items():
            self.enter_context(node.register_forward_hook(self._count_spikes(name)))
        for name, layer in self.model.weight_layers().items():
            self.enter_context(layer.register_forward_pre_hook(self._count_inputs(name)))
        self.enter_context(self.model.register_forward_pre_hook(self._count_samples))
        return self

    def _count_samples(self, module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        self.samples += int(args[0].shape[1])

    def _count_spikes(self, name: str) -> Callable[[torch.nn.Module, Any, torch.Tensor], None]:
        def hook(
            module: torch.nn.Module, args: tuple[torch.Tensor, ...], spikes: torch.Tensor
        ) -> None:
            total = spikes.detach().sum()
            self._spikes[name] = self._spikes.get(name, 0) + total
            self._neuron_slots[name] = self._neuron_slots.get(name, 0) + spikes.numel()

        return hook

    def _count_inputs(self, name: str) -> Callable[[torch.nn.Module, Any], None]:
        def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            x = args[0].detach()
            self._active_inputs[name] = self._active_inputs.get(name, 0) + (x != 0).sum()
            self._input_slots[name] = self._input_slots.get(name, 0) + x.numel()

        return hook

    @property
    def firing_rates(self) -> dict[str, float]:
        return {n: float(s) / max(self._neuron_slots[n], 1) for n, s in self._spikes.items()}

    @property
    def input_rates(self) -> dict[str, float]:
        return {n: float(a) / max(self._input_slots[n], 1) for n, a in self._active_inputs.items()}

    @property
    def spikes_per_sample(self) -> float:
        return float(sum(float(s) for s in self._spikes.values())) / max(self.samples, 1)

    def layer_activity(self) -> dict[str, LayerActivity]:
        return layer_activity(self.input_rates, self.firing_rates)


def layer_activity(
    input_rates: dict[str, float], firing_rates: dict[str, float]
) -> dict[str, LayerActivity]:
    """Measured activity per weight layer, as the cost model's event mode wants it.

    A layer without a neuron of its own (classifier, ResNet shortcut) reports output rate 1.
    """
    return {
        name: LayerActivity(input_rate=rate, output_rate=firing_rates.get(name, 1.0))
        for name, rate in input_rates.items()
    }
