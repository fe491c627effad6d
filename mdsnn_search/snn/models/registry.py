"""Architectures registered by name (timm style), and the one path every network takes:
build at full precision, then convert (``quantize_``, channel masks, learnt thresholds).

A teacher is ``build_model`` of its config; a student starting from its teacher is
:func:`student_from_teacher`, the same conversion applied to a copy of the teacher.
"""

from __future__ import annotations

import copy
from typing import Protocol

from mdsnn_search.errors import ConfigError
from mdsnn_search.registry import Registry
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.factory import LayerFactory
from mdsnn_search.snn.models.external import build_external
from mdsnn_search.snn.models.network import SpikingNetwork
from mdsnn_search.snn.neuron import learn_thresholds_
from mdsnn_search.snn.pruning import add_channel_masks_
from mdsnn_search.snn.quantize import quantize_


class ModelBuilder(Protocol):
    def __call__(
        self, factory: LayerFactory, input_shape: tuple[int, int, int], num_classes: int
    ) -> SpikingNetwork: ...


MODELS: Registry[ModelBuilder] = Registry("architecture")
register_model = MODELS.register


def build_fp_model(
    config: ModelConfig, input_shape: tuple[int, int, int], num_classes: int
) -> SpikingNetwork:
    """``config``'s network at full precision: a registered architecture or its factory's."""
    if config.factory is not None:
        return build_external(config, input_shape, num_classes)
    assert config.arch is not None
    return MODELS.get(config.arch)(LayerFactory(config), input_shape, num_classes)


def convert_(model: SpikingNetwork, config: ModelConfig) -> SpikingNetwork:
    """Make a full-precision ``model`` the network ``config`` describes, in place: its precision
    (fresh quantizers), channel masks and learnt thresholds. Raises ConfigError naming the
    override that matches no layer."""
    quantize_(model, config.precision, quant=config.quant)
    add_channel_masks_(model, config.pruning)
    learn_thresholds_(model, config.neuron.learnable_threshold)
    model.config = config
    return model


def build_model(
    config: ModelConfig, input_shape: tuple[int, int, int], num_classes: int
) -> SpikingNetwork:
    """Build ``config``'s network for inputs (C, H, W) and ``num_classes`` outputs.

    Raises ConfigError for an unknown architecture or factory, an input too small for it, or a
    precision or pruning override that names no layer.
    """
    return convert_(build_fp_model(config, input_shape, num_classes), config)


def student_from_teacher(teacher: SpikingNetwork, config: ModelConfig) -> SpikingNetwork:
    """A student of ``config`` starting from ``teacher``'s weights and BN statistics: a copy of
    the teacher converted to ``config`` (its quantizers fit their ranges on the first forward).
    ConfigError unless the two describe the same full-precision network."""
    if teacher.config.network() != config.network():
        raise ConfigError(
            f"cannot start a {config.label} student (width {config.width:g}) from a "
            f"{teacher.config.label} teacher (width {teacher.config.width:g}): their "
            "full-precision networks differ"
        )
    student = copy.deepcopy(teacher)
    student.train().requires_grad_(True)
    return convert_(student, config)
