"""The layer table of a built network, for the crossbar cost model.

Geometry is read off one dry forward pass (T=1, B=1) with hooks, so every architecture, present or
future, gets a correct table without describing its shapes twice.
"""

from __future__ import annotations

import torch

from mdsnn_search.hardware.layers import LayerSpec
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.layers import QuantConvBN2d
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.models.registry import build_model


def layer_table(model: SpikingNetwork) -> list[LayerSpec]:
    """One :class:`LayerSpec` per weight layer, in forward order, with real conv output sides."""
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    hooks = [
        layer.register_forward_hook(
            lambda module, args, output, name=name: shapes.__setitem__(name, (tuple(args[0].shape), tuple(output.shape)))
        )
        for name, layer in model.weight_layers().items()
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 1, *model.input_shape))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    spiking = set(model.neurons())
    table = []
    for name, layer in model.weight_layers().items():
        in_shape, out_shape = shapes[name]
        is_conv = isinstance(layer, QuantConvBN2d)
        table.append(
            LayerSpec(
                name=name,
                c_in=layer.in_channels,
                c_out=layer.out_channels,
                kernel=layer.kernel_size,
                h_in=in_shape[3] if is_conv else 1,
                w_in=in_shape[4] if is_conv else 1,
                h_out=out_shape[3] if is_conv else 1,
                w_out=out_shape[4] if is_conv else 1,
                spiking=name in spiking,
                kind="conv" if is_conv else "linear",
            )
        )
    return table


def arch_layer_table(
    arch: str, input_shape: tuple[int, int, int], num_classes: int, *, width: float = 1.0
) -> list[LayerSpec]:
    """Layer table of a registered architecture, built at full precision."""
    model = build_model(ModelConfig(arch=arch, width=width), input_shape, num_classes)
    return layer_table(model)
