"""A spiking network of your own, in a file of your own: what ``model.factory`` names.

Plain spikingjelly, nothing from mdsnn-search: a stem, residual blocks whose neuron fires on the
sum of the block's second conv and its input (MS-ResNet / SEW style), pooling and a linear head.
The search converts it with ``quantize_`` (every Conv2d+BatchNorm2d, Linear and LIFNode) and
addresses its layers by module path: ``stem.0``, ``blocks.0.conv2``, ``head``.
"""

from __future__ import annotations

import torch
from spikingjelly.activation_based import layer, neuron
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = layer.Conv2d(channels, channels, 3, padding=1, bias=False, step_mode="m")
        self.bn1 = layer.BatchNorm2d(channels, step_mode="m")
        self.lif1 = neuron.LIFNode(tau=2.0, v_reset=None, step_mode="m")
        self.conv2 = layer.Conv2d(channels, channels, 3, padding=1, bias=False, step_mode="m")
        self.bn2 = layer.BatchNorm2d(channels, step_mode="m")
        self.lif2 = neuron.LIFNode(tau=2.0, v_reset=None, step_mode="m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.lif1(self.bn1(self.conv1(x)))))
        return self.lif2(out + x)


class MySNN(nn.Module):
    """[T, B, C, H, W] in, per-timestep logits [T, B, classes] out (multi-step throughout)."""

    def __init__(
        self, input_shape: tuple[int, int, int], num_classes: int, channels: int, blocks: int
    ) -> None:
        super().__init__()
        c, h, w = input_shape
        self.stem = nn.Sequential(
            layer.Conv2d(c, channels, 3, padding=1, bias=False, step_mode="m"),
            layer.BatchNorm2d(channels, step_mode="m"),
            neuron.LIFNode(tau=2.0, v_reset=None, step_mode="m"),
        )
        self.blocks = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.pool = layer.MaxPool2d(2, step_mode="m")
        self.flatten = layer.Flatten(step_mode="m")
        self.head = layer.Linear(channels * (h // 2) * (w // 2), num_classes, step_mode="m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flatten(self.pool(self.blocks(self.stem(x)))))


def build(
    input_shape: tuple[int, int, int], num_classes: int, channels: int = 16, blocks: int = 1
) -> MySNN:
    """The factory: the data's input shape and class count in, a full-precision network out."""
    return MySNN(input_shape, num_classes, channels, blocks)
