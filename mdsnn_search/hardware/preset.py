"""Hardware presets: one crossbar design point as a validated, frozen config.

A preset is a YAML file: shipped ones are package data (``mdsnn_search/hardware/presets/``, read
with :mod:`importlib.resources`, so an installed wheel finds them), a user's own is given by path.
It fixes the crossbar geometry, the per-component energy and area constants, which engine scores
it (``spikesim``: SpikeSim's ELA exactly; ``aware``: our precision- and activity-aware model), the
conventions a report states (output side, classifier included, dense or event activity) and the
SpikeSim quirk switches the aware model can reproduce. Every field is documented here and
commented in the shipped files.
"""

from __future__ import annotations

import functools
import math
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mdsnn_search.errors import ConfigError
from mdsnn_search.files import read_mapping
from mdsnn_search.hardware.messages import validation_message
from mdsnn_search.registry import Registry

Engine = Literal["spikesim", "aware"]
Device = Literal["rram", "sram"]
OutputSide = Literal["conv", "pooled"]
ActivityMode = Literal["dense", "event"]
TilePacking = Literal["packed", "per_layer"]

SHIPPED_PRESETS: Traversable = resources.files("mdsnn_search.hardware") / "presets"
"""Where shipped presets live: package data, found the same way in a checkout and in a wheel."""

DEFAULT_PRESET = "rram_64"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrossbarConfig(_Config):
    """Geometry of the compute fabric: crossbars in processing elements (PEs) in tiles."""

    size: int = Field(ge=8, description="rows = columns of one crossbar (B)")
    bits_per_cell: int = Field(ge=1, le=8, description="bits one device stores (b_c)")
    pe_kernel: int = Field(
        3, ge=1, description="a PE holds pe_kernel^2 crossbars, one per kernel tap"
    )
    pes_per_tile: int = Field(
        8, ge=1, description="PEs sharing one tile's buffers, H-tree and subtractors"
    )
    mux_ratio: int = Field(8, ge=1, description="columns sharing one ADC through a mux")
    clock_mhz: float = Field(250.0, gt=0, description="clock frequency")
    pe_cycle_clocks: int = Field(
        26, ge=1, description="clock cycles of one PE cycle with the ADC at adc.bits"
    )
    variation_sigma: float = Field(
        0.0,
        ge=0.0,
        le=2.0,
        description="device variation: each cell's conductance is its level x exp(N(0, sigma^2)), "
        "drawn per evaluation (crossbar in the loop only; the cost model ignores it)",
    )
    tile_packing: TilePacking = Field(
        "packed",
        description="packed: PEs of all layers fill tiles in turn (SpikeSim's code); per_layer: "
        "whole tiles",
    )

    @model_validator(mode="after")
    def _mux_divides_size(self) -> CrossbarConfig:
        if self.size % self.mux_ratio:
            raise ValueError(
                f"mux_ratio must divide size, but got (size={self.size}, "
                f"mux_ratio={self.mux_ratio})"
            )
        return self

    @property
    def adcs_per_pe(self) -> int:
        """ADCs per PE: the k^2 crossbars' column currents are summed, then B/mux_ratio ADCs
        convert."""
        return self.size // self.mux_ratio

    @property
    def clock_ns(self) -> float:
        return 1000.0 / self.clock_mhz

    @property
    def pe_cycle_ns(self) -> float:
        return self.pe_cycle_clocks * self.clock_ns


MAX_ADC_BITS = 16
"""The highest ADC resolution a preset, ``cost --adc-bits`` or ``search_space.adc_bits`` takes."""


class AdcConfig(_Config):
    """ADC resolution. Energy and area constants are given at ``reference_bits`` and scaled."""

    bits: int = Field(
        ge=1, le=MAX_ADC_BITS, description="resolution for a column of full b_c-bit cells"
    )
    reference_bits: int = Field(
        ge=1,
        le=16,
        description="resolution (and partial-sum width) the ADC and tile-buffer constants were "
        "taken at",
    )
    follow_slice_bits: bool = Field(
        False,
        description="a column of cells holding fewer than b_c weight bits is converted at fewer "
        "ADC bits",
    )
    min_bits: int = Field(
        1, ge=1, le=16, description="lowest resolution follow_slice_bits may reach"
    )
    conversion_clocks_per_bit: float = Field(
        0.5,
        gt=0,
        description="SAR conversion time per resolved bit, in clocks (conversion time is linear in "
        "bits)",
    )

    @model_validator(mode="after")
    def _min_below_bits(self) -> AdcConfig:
        if self.min_bits > self.bits:
            raise ValueError(
                f"min_bits <= bits must hold, but got (min_bits={self.min_bits}, bits={self.bits})"
            )
        return self


