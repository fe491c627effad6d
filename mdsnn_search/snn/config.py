"""Model configuration: architecture, neuron, quantizer settings and per-layer precision.

A :class:`ModelConfig` is everything needed to rebuild a network; checkpoints store it, the search
writes it, and ``mdsnn-search train`` reads it. The FP teacher is the same config at 32 bits.
SpQuant-SNN's dimensions live here too: integer membranes in ``precision`` (``u_levels``), the
learnable threshold in ``neuron``, channel pruning in ``pruning``, and a student's own
``timesteps`` (see docs/spquant.md).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)

from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn.neuron import NeuronConfig
from mdsnn_search.snn.pruning import PruningConfig
from mdsnn_search.snn.quantizers import ScaleInit, WeightTransform
from mdsnn_search.snn.timesteps import FrameMerge


class QuantConfig(BaseModel):
    """How quantized layers quantize (the bit-widths themselves are in :class:`PrecisionConfig`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weight_transform: WeightTransform = Field(
        "clamp", description="clamp: LSQ's clamp(w/alpha); tanh: MINT's clamp(tanh(w)/alpha)"
    )
    scale_init: ScaleInit = Field(
        "mse",
        description="initial clipping range: mse, the least-error fraction of max|W|; "
        "or sawb (fitted at 4/8 bits; mse otherwise)",
    )
    share_scale: bool = Field(
        False, description="membrane quantizer reuses the layer's weight scale (MINT)"
    )


FactoryRef = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", strip_whitespace=True)
]
"""``package.module:function``: an importable function building a full-precision network."""


class ModelConfig(BaseModel):
    """A spiking network: a registered architecture or a user's factory, plus its settings.

    ``factory`` names a function ``f(input_shape, num_classes, **kwargs)`` returning the
    full-precision network (spikingjelly or torch conv/linear + BN + LIF layers, multi-step:
    ``[T, B, C, H, W]`` in, per-timestep logits ``[T, B, classes]`` out); its neuron settings are
    its own, so ``neuron`` sets only ``learnable_threshold`` for it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: str | None = Field(None, description="registered architecture, e.g. vgg5, vgg9, resnet19")
    factory: FactoryRef | None = Field(
        None, description="package.module:function returning the full-precision network"
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments of the factory"
    )
    width: float = Field(1.0, gt=0.0, description="channel-width multiplier (registered archs)")
    neuron: NeuronConfig = NeuronConfig()
    quant: QuantConfig = QuantConfig()
    precision: PrecisionConfig = PrecisionConfig()
    pruning: PruningConfig = PruningConfig()
    timesteps: int | None = Field(
        None,
        ge=1,
        description="T_s the network runs for; None: as many as the input has (a student below its "
        "teacher's T takes frame_merge of the input's frames)",
    )
    frame_merge: FrameMerge = Field(
        "first",
        description="with fewer timesteps than the input: "
        "first (direct/Poisson coding) or mean (events)",
    )

    @model_validator(mode="after")
    def _one_network(self) -> ModelConfig:
        if (self.arch is None) == (self.factory is None):
            raise ValueError("give either arch (a registered architecture) or factory, not both")
        if self.factory is not None:
            if self.width != 1.0:
                raise ValueError(
                    "width: applies to registered archs; pass a factory's own in kwargs"
                )
            if self.neuron.model_copy(update={"learnable_threshold": False}) != NeuronConfig():
                raise ValueError(
                    "neuron: a factory's network sets its own neurons; "
                    "only learnable_threshold applies"
                )
        elif self.kwargs:
            raise ValueError("kwargs: go with factory, not with arch")
        return self

    @model_serializer(mode="wrap")
    def _only_its_own_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A registered architecture's config dumps as it did before factories existed (so stored
        spec hashes, teacher cache keys and checkpoints stay valid); a factory's, without arch."""
        data: dict[str, Any] = handler(self)
        unused = ("factory", "kwargs") if self.factory is None else ("arch", "width")
        return {key: value for key, value in data.items() if key not in unused}

    @property
    def label(self) -> str:
        """The network in messages: its architecture or its factory."""
        return self.arch if self.arch is not None else str(self.factory)

    @property
    def file_stem(self) -> str:
        """A plain name for files of this network: the architecture, or the factory's module and
        function (``examples_my_snn_build``)."""
        return re.sub(r"\W", "_", self.label)

    def network(self) -> dict[str, Any]:
        """What determines the full-precision network's layers (a teacher's and its students'
        must agree): everything but precision, pruning, timesteps and the learnt threshold."""
        return self.model_dump(
            mode="json", include={"arch", "factory", "kwargs", "width", "neuron"}
        ) | {"neuron": self.neuron.model_copy(update={"learnable_threshold": False}).model_dump()}
