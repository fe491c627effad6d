"""The precision- and activity-aware crossbar model (our default engine).

SpikeSim's ELA, restated per physical event so that every searched knob moves the costs it really
moves. Notation per layer: B crossbar size, b_c bits per cell, taps = k x k, C_in/C_out kept
channels, S output sites per channel (output-side convention), T timesteps, r measured input
spike rate (1 in dense mode).

Mapping and counts
- Weight bits: c = ceil(b_w / b_c) cells per weight (bit slicing), so the layer needs c x C_out
  columns: PEs = ceil(C_in/B) x ceil(c C_out / B) x ceil(taps / pe_kernel^2) (kernels larger than
  a PE fold onto several PEs), and PE cycles = PEs x S per timestep. Signed weights: offset
  convention (see :func:`.laws.cells_per_weight`).
- Each PE cycle sums the column currents of its crossbars and converts B columns: B/mux_ratio ADCs
  each converting mux_ratio times (SpikeSim's (B/8)^2 = B at B = 64). Every conversion costs one
  mux selection and two subtracts (offset removal; SpikeSim's 16 x B/8 per cycle); with c > 1
  one shift-add into an accumulator of adc_bits + (c-1) b_c bits (adder law of :mod:`.laws`).
- Unmapped cells (a partly filled crossbar) draw nothing: crossbar energy scales with the mapped
  rows x columns, conversions with the mapped columns, neuron updates with the mapped neurons.
  The quirk ``charge_unmapped_cells`` charges full crossbars, as SpikeSim does.

Energy (pJ; each term x T)
- crossbar: one full read of a crossbar (all B rows) costs (B/8) x E_xbar (SpikeSim's unit: 8 rows);
  S x (row tiles x column tiles x taps) reads per timestep, x fill x r (a silent row draws
  nothing).
- ADC, mux, subtractor, shift-add: per conversion. ADC energy scales from the preset's reference
  bits by ZigZag's law (:func:`.laws.adc_energy_scale`). Event mode: a conversion happens only if
  some row of its patch spiked: x P(any of taps x C_in/row-tiles rows active).
- temp buffer (one access per ADC per PE cycle), tile buffer, H-tree, input fetch: per PE cycle,
  dense in both modes (buffers and the H-tree move data whether or not it holds spikes).
- neuron: one read-modify-write of the membrane word per (row tile, column group of B neurons,
  site), as SpikeSim counts it, not per weight slice: x b_u / neuron_word_bits (SpikeSim's
  constant is for a 22-bit word). Event mode: x P(any input of the receptive field active), since a
  neuron with no input current only leaks and its update can be deferred.
- bn: spiking layers only; one folded-BN multiply-add per neuron per timestep, at b_bn bits
  (:func:`.laws.bn_cost`: multiplier ~ bits^2, adder ~ bits, FP32 at >= 16 bits); event mode as
  the neuron.

Area (um2)
- PE = pe_kernel^2 crossbars + B/mux_ratio x (ADC + mux) [+ a shift-adder per ADC when any layer
  is bit-sliced, sized for the widest slice sum]; ADC area scales by ZigZag's law.
- Tile = B/mux_ratio subtractors + temp buffer + tile buffer + H-tree + pes_per_tile PEs.
  Tiles = sum_i ceil(PEs_i / pes_per_tile) (a tile serves one layer, as SpikeSim's paper says);
  the quirk ``pack_layers_in_tiles`` packs all PEs together as SpikeSim's code does.
- Input buffer: C_in x H_in x W_in words of memory.input_word_bits.
- Neuron memory: C_out x S neurons x b_u bits, for every spiking layer (quirk: first five layers).
- BN: per spiking layer, one multiply-add unit (it keeps up: the pipeline updates one neuron per
  PE cycle) and memory.bn_words_per_channel words of b_bn bits per kept channel.

Measured output spike rates are reported, not costed: they are the next layer's input rates, and
spike traffic through buffers and the H-tree is charged dense.

Latency: SpikeSim's pipeline (one PE cycle per output neuron per timestep, next layer starts at
75 %) with kept channels; bits and activity do not change it: slices of a weight are read in
parallel on their own columns, and a synchronous pipeline does not skip silent cycles.

Reduction: with b_w = b_c, b_u = neuron_word_bits, ADC at reference bits, dense activity, all
quirks on, mux_ratio = 8, BN and shift-add costs zero (SpikeSim models neither), B = 64 and
kernels up to the PE's 3x3 this gives SpikeSim's numbers (a property test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mdsnn_search.hardware import laws
from mdsnn_search.hardware.mapping import MappedLayer, layer_order_warning
from mdsnn_search.hardware.preset import HardwarePreset, QuirksConfig
from mdsnn_search.hardware.report import AREA_COMPONENTS, ENERGY_COMPONENTS, CostReport, LayerRows, build_report

_PIPELINE_CHECKPOINT = 0.75
_NEURON_MEMORY_QUIRK_LAYERS = 5
_QUIRKS = tuple(QuirksConfig.model_fields)


@dataclass(frozen=True, slots=True)
class _LayerEnergy:
    cells: int
    pes: int
    pe_cycles: int
    terms: tuple[float, ...]
    """Energy per component, in :data:`ENERGY_COMPONENTS` order."""


@dataclass(frozen=True, slots=True)
class _Constants:
    """A preset's constants in the form the per-layer rules use them, derived once per preset."""

    b: int
    bits_per_cell: int
    adc_bits: int
    pe_taps: int
    full_cells: bool
    crossbar_read: float
    adc: float
    mux: float
    subtract_pair: float
    temp_buffer_per_cycle: float
    tile_buffer: float
    htree: float
    memory_fetch: float
    neuron_per_bit: float
    int8_add: float
    int8_multiply: float
    fp32_multiply_add: float

    @classmethod
    def of(cls, preset: HardwarePreset) -> _Constants:
        cached = _CONSTANTS.get(id(preset))
        if cached is not None and cached[0] is preset:
            return cached[1]
        xb, e = preset.crossbar, preset.energy_pj
        constants = cls(
            b=xb.size,
            bits_per_cell=xb.bits_per_cell,
            adc_bits=preset.adc.bits,
            pe_taps=xb.pe_kernel * xb.pe_kernel,
            full_cells=preset.quirks.charge_unmapped_cells,
            crossbar_read=(xb.size / 8.0) * e.crossbar,
            adc=e.adc * laws.adc_energy_scale(preset.adc.bits, preset.adc.reference_bits),
            mux=e.mux,
            subtract_pair=2.0 * e.subtractor,
            temp_buffer_per_cycle=xb.adcs_per_pe * e.temp_buffer,
            tile_buffer=e.tile_buffer,
            htree=e.htree,
            memory_fetch=e.memory_fetch,
            neuron_per_bit=e.neuron / preset.memory.neuron_word_bits,
            int8_add=e.int8_add,
            int8_multiply=e.int8_multiply,
            fp32_multiply_add=e.fp32_multiply_add,
        )
        if len(_CONSTANTS) >= 64:
            _CONSTANTS.clear()
        _CONSTANTS[id(preset)] = (preset, constants)
        return constants


