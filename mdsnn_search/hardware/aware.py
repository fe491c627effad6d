"""The precision- and activity-aware crossbar model (our default engine), over many configurations.

SpikeSim's ELA (Moitra et al., TCAD 2023; code c2627bc) restated per physical event, so that every
searched knob moves the costs it physically moves. The rules below are docs/design/cost-model.md
section 3b; each factor is 1 at SpikeSim's design point (b_w = b_c, ADC at its reference bits,
dense activity, every quirk on), where this engine gives SpikeSim's numbers (a property test checks
it). Everything is numpy over [N configurations, L costed layers]: scoring one configuration is a
batch of one, so the scalar and the batch paths cannot disagree on a rule.

Notation per layer: B crossbar size, b_c bits per cell, taps = k x k, C_in/C_out kept channels,
S output sites per channel (output-side convention), T timesteps, r measured input spike rate
(1 in dense mode), "row groups" = ceil(C_in/B) x ceil(taps/pe_kernel^2) (a kernel larger than a
PE folds over several PEs), "neuron groups" = ceil(C_out/B).

1. Slices. A b_w-bit weight takes c = ceil(b_w/b_c) cells side by side; slice j holds
   min(b_c, b_w - (j-1) b_c) bits (NeuroSim's bit slicing). PEs = row groups x ceil(c C_out/B).
   Signed weights: offset convention, see :func:`.laws.cells_per_weight`.
2. ADC resolution follows the bits a column holds (preset ``adc.follow_slice_bits``):
   b_ADC,j = max(b_min, b_ADC - (b_c - b_j)), since such a column's partial sum spans (b_c - b_j)
   fewer bits (ISAAC, Shafiee et al. ISCA 2016: ADC bits = log2(rows) + cell bits + input bits - 1;
   NeuroSim and CiMLoop size the ADC by cell bits). Energy per conversion scales by ZigZag's
   f(b) = 100 b + 0.001 4^b (Houshmand et al., ZigZag analog-IMC model), area by ZigZag's
   10^(-0.0369 b) 2^b, sized per layer for the widest slice it converts.
3. Conversions per timestep = S x row groups x (sum over slices of C_out) x P(patch active) in
   event mode (a conversion is skipped only if every row of its patch is silent,
   :func:`.laws.any_active`). Per conversion: one mux selection, two subtracts (SpikeSim's
   16 x B/8 per PE cycle), a shift-add into a b_ps-bit accumulator when c > 1, and a temp-buffer
   access per mux_ratio conversions (one per ADC per PE cycle, as SpikeSim). Crossbar energy: a
   full read of a crossbar is (B/8) x E_xbar (SpikeSim's unit drives 8 rows), per mapped row and
   column, x r (a silent row draws nothing).
4. Data movement is counted per datum moved, not per PE cycle. Input fetch and H-tree carry input
   spikes to the PEs of a row group: per (row group x neuron group x site x timestep), not x c,
   per mapped row, and x r in event mode (address-event traffic: silent inputs are not sent;
   spikingjelly 2.0's event-mode SpikeSim port is more conservative: it charges every PE-cycle
   term but crossbar and neuron per active patch). The tile buffer carries partial
   sums: per (row group x neuron group x site x timestep) x P(patch active), per mapped neuron,
   x b_ps / reference_bits with b_ps = b_ADC,top + (c-1) b_c the merged partial-sum width
   (:func:`.laws.partial_sum_bits`). At c = 1 and dense activity the counts are SpikeSim's PE
   cycles.
5. Latency of a layer = T x S x t_cycle: all PEs of a layer work in parallel (weight-stationary,
   every layer mapped at once), and t_cycle = mux_ratio x t_conv(b_ADC) + the rest of SpikeSim's
   26-clock cycle, t_conv linear in bits (SAR: one comparison per bit; preset
   ``adc.conversion_clocks_per_bit``), b_ADC the layer's widest. A layer starts when the previous
   one has produced 75 % of its outputs (SpikeSim). SpikeSim's one PE cycle per output neuron is
   the quirk ``cycle_per_output_neuron``.
6. Area = sum over layers of PEs x PE area (k^2 crossbars, B/mux_ratio ADCs at the layer's
   resolution with their muxes, shift-adders when c > 1) + per tile: B/mux_ratio subtractors,
   temp buffer, tile buffer, H-tree, for ceil(total PEs / PEs per tile) tiles packed as SpikeSim's
   code packs them (``crossbar.tile_packing: per_layer`` gives each layer whole tiles). Quirk
   ``charge_empty_pe_slots``: the empty PE slots of the tiles cost area too (SpikeSim). Input
   buffer: C_in x H_in x W_in words of memory.input_word_bits.
7. Membrane. Each neuron's membrane is read, updated and written once per timestep, a b_u-bit
   word per neuron (not one update per group of B neurons per PE cycle, as SpikeSim charges it):
   E = C_out x S x T x E_neuron x b_u / word bits, x P(any input of the receptive field active) in
   event mode (a neuron without input only leaks; its update can be deferred). E_neuron is
   SpikeSim's LIF-module energy (1.274 x 4 pJ for a 22-bit membrane word); the quirk
   ``neuron_update_per_pe_cycle`` charges it per PE cycle instead, as SpikeSim does. Neuron
   memory: C_out x S x b_u bits over every spiking layer (quirk: SpikeSim's first five layers).
   Integer-level membranes cost the bits their levels need (``LayerPrecision.u_bits``).
8. BN. One folded-BN multiply-add per neuron per timestep on spiking layers, x P(any input of the
   receptive field active) in event mode; integer law (multiplier ~ bits^2, adder ~ bits,
   Horowitz ISSCC 2014 constants) below 32 bits, floating point at 32 (:func:`.laws.bn_cost`);
   memory.bn_words_per_channel words of b_bn bits per kept channel.

Unmapped cells (a partly filled crossbar) draw nothing: the quirk ``charge_unmapped_cells``
charges full rows, columns, conversions and transfers as SpikeSim does. Measured output spike
rates are reported, not costed: they are the next layer's input rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mdsnn_search.hardware import laws
from mdsnn_search.hardware.configs import ConfigBatch
from mdsnn_search.hardware.mapping import (
    CrossbarMapping,
    MappedLayer,
    TableGeometry,
    WeightSlices,
    crossbar_mapping,
    kept_channel_arrays,
    layer_order_warning,
    weight_slices,
)
from mdsnn_search.hardware.preset import HardwarePreset, QuirksConfig
from mdsnn_search.hardware.report import (
    AREA_COMPONENTS,
    ENERGY_COMPONENTS,
    CostReport,
    LayerRows,
    build_report,
)

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]

_PIPELINE_CHECKPOINT = 0.75
_NEURON_MEMORY_QUIRK_LAYERS = 5
_QUIRKS = tuple(QuirksConfig.model_fields)


@dataclass(frozen=True)
class AwareScores:
    """What the rules give for N configurations of one table; per-layer arrays are [N, L]."""

    cells: Ints
    pes: Ints
    pe_cycles: Ints
    energy_pj: dict[str, Floats]
    """Per component (:data:`ENERGY_COMPONENTS`), [N, L]."""
    area_um2: dict[str, Floats]
    """Per component (:data:`AREA_COMPONENTS`), [N]."""
    layer_area_um2: Floats
    """Each layer's own area: its PEs, input buffer, neuron memory and BN ([N, L])."""
    tiles: Ints
    start_clocks: Floats
    halt_clocks: Floats
    clock_ns: float

    @cached_property
    def energy_breakdown(self) -> dict[str, Floats]:
        """Per component, summed over layers ([N])."""
        return {name: terms.sum(axis=1) for name, terms in self.energy_pj.items()}

    def energy_total(self) -> Floats:
        return sum(self.energy_breakdown.values(), np.zeros(len(self.tiles)))

    def area_total(self) -> Floats:
        return sum(self.area_um2.values(), np.zeros(len(self.tiles)))

    def latency_ns(self) -> Floats:
        return self.halt_clocks[:, -1] * self.clock_ns


