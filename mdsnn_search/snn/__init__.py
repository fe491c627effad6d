"""Quantized spiking networks: quantizers, the quantized LIF neuron, layers and model builders."""

from mdsnn_search.snn.config import ModelConfig, QuantConfig
from mdsnn_search.snn.models import (
    MODELS,
    SpikingNetwork,
    arch_layer_table,
    build_fp_model,
    build_model,
    layer_table,
    model_layer_table,
    student_from_teacher,
)
from mdsnn_search.snn.neuron import NeuronConfig, QuantLIFNode
from mdsnn_search.snn.quantize import quantize_

__all__ = [
    "MODELS",
    "ModelConfig",
    "NeuronConfig",
    "QuantConfig",
    "QuantLIFNode",
    "SpikingNetwork",
    "arch_layer_table",
    "build_fp_model",
    "build_model",
    "layer_table",
    "model_layer_table",
    "quantize_",
    "student_from_teacher",
]
