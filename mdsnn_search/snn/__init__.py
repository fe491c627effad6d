"""Quantized spiking networks: quantizers, the quantized LIF neuron, layers and model builders."""

from mdsnn_search.snn.config import ModelConfig, QuantConfig
from mdsnn_search.snn.models import (
    MODELS,
    SpikingNetwork,
    arch_layer_table,
    build_model,
    layer_table,
)
from mdsnn_search.snn.neuron import NeuronConfig, QuantLIFNode

__all__ = [
    "MODELS",
    "ModelConfig",
    "NeuronConfig",
    "QuantConfig",
    "QuantLIFNode",
    "SpikingNetwork",
    "arch_layer_table",
    "build_model",
    "layer_table",
]
