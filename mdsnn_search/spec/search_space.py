"""The spec's ``search_space`` section: the choices a search offers each trial's student.

:mod:`mdsnn_search.spec.space` turns it into Optuna distributions (one define-by-run function for
searched trials and baselines alike).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mdsnn_search.distill import MembraneNorm
from mdsnn_search.hardware.preset import MAX_ADC_BITS
from mdsnn_search.precision import MAX_INTEGER_LEVELS, BitWidth, LayerPrecisionOverride

_STRICT = ConfigDict(extra="forbid", frozen=True)
Bits = BitWidth


class FloatRange(BaseModel):
    model_config = _STRICT

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if not self.low <= self.high:
            raise ValueError(f"low <= high must hold, but got (low={self.low}, high={self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, but got low={self.low}")
        return self


FloatDimension = float | Annotated[list[float], Field(min_length=1)] | FloatRange
"""A fixed value, a list of choices, or a ``{low, high, log}`` range."""


class SearchSpaceConfig(BaseModel):
    """What the sampler chooses for each trial's student."""

    model_config = _STRICT

    w_bits: list[Bits] = Field(
        default_factory=lambda: [2, 4, 8], min_length=1, description="weight bit choices"
    )
    u_bits: list[Bits] = Field(
        default_factory=lambda: [2, 4, 8], min_length=1, description="membrane bit choices"
    )
    bn_bits: list[Bits] = Field(
        default_factory=lambda: [8],
        min_length=1,
        description="folded-BN bit choices (32 = float BN)",
    )
    tie_layers: bool = Field(
        False, description="one choice of each bit-width for all searched layers"
    )
    fixed_layers: dict[str, LayerPrecisionOverride] = Field(
        default_factory=dict,
        description="layers (names or patterns) kept at a given precision, not searched, e.g. the "
        "encoding layer",
    )
    distill_layers: Literal["search", "all", "none"] | list[str] = Field(
        "search",
        description="search: one include flag per spiking layer; all/none; or a fixed list",
    )
    membrane_weight: FloatDimension = FloatRange(low=0.1, high=10.0, log=True)
    membrane_norm: MembraneNorm = "teacher_power"
    kd_weight: FloatDimension = FloatRange(low=0.0, high=2.0)
    teacher_temperature: FloatDimension = FloatRange(low=1.0, high=8.0)
    student_temperature: FloatDimension = FloatRange(low=1.0, high=8.0)
    spike_weight: FloatDimension = 0.0
    init_from_teacher: bool = True
    # SpQuant-SNN's dimensions (docs/spquant.md); the defaults search none of them.
    u_levels: list[Annotated[int, Field(ge=2, le=MAX_INTEGER_LEVELS)]] = Field(
        default_factory=list,
        description="integer-membrane level counts offered beside u_bits (3: ternary, 5: -3..1); "
        "[] = none",
    )
    keep_ratio: list[Annotated[float, Field(gt=0.0, le=1.0)]] = Field(
        default_factory=lambda: [1.0],
        min_length=1,
        description="kept-channel ratio choices per spiking layer",
    )
    learnable_threshold: list[bool] = Field(
        default_factory=lambda: [False],
        min_length=1,
        description="[false, true] searches LT-SNN thresholds",
    )
    timesteps: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list,
        description="student T_s choices, each at most data.timesteps; [] = the data's T",
    )
    adc_bits: list[Annotated[int, Field(ge=1, le=MAX_ADC_BITS)]] = Field(
        default_factory=list,
        description="ADC resolution choices, one for all layers (needs hardware.in_the_loop); "
        "[] = the preset's adc.bits",
    )

    @model_validator(mode="after")
    def _distinct_choices(self) -> SearchSpaceConfig:
        for field in (
            "w_bits",
            "u_bits",
            "bn_bits",
            "u_levels",
            "keep_ratio",
            "learnable_threshold",
            "timesteps",
            "adc_bits",
        ):
            values = getattr(self, field)
            if len(set(values)) != len(values):
                raise ValueError(f"{field}: choices must be distinct, but got {values}")
        return self