def score(
    geometry: TableGeometry, batch: ConfigBatch, preset: HardwarePreset, event: bool
) -> AwareScores:
    """Apply rules 1-8 to every configuration of ``batch``; ``event`` turns measured rates on."""
    cols = geometry.costed
    c_in_all, c_out_all = kept_channel_arrays(geometry.layers, batch.keep_fraction)
    c_in, c_out = c_in_all[:, cols], c_out_all[:, cols]
    slices = weight_slices(batch.w_bits[:, cols], preset)
    mapped = crossbar_mapping(c_in, c_out, slices.cells, geometry, preset)
    timesteps = batch.timesteps[:, None]
    per_site = geometry.sites * timesteps
    rate = batch.input_rate[:, cols] if event else np.ones(c_in.shape)
    energy = _energy(geometry, preset, slices, mapped, c_in, c_out, batch, rate, event, per_site)
    area, layer_area, tiles = _area(geometry, preset, slices, mapped, c_in, c_out, batch)
    start, halt = _pipeline(geometry, preset, slices, c_out, timesteps)
    return AwareScores(
        cells=slices.cells,
        pes=mapped.pes,
        pe_cycles=mapped.pes * per_site,
        energy_pj=energy,
        area_um2=area,
        layer_area_um2=layer_area,
        tiles=tiles,
        start_clocks=start,
        halt_clocks=halt,
        clock_ns=preset.crossbar.clock_ns,
    )


