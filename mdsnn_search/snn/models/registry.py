"""Architectures registered by name (timm style): ``build_model(config, input_shape, classes)``."""

from __future__ import annotations

from typing import Protocol

from mdsnn_search.registry import Registry
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.factory import LayerFactory
from mdsnn_search.snn.models.network import SpikingNetwork


class ModelBuilder(Protocol):
    def __call__(
        self, factory: LayerFactory, input_shape: tuple[int, int, int], num_classes: int
    ) -> SpikingNetwork: ...


MODELS: Registry[ModelBuilder] = Registry("architecture")
register_model = MODELS.register


def build_model(
    config: ModelConfig, input_shape: tuple[int, int, int], num_classes: int
) -> SpikingNetwork:
    """Build ``config.arch`` for inputs (C, H, W) and ``num_classes`` outputs.

    Raises ConfigError for an unknown architecture, an input too small for it, or a precision
    override that names no layer.
    """
    builder = MODELS.get(config.arch)
    factory = LayerFactory(config)
    channels, height, width = input_shape
    model = builder(factory, (channels, height, width), num_classes)
    factory.check_overrides()
    return model