class EnergyConfig(_Config):
    """Energies in pJ. The first nine are SpikeSim's ELA constants (per event named below)."""

    crossbar: float = Field(ge=0, description="driving 8 rows of one crossbar, all its columns")
    adc: float = Field(ge=0, description="one ADC conversion at reference_bits")
    mux: float = Field(ge=0, description="one mux selection (one per conversion)")
    subtractor: float = Field(ge=0, description="one subtract (offset removal); 2 per conversion")
    temp_buffer: float = Field(
        ge=0, description="one temp-buffer access; one per mux_ratio conversions"
    )
    tile_buffer: float = Field(
        ge=0,
        description="moving the partial sums of one B-neuron group (reference_bits wide) through "
        "the tile buffer",
    )
    htree: float = Field(
        ge=0, description="carrying one B-row input vector to a PE over the H-tree"
    )
    memory_fetch: float = Field(
        ge=0, description="fetching one B-row input vector from the input buffer"
    )
    neuron: float = Field(
        ge=0, description="one neuron's membrane read-modify-write (memory.neuron_word_bits word)"
    )
    int8_add: float = Field(
        ge=0, description="8-bit integer add (shift-add, BN add); scales linearly in bits"
    )
    int8_multiply: float = Field(
        ge=0, description="8-bit integer multiply (BN scale); scales with bits^2"
    )
    fp32_multiply_add: float = Field(ge=0, description="FP32 multiply + add (BN at >= 16 bits)")


class AreaConfig(_Config):
    """Areas in um2. The first eight are SpikeSim's ELA constants."""

    crossbar: float = Field(ge=0, description="one B x B crossbar")
    adc: float = Field(ge=0, description="one ADC at reference_bits")
    mux: float = Field(ge=0, description="one column mux (one per ADC)")
    subtractor: float = Field(ge=0, description="one subtractor (B/mux_ratio per tile)")
    temp_buffer: float = Field(ge=0, description="one tile's temp buffer")
    tile_buffer: float = Field(ge=0, description="one tile's buffer")
    htree: float = Field(ge=0, description="one tile's H-tree")
    memory_bit: float = Field(
        gt=0, description="one SRAM bit (input buffer, neuron memory, BN parameters)"
    )
    int8_add: float = Field(ge=0, description="8-bit adder; scales linearly in bits")
    int8_multiply: float = Field(ge=0, description="8-bit multiplier; scales with bits^2")
    fp32_multiply_add: float = Field(ge=0, description="FP32 multiplier + adder")


class MemoryConfig(_Config):
    """Word widths of the on-chip memories (SpikeSim sizes the first two at 22 bits)."""

    neuron_word_bits: int = Field(22, ge=1, description="membrane word the neuron constants assume")
    input_word_bits: int = Field(
        22, ge=1, description="bits stored per input element in the input buffer"
    )
    bn_words_per_channel: int = Field(
        2,
        ge=0,
        description="folded-BN parameter words (scale, bias) stored per kept channel, b_bn bits "
        "each",
    )


class ConventionsConfig(_Config):
    """Choices a report must state, because published numbers differ on them."""

    output_side: OutputSide = Field(
        "conv",
        description="H_out is the real conv output side, or the side after pooling (SpikeSim's "
        "example)",
    )
    include_linear: bool = Field(
        True, description="cost linear layers (as 1x1 convs on a 1x1 input)"
    )
    activity_mode: ActivityMode = Field(
        "dense",
        description="event: measured spike rates scale the activity-driven terms (aware engine)",
    )


class QuirksConfig(_Config):
    """SpikeSim behaviours the aware engine can reproduce (the spikesim engine always has them)."""

    neuron_memory_first_five_layers: bool = Field(
        False, description="neuron memory counts only the first five layers"
    )
    charge_unmapped_cells: bool = Field(
        False,
        description="rows, columns, conversions and transfers of a PE cost energy even where no "
        "weight is mapped",
    )
    charge_empty_pe_slots: bool = Field(
        False, description="every PE slot of every tile costs area, used or not"
    )
    cycle_per_output_neuron: bool = Field(
        False,
        description="latency: one PE cycle per output neuron per timestep (not per output site)",
    )
    neuron_update_per_pe_cycle: bool = Field(
        False,
        description="neuron energy: one update per PE cycle (not one per neuron per timestep)",
    )


