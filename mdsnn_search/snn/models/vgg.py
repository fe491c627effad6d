"""Spiking VGG: [conv-BN-LIF]* with max pooling, then a linear classifier on the time axis.

Max pooling keeps the next layer's input binary (spikes), as a crossbar wants. Layers are named
``conv1..convN`` and ``fc``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from spikingjelly.activation_based import layer
from torch import nn

from mdsnn_search.errors import ConfigError
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.factory import LayerFactory
from mdsnn_search.snn.layers import QuantLinear
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.models.registry import register_model

POOL = "P"

VGG_CONFIGS: dict[str, list[int | str]] = {
    # Small enough to train on digits (8x8) in seconds on a CPU.
    "vgg5": [32, 64, POOL, 128, 128, POOL],
    # SpQuant-SNN's VGG9 (N-Caltech101, DVS-CIFAR10).
    "vgg9": [64, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL],
    # SpikeSim's VGG9 (its ELA example, ela_spikesim.py at c2627bc): the same seven convs;
    # SpikeSim's two-layer head is our one classifier (its example costs the convs only).
    "vgg9_spikesim": [64, 64, POOL, 128, 128, POOL, 256, 256, 256, POOL],
    "vgg11": [64, POOL, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL],
    "vgg16": [
        64,
        64,
        POOL,
        128,
        128,
        POOL,
        256,
        256,
        256,
        POOL,
        512,
        512,
        512,
        POOL,
        512,
        512,
        512,
        POOL,
    ],
}


class SpikingVGG(SpikingNetwork):
    def __init__(
        self,
        config: ModelConfig,
        input_shape: tuple[int, int, int],
        num_classes: int,
        features: nn.Sequential,
        classifier: QuantLinear,
    ) -> None:
        super().__init__(config, input_shape, num_classes)
        self.features = features
        self.classifier = classifier

    def forward_seq(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x_seq).flatten(2))


def _spiking_vgg(
    name: str, factory: LayerFactory, input_shape: tuple[int, int, int], num_classes: int
) -> SpikingVGG:
    channels, height, width = input_shape
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    conv_index = pool_index = 0
    for item in VGG_CONFIGS[name]:
        if item == POOL:
            if min(height, width) < 2:
                raise ConfigError(
                    f"model: input {input_shape} is too small for {name} (pooling below 1x1)"
                )
            pool_index += 1
            stages[f"pool{pool_index}"] = layer.MaxPool2d(2, step_mode="m")
            height, width = height // 2, width // 2
            continue
        conv_index += 1
        out = factory.channels(int(item))
        stages[f"conv{conv_index}"] = factory.conv_bn(f"conv{conv_index}", channels, out)
        stages[f"lif{conv_index}"] = factory.neuron(f"conv{conv_index}")
        channels = out
    classifier = factory.linear("fc", channels * height * width, num_classes)
    return SpikingVGG(factory.config, input_shape, num_classes, nn.Sequential(stages), classifier)


@register_model("vgg5")
def vgg5(factory: LayerFactory, input_shape: tuple[int, int, int], num_classes: int) -> SpikingVGG:
    return _spiking_vgg("vgg5", factory, input_shape, num_classes)


@register_model("vgg9")
def vgg9(factory: LayerFactory, input_shape: tuple[int, int, int], num_classes: int) -> SpikingVGG:
    return _spiking_vgg("vgg9", factory, input_shape, num_classes)


@register_model("vgg9_spikesim")
def vgg9_spikesim(
    factory: LayerFactory, input_shape: tuple[int, int, int], num_classes: int
) -> SpikingVGG:
    return _spiking_vgg("vgg9_spikesim", factory, input_shape, num_classes)


@register_model("vgg11")
def vgg11(factory: LayerFactory, input_shape: tuple[int, int, int], num_classes: int) -> SpikingVGG:
    return _spiking_vgg("vgg11", factory, input_shape, num_classes)


@register_model("vgg16")
def vgg16(factory: LayerFactory, input_shape: tuple[int, int, int], num_classes: int) -> SpikingVGG:
    return _spiking_vgg("vgg16", factory, input_shape, num_classes)
