"""The layer table of a built network, for the crossbar cost model.

Geometry is read off one dry forward pass (T=1, B=1) with hooks, so every architecture, present or
future, gets a correct table without describing its shapes twice. Pooling modules are hooked too:
a pooling module's factor is recorded on the weight layer that ran last before it (the layer whose
spikes it pools), which SpikeSim's "side after pooling" convention needs. Pooling that is not a
module (a ResNet's global mean) is left unstated, and the cost model infers it from the next layer.
"""

from __future__ import annotations

import torch
from torch import nn

from mdsnn_search.hardware.layers import LayerSpec
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.layers import QuantConvBN2d
from mdsnn_search.snn.models.registry import build_fp_model
from mdsnn_search.snn.quantize import spiking_neurons, weight_layers

_POOLING = (nn.MaxPool2d, nn.AvgPool2d)


def layer_table(model: nn.Module, example_input: torch.Tensor | None = None) -> list[LayerSpec]:
    """One :class:`LayerSpec` per weight layer of a converted ``model`` (any network
    ``quantize_`` converted), in forward order, with real conv output sides and the factor of the
    pooling module that follows it, if any. The dry pass runs on ``example_input``, or on zeros
    of ``[1, 1, *model.input_shape]``."""
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    pools: dict[str, int] = {}
    last_layer: str | None = None

    def record_layer(name: str, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal last_layer
        shapes[name] = (tuple(args[0].shape), tuple(output.shape))
        last_layer = name

    def record_pool(args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if (
            last_layer is not None
        ):  # [T, B, C, H, W] in and out: the factor is the ratio of the sides
            pools[last_layer] = args[0].shape[-2] // output.shape[-2]

    hooks = [
        layer.register_forward_hook(
            lambda module, args, output, name=name: record_layer(name, args, output)
        )
        for name, layer in weight_layers(model).items()
    ]
    hooks += [
        module.register_forward_hook(lambda module, args, output: record_pool(args, output))
        for module in model.modules()
        if isinstance(module, _POOLING)
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(
                example_input
                if example_input is not None
                else torch.zeros(1, 1, *model.input_shape)  # type: ignore[misc]
            )
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    spiking = set(spiking_neurons(model))
    layers = weight_layers(model)
    table = []
    for name, (in_shape, out_shape) in shapes.items():  # in the order the layers ran
        layer = layers[name]
        is_conv = isinstance(layer, QuantConvBN2d)
        table.append(
            LayerSpec(
                name=name,
                c_in=layer.in_channels,
                c_out=layer.out_channels,
                kernel=layer.kernel_size,
                h_in=in_shape[-2] if is_conv else 1,
                w_in=in_shape[-1] if is_conv else 1,
                h_out=out_shape[-2] if is_conv else 1,
                w_out=out_shape[-1] if is_conv else 1,
                spiking=name in spiking,
                kind="conv" if is_conv else "linear",
                pool=pools.get(name),
            )
        )
    return table


def model_layer_table(
    config: ModelConfig, input_shape: tuple[int, int, int], num_classes: int
) -> list[LayerSpec]:
    """Layer table of ``config``'s network (registered or a factory's), built at full precision."""
    return layer_table(build_fp_model(config, input_shape, num_classes))


def arch_layer_table(
    arch: str, input_shape: tuple[int, int, int], num_classes: int, *, width: float = 1.0
) -> list[LayerSpec]:
    """Layer table of a registered architecture, built at full precision."""
    return model_layer_table(ModelConfig(arch=arch, width=width), input_shape, num_classes)