class HardwarePreset(_Config):
    """One crossbar design point: geometry, constants, engine, conventions and quirks."""

    name: str = Field(min_length=1, description="the preset's name (its file stem when shipped)")
    description: str = Field("", description="one line for tables and reports")
    engine: Engine = Field(
        description="spikesim: SpikeSim's ELA exactly; aware: precision/activity-aware"
    )
    device: Device = Field(
        description="memory device of the crossbars (stated in reports; constants carry it)"
    )
    technology_nm: int = Field(ge=1, description="CMOS node the constants are for (informational)")
    crossbar: CrossbarConfig
    adc: AdcConfig
    energy_pj: EnergyConfig
    area_um2: AreaConfig
    memory: MemoryConfig = MemoryConfig()
    conventions: ConventionsConfig = ConventionsConfig()
    quirks: QuirksConfig = QuirksConfig()

    @model_validator(mode="after")
    def _conversions_fit_the_cycle(self) -> HardwarePreset:
        converting = self.crossbar.mux_ratio * self.adc.bits * self.adc.conversion_clocks_per_bit
        if converting > self.crossbar.pe_cycle_clocks:
            raise ValueError(
                "the conversions of one PE cycle must fit in it: mux_ratio x adc.bits x "
                "adc.conversion_clocks_per_bit <= crossbar.pe_cycle_clocks must hold, but got "
                f"{converting:g} > {self.crossbar.pe_cycle_clocks}"
            )
        return self

    def with_overrides(self, **changes: object) -> HardwarePreset:
        """A validated copy with some fields replaced; a section takes a dict of its fields, e.g.
        ``with_overrides(engine="aware", conventions={"output_side": "pooled"})``."""
        data = self.model_dump()
        for key, value in changes.items():
            if key not in data:
                raise ConfigError(f"preset {self.name}: no field {key!r} to override")
            data[key] = {**data[key], **value} if isinstance(value, dict) else value
        try:
            return HardwarePreset.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(
                f"preset {self.name} with overrides: {validation_message(exc)}"
            ) from None


def with_adc_bits(preset: HardwarePreset, bits: int) -> HardwarePreset:
    """``preset`` with its ADC at ``bits``: the PE cycle grows or shrinks by the conversions'
    time (mux_ratio conversions of conversion_clocks_per_bit per bit, rounded up to whole
    clocks), the rest of the cycle stays; ``min_bits`` drops to ``bits`` if above it."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_ADC_BITS:
        raise ConfigError(f"adc bits must be an integer in [1, {MAX_ADC_BITS}], but got {bits!r}")
    xb, adc = preset.crossbar, preset.adc
    delta = xb.mux_ratio * (bits - adc.bits) * adc.conversion_clocks_per_bit
    return preset.with_overrides(
        adc={"bits": bits, "min_bits": min(adc.min_bits, bits)},
        crossbar={"pe_cycle_clocks": xb.pe_cycle_clocks + math.ceil(delta)},
    )


@functools.cache
def _shipped() -> Registry[Traversable]:
    registry: Registry[Traversable] = Registry("hardware preset")
    for entry in sorted(SHIPPED_PRESETS.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".yaml"):
            registry.register(entry.name.removesuffix(".yaml"))(entry)
    return registry


def preset_names() -> list[str]:
    """Names of the shipped presets."""
    return _shipped().names()


def load_preset(name_or_path: str | Path) -> HardwarePreset:
    """Load a preset by shipped name (``rram_64``) or by file path; errors name the file and
    field."""
    text = str(name_or_path)
    looks_like_path = (
        isinstance(name_or_path, Path) or text.endswith((".yaml", ".yml", ".json")) or "/" in text
    )
    if not looks_like_path:
        return _load_shipped(text)
    path = Path(text).resolve()
    if not path.is_file():
        raise ConfigError(
            f"{text}: no such preset file (shipped presets: {', '.join(preset_names())})"
        )
    return _load_file(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _load_shipped(name: str) -> HardwarePreset:
    with resources.as_file(_shipped().get(name)) as path:
        return _validated(path)


@functools.lru_cache(maxsize=32)
def _load_file(path: Path, mtime_ns: int) -> HardwarePreset:
    return _validated(path)


def _validated(path: Path) -> HardwarePreset:
    data = read_mapping(path)
    try:
        return HardwarePreset.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_message(exc)}") from None