_CONSTANTS: dict[int, tuple[HardwarePreset, _Constants]] = {}
"""Derived constants by preset identity (the preset is kept, so an id is never reused while cached)."""


def _layer_energy(layer: MappedLayer, k: _Constants, timesteps: int, event: bool) -> _LayerEnergy:
    """Energy terms of one layer over all timesteps (rules in the module docstring)."""
    p, b = layer.precision, k.b
    c = laws.cells_per_weight(p.w_bits, k.bits_per_cell)
    row_tiles, col_tiles = -(-layer.c_in // b), -(-(c * layer.c_out) // b)
    neuron_groups = -(-layer.c_out // b)
    n_pe = row_tiles * col_tiles * -(-layer.taps // k.pe_taps)
    sites_t = layer.sites * timesteps
    cycles = n_pe * sites_t
    if k.full_cells:
        row_fill = col_fill = neuron_fill = 1.0
    else:
        row_fill = layer.c_in / (row_tiles * b)
        col_fill = c * layer.c_out / (col_tiles * b)
        neuron_fill = layer.c_out / (neuron_groups * b)

    rate = patch_active = site_active = 1.0
    if event and layer.activity is not None:
        rate = layer.activity.input_rate
        patch_active = laws.any_active(rate, layer.taps * layer.c_in / row_tiles)
        site_active = laws.any_active(rate, layer.taps * layer.c_in)
    conversions = cycles * b * col_fill * patch_active
    shift_add = 0.0
    if c > 1:
        shift_add = conversions * k.int8_add * laws.adder_scale(laws.shift_add_bits(k.adc_bits, c, k.bits_per_cell))
    bn = 0.0
    if layer.spec.spiking:
        bn = (
            layer.c_out
            * sites_t
            * site_active
            * laws.bn_cost(p.bn_bits, k.int8_multiply, k.int8_add, k.fp32_multiply_add)
        )
    neuron_updates = row_tiles * neuron_groups * sites_t * neuron_fill * site_active
    crossbar_reads = row_tiles * col_tiles * layer.taps * sites_t * row_fill * col_fill
    terms = (  # ENERGY_COMPONENTS order
        crossbar_reads * k.crossbar_read * rate,
        conversions * k.adc,
        conversions * k.mux,
        conversions * k.subtract_pair,
        shift_add,
        cycles * k.temp_buffer_per_cycle,
        cycles * k.tile_buffer,
        cycles * k.htree,
        cycles * k.memory_fetch,
        neuron_updates * k.neuron_per_bit * p.u_bits,
        bn,
    )
    return _LayerEnergy(cells=c, pes=n_pe, pe_cycles=cycles, terms=terms)


def _area(
    layers: list[MappedLayer], preset: HardwarePreset, energies: list[_LayerEnergy]
) -> tuple[dict[str, float], list[float], int]:
    """Area breakdown, each layer's own area, and the tile count."""
    xb, a, memory, quirks = preset.crossbar, preset.area_um2, preset.memory, preset.quirks
    n_adc, ppt = xb.adcs_per_pe, xb.pes_per_tile
    adc = a.adc * laws.adc_area_scale(preset.adc.bits, preset.adc.reference_bits)
    widest = max(energy.cells for energy in energies)
    shift_adder = 0.0
    if widest > 1:
        bits = laws.shift_add_bits(preset.adc.bits, widest, xb.bits_per_cell)
        shift_adder = a.int8_add * laws.adder_scale(bits)
    pe_parts = {
        "crossbar": xb.pe_kernel * xb.pe_kernel * a.crossbar,
        "adc": n_adc * adc,
        "mux": n_adc * a.mux,
        "shift_add": n_adc * shift_adder,
    }
    pe_area = sum(pe_parts.values())
    pes = [energy.pes for energy in energies]
    tiles = -(-sum(pes) // ppt) if quirks.pack_layers_in_tiles else sum(-(-n // ppt) for n in pes)

    breakdown = dict.fromkeys(AREA_COMPONENTS, 0.0)
    for key, value in pe_parts.items():
        breakdown[key] = tiles * ppt * value
    breakdown.update(
        subtractor=tiles * n_adc * a.subtractor,
        temp_buffer=tiles * a.temp_buffer,
        tile_buffer=tiles * a.tile_buffer,
        htree=tiles * a.htree,
    )
    own = []
    for layer, n_pe in zip(layers, pes, strict=True):
        p = layer.precision
        in_buffer = layer.input_elements * a.memory_bit * memory.input_word_bits
        has_neurons = (
            layer.index < _NEURON_MEMORY_QUIRK_LAYERS if quirks.neuron_memory_first_five_layers else layer.spec.spiking
        )
        neurons = layer.c_out * layer.sites * a.memory_bit * p.u_bits if has_neurons else 0.0
        bn = 0.0
        if layer.spec.spiking:
            unit = laws.bn_cost(p.bn_bits, a.int8_multiply, a.int8_add, a.fp32_multiply_add)
            bn = unit + memory.bn_words_per_channel * p.bn_bits * layer.c_out * a.memory_bit
        breakdown["input_buffer"] += in_buffer
        breakdown["neuron_memory"] += neurons
        breakdown["bn"] += bn
        own.append(n_pe * pe_area + in_buffer + neurons + bn)
    return breakdown, own, tiles


def _pipeline(layers: list[MappedLayer], timesteps: int) -> list[tuple[int, int]]:
    """(start, halt) of each layer in PE cycles: SpikeSim's 75 % pipeline."""
    started = 0
    spans = []
    for layer in layers:
        outputs = layer.c_out * layer.sites
        spans.append((started, started + outputs * timesteps))
        started += int(_PIPELINE_CHECKPOINT * outputs) * timesteps
    return spans


def estimate_aware(
    layers: list[MappedLayer], preset: HardwarePreset, timesteps: int, event: bool, conventions: dict[str, Any]
) -> CostReport:
    """Score mapped layers with the aware model; ``event`` turns measured spike rates on."""
    constants = _Constants.of(preset)
    energies = [_layer_energy(layer, constants, timesteps, event) for layer in layers]
    area_breakdown, own_area, tiles = _area(layers, preset, energies)
    terms = [energy.terms for energy in energies]
    energy_breakdown = dict(zip(ENERGY_COMPONENTS, map(sum, zip(*terms, strict=True)), strict=True))
    pes = [energy.pes for energy in energies]
    warning = layer_order_warning([layer.spec.name for layer in layers], pes)
    rows = LayerRows(
        layers=layers,
        cells_per_weight=[energy.cells for energy in energies],
        pes=pes,
        pe_cycles=[energy.pe_cycles for energy in energies],
        energy_terms_pj=terms,
        energy_pj=None,
        area_um2=own_area,
        spans_cycles=_pipeline(layers, timesteps),
        cycle_ns=preset.crossbar.pe_cycle_ns,
        report_bits=True,
    )
    return build_report(
        rows=rows,
        timesteps=timesteps,
        tiles=tiles,
        energy_breakdown_pj=energy_breakdown,
        area_breakdown_um2=area_breakdown,
        conventions={
            **conventions,
            "precision": "per layer; missing layers at full precision (W32/U32/BN32)",
            "quirks": {name: getattr(preset.quirks, name) for name in _QUIRKS},
        },
        warnings=(warning,) if warning else (),
    )