def _energy(
    geometry: TableGeometry,
    preset: HardwarePreset,
    slices: WeightSlices,
    m: CrossbarMapping,
    c_in: Ints,
    c_out: Ints,
    batch: ConfigBatch,
    rate: Floats,
    event: bool,
    per_site: Ints,
) -> dict[str, Floats]:
    """Energy per component and layer over all timesteps (rules 3, 4, 7, 8)."""
    e, cols, b = preset.energy_pj, geometry.costed, preset.crossbar.size
    taps = geometry.taps
    patch = laws.any_active(rate, taps / m.fold * c_in / m.row_tiles) if event else rate
    site = laws.any_active(rate, taps * c_in) if event else rate
    conversions = m.row_groups * m.columns * patch * per_site
    inputs_moved = m.row_groups * m.neuron_groups * m.row_fill * rate * per_site
    partial_sums = m.row_groups * m.neuron_groups * m.neuron_fill * patch * per_site
    per_pe_cycle = preset.quirks.neuron_update_per_pe_cycle
    membrane_word = batch.u_bits[:, cols].astype(np.float64) * (
        e.neuron / preset.memory.neuron_word_bits
    )
    neuron_updates = (m.row_groups * m.neuron_groups if per_pe_cycle else c_out * site) * per_site
    crossbar_reads = m.row_tiles * m.col_tiles * taps * m.row_fill * m.col_fill * rate * per_site
    shift_add = e.int8_add * laws.adder_scale(slices.partial_sum_bits)
    bn = laws.bn_cost(batch.bn_bits[:, cols], e.int8_multiply, e.int8_add, e.fp32_multiply_add)
    terms: dict[str, Floats] = {
        "crossbar": crossbar_reads * (b / 8.0) * e.crossbar,
        "adc": conversions * slices.adc_energy * e.adc,
        "mux": conversions * e.mux,
        "subtractor": conversions * 2.0 * e.subtractor,
        "shift_add": np.where(slices.cells > 1, conversions * shift_add, 0.0),
        "temp_buffer": conversions * (e.temp_buffer / preset.crossbar.mux_ratio),
        "tile_buffer": partial_sums
        * (slices.partial_sum_bits / preset.adc.reference_bits)
        * e.tile_buffer,
        "htree": inputs_moved * e.htree,
        "memory_fetch": inputs_moved * e.memory_fetch,
        "neuron": neuron_updates * membrane_word,
        "bn": np.where(geometry.spiking, c_out * site * per_site * bn, 0.0),
    }
    return {name: terms[name] for name in ENERGY_COMPONENTS}


