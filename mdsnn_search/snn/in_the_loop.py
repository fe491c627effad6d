"""Putting the crossbar in the loop: each costed weight layer gets the mapping the cost model uses.

Which layers are mapped, and which are refused with the reason (never silently left ideal), is
decided here; how a mapped layer computes is :mod:`mdsnn_search.snn.crossbar`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware.layers import LayerSpec
from mdsnn_search.hardware.mapping import crossbar_reads
from mdsnn_search.hardware.preset import MAX_ADC_BITS, HardwarePreset, load_preset, with_adc_bits
from mdsnn_search.precision import is_full_precision
from mdsnn_search.snn.crossbar import AdcRange, CrossbarADC
from mdsnn_search.snn.layers import QuantConvBN2d, WeightLayer
from mdsnn_search.snn.pruning import ChannelMask
from mdsnn_search.snn.quantize import weight_layers

EncodingLayer = Literal["digital", "mapped"]


class CrossbarLoopConfig(BaseModel):
    """A job's crossbar in the loop: its student trains and is evaluated as ``preset`` maps it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str = Field("rram_64", description="hardware preset name or file whose mapping to use")
    adc_bits: int | None = Field(
        None, ge=1, le=MAX_ADC_BITS, description="ADC resolution; None: the preset's adc.bits"
    )
    adc_range: AdcRange = Field(
        "calibrated",
        description="calibrated: each slice's range is the largest partial sum of the first "
        "batch; full: rows x (2^slice bits - 1)",
    )
    encoding_layer: EncodingLayer = Field(
        "digital",
        description="digital: the first layer, which reads the encoded input (not spikes), is "
        "computed exactly; mapped: it is mapped too (needs spike input, e.g. Poisson encoding)",
    )

    def hardware(self) -> HardwarePreset:
        preset = load_preset(self.preset)
        return preset if self.adc_bits is None else with_adc_bits(preset, self.adc_bits)


def put_crossbar_in_loop_for(
    model: nn.Module, table: list[LayerSpec], config: CrossbarLoopConfig
) -> list[str]:
    """:func:`put_crossbar_in_loop_` as ``config`` asks; returns the mapped layers' names."""
    skip = (table[0].name,) if config.encoding_layer == "digital" and table else ()
    return put_crossbar_in_loop_(
        model, table, config.hardware(), adc_range=config.adc_range, skip=skip
    )


def put_crossbar_in_loop_(
    model: nn.Module,
    table: list[LayerSpec],
    preset: HardwarePreset,
    *,
    adc_range: AdcRange = "calibrated",
    skip: tuple[str, ...] = (),
) -> list[str]:
    """Give every costed weight layer of ``model`` its crossbar mapping; returns their names.

    The layers the preset does not cost (linear ones when ``include_linear`` is off) are computed
    digitally, as the cost model charges them; ``skip`` names layers kept off the crossbars (the
    encoding layer, whose input is not spikes). Raises ConfigError, with the reason, for a layer
    the mapped pass cannot follow: full-precision or unquantized weights, grouped convolutions,
    pruned channels.
    """
    if any(isinstance(m, ChannelMask) and m.keep_ratio < 1.0 for m in model.modules()):
        raise ConfigError(
            "crossbar in the loop: the model is pruned; the in-the-loop pass maps unpruned "
            "layers only (keep_ratio 1)"
        )
    layers = weight_layers(model)
    mapped: list[str] = []
    for spec in table:
        if spec.name in skip or (spec.kind == "linear" and not preset.conventions.include_linear):
            continue
        layer = layers.get(spec.name)
        if layer is None:
            raise ConfigError(f"crossbar in the loop: the model has no layer {spec.name!r}")
        reason = _cannot_map(layer)
        if reason:
            raise ConfigError(f"crossbar in the loop: layer {spec.name!r} {reason}")
        quantizer = layer.weight_quantizer
        assert quantizer is not None
        reads = crossbar_reads(spec, spec.c_in, quantizer.bits, preset)
        layer.crossbar = CrossbarADC(
            reads,
            kernel=spec.kernel,
            w_bits=quantizer.bits,
            adc_range=adc_range,
            variation_sigma=preset.crossbar.variation_sigma,
        ).to(next(layer.parameters()).device)
        mapped.append(spec.name)
    return mapped


def _cannot_map(layer: WeightLayer) -> str | None:
    quantizer = getattr(layer, "weight_quantizer", None)
    if quantizer is None or is_full_precision(quantizer.bits):
        return "has full-precision weights: a crossbar stores integer weight levels"
    if isinstance(layer, QuantConvBN2d) and layer.conv.groups != 1:
        return "is a grouped convolution, which the crossbar mapping does not describe"
    return None


def draw_variation_(model: nn.Module, seed: int, sigma: float | None = None) -> None:
    """A new draw of every mapped layer's device variation (layer i from seed x 1000 + i), at
    ``sigma`` if given (0: nominal cells), else at the preset's."""
    adcs = [m for m in model.modules() if isinstance(m, CrossbarADC)]
    for i, adc in enumerate(adcs):
        if sigma is not None:
            adc.variation_sigma = sigma
        adc.draw_variation_(seed * 1000 + i)
