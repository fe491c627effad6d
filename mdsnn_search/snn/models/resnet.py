"""Spiking ResNets with the standard spiking basic block (TET / SpQuant-SNN style).

Block: ``LIF(BN(conv2(LIF(BN(conv1(x))))) + shortcut(x))``; the shortcut is identity or a
1x1 conv-BN when the shape changes, and shares the block's second neuron (it owns none). Names:
``conv1`` (stem), ``layer{i}.{j}.conv1|conv2|shortcut``, ``fc1`` (ResNet-19), ``fc``.
"""

from __future__ import annotations

import torch
from torch import nn

from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.factory import LayerFactory
from mdsnn_search.snn.layers import QuantConvBN2d, QuantLinear
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.models.registry import register_model
from mdsnn_search.snn.neuron import QuantLIFNode


class SpikingBasicBlock(nn.Module):
    def __init__(
        self, factory: LayerFactory, prefix: str, c_in: int, c_out: int, stride: int
    ) -> None:
        super().__init__()
        self.conv1 = factory.conv_bn(f"{prefix}.conv1", c_in, c_out, 3, stride, 1)
        self.lif1 = factory.neuron(f"{prefix}.conv1")
        self.conv2 = factory.conv_bn(f"{prefix}.conv2", c_out, c_out, 3, 1, 1)
        self.shortcut: QuantConvBN2d | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = factory.conv_bn(f"{prefix}.shortcut", c_in, c_out, 1, stride, 0)
        self.lif2 = factory.neuron(f"{prefix}.conv2")

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.lif1(self.conv1(x_seq)))
        identity = x_seq if self.shortcut is None else self.shortcut(x_seq)
        return self.lif2(out + identity)


class SpikingResNet(SpikingNetwork):
    def __init__(
        self,
        config: ModelConfig,
        input_shape: tuple[int, int, int],
        num_classes: int,
        stem: nn.Sequential,
        stages: nn.Sequential,
        head: nn.Sequential,
    ) -> None:
        super().__init__(config, input_shape, num_classes)
        self.stem = stem
        self.stages = stages
        self.head = head

    def forward_seq(self, x_seq: torch.Tensor) -> torch.Tensor:
        features = self.stages(self.stem(x_seq))
        return self.head(features.mean(dim=(3, 4)))


def _spiking_resnet(
    factory: LayerFactory,
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    stem_channels: int,
    stage_channels: list[int],
    blocks: list[int],
    hidden_fc: int | None,
) -> SpikingResNet:
    c = factory.channels(stem_channels)
    stem = nn.Sequential(factory.conv_bn("conv1", input_shape[0], c), factory.neuron("conv1"))
    stages: list[nn.Module] = []
    for i, (width, count) in enumerate(zip(stage_channels, blocks, strict=True), start=1):
        out = factory.channels(width)
        for j in range(count):
            stride = 2 if (j == 0 and i > 1) else 1
            stages.append(SpikingBasicBlock(factory, f"layer{i}.{j}", c, out, stride))
            c = out
    head_layers: list[QuantLinear | QuantLIFNode] = []
    if hidden_fc is not None:
        hidden = factory.channels(hidden_fc)
        head_layers += [factory.linear("fc1", c, hidden), factory.neuron("fc1")]
        c = hidden
    head_layers.append(factory.linear("fc", c, num_classes))
    return SpikingResNet(
        factory.config,
        input_shape,
        num_classes,
        stem,
        nn.Sequential(*stages),
        nn.Sequential(*head_layers),
    )


@register_model("resnet18")
def resnet18(
    factory: LayerFactory, input_shape: tuple[int, int, int], num_classes: int
) -> SpikingResNet:
    """ResNet-18 layout (64-128-256-512, 2 blocks each), the depth of MD-SNN's backbone."""
    return _spiking_resnet(
        factory,
        input_shape,
        num_classes,
        stem_channels=64,
        stage_channels=[64, 128, 256, 512],
        blocks=[2, 2, 2, 2],
        hidden_fc=None,
    )


@register_model("resnet19")
def resnet19(
    factory: LayerFactory, input_shape: tuple[int, int, int], num_classes: int
) -> SpikingResNet:
    """ResNet-19 (TET, SpQuant-SNN on CIFAR): 128-256-512 with 3-3-2 blocks and a 256 hidden FC."""
    return _spiking_resnet(
        factory,
        input_shape,
        num_classes,
        stem_channels=128,
        stage_channels=[128, 256, 512],
        blocks=[3, 3, 2],
        hidden_fc=256,
    )
