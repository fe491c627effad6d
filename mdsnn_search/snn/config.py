"""Model configuration: architecture, neuron, quantizer settings and per-layer precision.

A :class:`ModelConfig` is everything needed to rebuild a network; checkpoints store it, the search
writes it, and ``mdsnn-search train`` reads it. The FP teacher is the same config at 32 bits.
SpQuant-SNN's dimensions live here too: integer membranes in ``precision`` (``u_levels``), the
learnable threshold in ``neuron``, channel pruning in ``pruning``, and a student's own
``timesteps`` (see docs/spquant.md).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

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
        description="initial clipping range: mse, the least-error fraction of max|W|; or sawb (fitted at 4/8 bits; mse otherwise)",
    )
    share_scale: bool = Field(
        False, description="membrane quantizer reuses the layer's weight scale (MINT)"
    )


class ModelConfig(BaseModel):
    """A spiking network: registered architecture name plus its settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: str = Field(description="registered architecture, e.g. vgg5, vgg9, resnet19")
    width: float = Field(1.0, gt=0.0, description="channel-width multiplier")
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
        description="with fewer timesteps than the input: first (direct/Poisson coding) or mean (events)",
    )