def _area(
    geometry: TableGeometry,
    preset: HardwarePreset,
    slices: WeightSlices,
    m: CrossbarMapping,
    c_in: Ints,
    c_out: Ints,
    batch: ConfigBatch,
) -> tuple[dict[str, Floats], Floats, Ints]:
    """Area per component ([N]), each layer's own area ([N, L]) and the tile count (rule 6)."""
    xb, a, memory, quirks, adc = (
        preset.crossbar,
        preset.area_um2,
        preset.memory,
        preset.quirks,
        preset.adc,
    )
    n_adc, ppt, cols = xb.adcs_per_pe, xb.pes_per_tile, geometry.costed
    crossbars = xb.pe_kernel**2 * a.crossbar
    adcs = n_adc * a.adc * laws.adc_area_scale(slices.adc_widest, adc.reference_bits)
    shift_adders = np.where(
        slices.cells > 1, n_adc * a.int8_add * laws.adder_scale(slices.partial_sum_bits), 0.0
    )
    used = m.pes.sum(axis=1)
    tiles = -(-used // ppt) if xb.tile_packing == "packed" else (-(-m.pes // ppt)).sum(axis=1)
    empty = tiles * ppt - used if quirks.charge_empty_pe_slots else np.zeros_like(used)
    first_five = np.arange(len(cols)) < _NEURON_MEMORY_QUIRK_LAYERS
    has_neurons = first_five if quirks.neuron_memory_first_five_layers else geometry.spiking
    u_bits, bn_bits = batch.u_bits[:, cols], batch.bn_bits[:, cols]
    in_buffer = c_in * geometry.input_area * (a.memory_bit * memory.input_word_bits)
    neurons = np.where(has_neurons, c_out * geometry.sites * u_bits * a.memory_bit, 0.0)
    bn_unit = laws.bn_cost(bn_bits, a.int8_multiply, a.int8_add, a.fp32_multiply_add)
    bn = np.where(
        geometry.spiking,
        bn_unit + memory.bn_words_per_channel * bn_bits * c_out * a.memory_bit,
        0.0,
    )
    empty_adcs = empty * (n_adc * a.adc * laws.adc_area_scale(adc.bits, adc.reference_bits))
    breakdown: dict[str, Floats] = {
        "crossbar": (used + empty) * crossbars,
        "adc": (m.pes * adcs).sum(axis=1) + empty_adcs,
        "mux": (used + empty) * (n_adc * a.mux),
        "shift_add": (m.pes * shift_adders).sum(axis=1),
        "subtractor": tiles * (n_adc * a.subtractor),
        "temp_buffer": tiles * a.temp_buffer,
        "tile_buffer": tiles * a.tile_buffer,
        "htree": tiles * a.htree,
        "input_buffer": in_buffer.sum(axis=1),
        "neuron_memory": neurons.sum(axis=1),
        "bn": bn.sum(axis=1),
    }
    own = m.pes * (crossbars + adcs + n_adc * a.mux + shift_adders) + in_buffer + neurons + bn
    return {name: breakdown[name] for name in AREA_COMPONENTS}, own, tiles


def _pipeline(
    geometry: TableGeometry,
    preset: HardwarePreset,
    slices: WeightSlices,
    c_out: Ints,
    timesteps: Ints,
) -> tuple[Floats, Floats]:
    """(start, halt) of each layer in clocks (rule 5)."""
    xb, adc = preset.crossbar, preset.adc
    cycle = (
        xb.pe_cycle_clocks
        + xb.mux_ratio * (slices.adc_widest - adc.bits) * adc.conversion_clocks_per_bit
    )
    steps = (
        c_out * geometry.sites
        if preset.quirks.cycle_per_output_neuron
        else np.broadcast_to(geometry.sites, c_out.shape)
    )
    lead = np.floor(_PIPELINE_CHECKPOINT * steps) * timesteps * cycle
    start = np.zeros(lead.shape)
    np.cumsum(lead[:, :-1], axis=1, out=start[:, 1:])
    return start, start + steps * timesteps * cycle


def estimate_aware(
    layers: list[MappedLayer],
    geometry: TableGeometry,
    batch: ConfigBatch,
    preset: HardwarePreset,
    event: bool,
    conventions: dict[str, Any],
) -> CostReport:
    """The report of one configuration (``batch`` of one); ``layers`` are its mapped rows."""
    scores = score(geometry, batch, preset, event)
    terms = np.stack([scores.energy_pj[name][0] for name in ENERGY_COMPONENTS], axis=1)
    pes = scores.pes[0].tolist()
    warning = layer_order_warning([layer.spec.name for layer in layers], pes)
    rows = LayerRows(
        layers=layers,
        cells_per_weight=scores.cells[0].tolist(),
        pes=pes,
        pe_cycles=scores.pe_cycles[0].tolist(),
        energy_terms_pj=terms.tolist(),
        energy_pj=None,
        area_um2=scores.layer_area_um2[0].tolist(),
        spans_cycles=list(
            zip(scores.start_clocks[0].tolist(), scores.halt_clocks[0].tolist(), strict=True)
        ),
        cycle_ns=scores.clock_ns,
        report_bits=True,
    )
    return build_report(
        rows=rows,
        timesteps=int(batch.timesteps[0]),
        tiles=int(scores.tiles[0]),
        energy_pj=float(scores.energy_total()[0]),
        area_um2=float(scores.area_total()[0]),
        energy_breakdown_pj={
            name: float(value[0]) for name, value in scores.energy_breakdown.items()
        },
        area_breakdown_um2={name: float(value[0]) for name, value in scores.area_um2.items()},
        conventions={
            **conventions,
            "precision": "per layer; missing layers at full precision (W32/U32/BN32)",
            "adc": _adc_convention(preset),
            "tiles": preset.crossbar.tile_packing,
            "quirks": {name: getattr(preset.quirks, name) for name in _QUIRKS},
        },
        warnings=(warning,) if warning else (),
    )


def _adc_convention(preset: HardwarePreset) -> str:
    adc = preset.adc
    if adc.follow_slice_bits:
        return (
            f"{adc.bits} bits for full cells, fewer for partly used cells (at least {adc.min_bits})"
        )
    return f"{adc.bits} bits for every column"
