"""Spiking networks (registered architectures or a user's factory) and the layer table the cost
model reads."""

from mdsnn_search.snn.models import resnet, vgg  # noqa: F401  (register the architectures)
from mdsnn_search.snn.models.layer_table import arch_layer_table, layer_table, model_layer_table
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.models.registry import (
    MODELS,
    build_fp_model,
    build_model,
    register_model,
    student_from_teacher,
)

__all__ = [
    "MODELS",
    "SpikingNetwork",
    "arch_layer_table",
    "build_fp_model",
    "build_model",
    "layer_table",
    "model_layer_table",
    "register_model",
    "student_from_teacher",
]
