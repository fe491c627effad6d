"""SpikeSim's ELA engine, reproduced exactly (commit c2627bc, ``ela_spikesim.py``), quirks included.

SpikeSim has no bit-width or activity inputs: precision and activity are ignored here (pruned
channel counts and the output-side convention are inputs, applied by :mod:`.mapping`). What is
SpikeSim's and kept on purpose:

- one PE-cycle energy for every PE cycle of every layer, the same for all layers of a kernel size
  (SpikeSim takes one global k; we take each layer's kernel, as spikingjelly's port does, which is
  the same for SpikeSim's all-3x3 networks);
- ``m = B / 8`` used both as the number of ADCs and as the conversions per ADC;
- PEs of different layers packed into shared tiles; neuron memory for the first five layers only,
  at 22 bits per neuron; a 22-bit input-buffer word;
- latency: every output neuron costs one PE cycle per timestep, and a layer starts once the
  previous one has produced 75 % of its outputs.

Where SpikeSim stops ("Check layer order") we warn and go on.
"""

from __future__ import annotations

import math
from typing import Any

from mdsnn_search.hardware.mapping import MappedLayer, layer_order_warning
from mdsnn_search.hardware.preset import HardwarePreset
from mdsnn_search.hardware.report import (
    AREA_COMPONENTS,
    ENERGY_COMPONENTS,
    CostReport,
    LayerRows,
    build_report,
)

_GROUP = 8
"""SpikeSim's hard-coded divisor: ``xbar_size / 8`` ADCs per PE, each converting that many times."""

_PIPELINE_CHECKPOINT = 0.75
"""A layer starts when the previous one has produced this fraction of its outputs."""

_NEURON_MEMORY_LAYERS = 5


def pe_cycle_energy_terms(preset: HardwarePreset, taps: int) -> dict[str, float]:
    """SpikeSim's energy of one PE cycle, by component (pJ)."""
    e = preset.energy_pj
    m = preset.crossbar.size / _GROUP
    return {
        "crossbar": m * taps * e.crossbar,
        "adc": m * m * e.adc,
        "mux": m * m * e.mux,
        "subtractor": m * 16 * e.subtractor,
        "temp_buffer": m * e.temp_buffer,
        "tile_buffer": e.tile_buffer,
        "htree": e.htree,
        "memory_fetch": e.memory_fetch,
        "neuron": e.neuron,
    }


def pe_cycle_energy(preset: HardwarePreset, taps: int) -> float:
    """SpikeSim's ``PE_cycle_energy``, summed in its order (828.4861472 pJ for RRAM, B = 64,
    3x3)."""
    e = preset.energy_pj
    m = preset.crossbar.size / _GROUP
    pe = taps * e.crossbar + m * (e.adc + e.mux)
    return (
        e.htree
        + e.memory_fetch
        + e.neuron
        + m * pe
        + m * 16 * e.subtractor
        + m * e.temp_buffer
        + e.tile_buffer
    )


def _energy(
    layers: list[MappedLayer], pes: list[int], preset: HardwarePreset, timesteps: int
) -> tuple[list[float], list[tuple[float, ...]], dict[str, float]]:
    """E = T x E_PEcycle x sum_i ceil(C_out/B) ceil(C_in/B) H_out^2: per layer, per layer and
    component, and per component."""
    energies, layer_terms = [], []
    breakdown = dict.fromkeys(ENERGY_COMPONENTS, 0.0)
    for layer, n_pe in zip(layers, pes, strict=True):
        cycles = n_pe * layer.sites
        energies.append(cycles * pe_cycle_energy(preset, layer.taps) * timesteps)
        terms = pe_cycle_energy_terms(preset, layer.taps)
        for key, value in terms.items():
            breakdown[key] += cycles * timesteps * value
        layer_terms.append(
            tuple(cycles * timesteps * terms.get(key, 0.0) for key in ENERGY_COMPONENTS)
        )
    return energies, layer_terms, breakdown


def _area(
    layers: list[MappedLayer], pes: list[int], preset: HardwarePreset
) -> tuple[float, dict[str, float], list[float], int]:
    """A = tiles x A_tile + A_inbuf + A_neuron: total (summed as SpikeSim sums it), per
    component, per layer (own PEs, input buffer, neuron memory) and the tile count."""
    a, word, ppt = preset.area_um2, preset.memory, preset.crossbar.pes_per_tile
    m = preset.crossbar.size / _GROUP
    k2 = preset.crossbar.pe_kernel**2
    tiles = math.ceil(sum(pes) / ppt)
    pe_area = k2 * a.crossbar + m * (a.adc + a.mux)
    tile_area = m * a.subtractor + a.temp_buffer + a.tile_buffer + ppt * pe_area + a.htree
    first = layers[:_NEURON_MEMORY_LAYERS]
    total = (
        tile_area * tiles
        + sum(layer.input_elements for layer in layers) * a.memory_bit * word.input_word_bits
        + sum(layer.c_out * layer.sites for layer in first) * a.memory_bit * word.neuron_word_bits
    )
    in_buffer = [layer.input_elements * a.memory_bit * word.input_word_bits for layer in layers]
    neurons = [
        layer.c_out * layer.sites * a.memory_bit * word.neuron_word_bits
        if layer.index < _NEURON_MEMORY_LAYERS
        else 0.0
        for layer in layers
    ]
    breakdown = dict.fromkeys(AREA_COMPONENTS, 0.0)
    breakdown.update(
        crossbar=tiles * ppt * k2 * a.crossbar,
        adc=tiles * ppt * m * a.adc,
        mux=tiles * ppt * m * a.mux,
        subtractor=tiles * m * a.subtractor,
        temp_buffer=tiles * a.temp_buffer,
        tile_buffer=tiles * a.tile_buffer,
        htree=tiles * a.htree,
        input_buffer=sum(in_buffer),
        neuron_memory=sum(neurons),
    )
    own = [
        n_pe * pe_area + buf + mem for n_pe, buf, mem in zip(pes, in_buffer, neurons, strict=True)
    ]
    return total, breakdown, own, tiles


def _spans(layers: list[MappedLayer], timesteps: int) -> list[tuple[int, int]]:
    """(start, halt) in PE cycles: halt_i = T C_i S_i + sum_{j<i} int(0.75 C_j S_j) T."""
    spans = []
    started = 0
    for layer in layers:
        outputs = layer.c_out * layer.sites
        spans.append((started, outputs * timesteps + started))
        started += int(_PIPELINE_CHECKPOINT * outputs) * timesteps
    return spans


def estimate_spikesim(
    layers: list[MappedLayer], preset: HardwarePreset, timesteps: int, conventions: dict[str, Any]
) -> CostReport:
    """Score mapped layers with SpikeSim's ELA formulas; ``conventions`` are stated in the
    report."""
    b = preset.crossbar.size
    pes = [math.ceil(layer.c_in / b) * math.ceil(layer.c_out / b) for layer in layers]
    energies, layer_terms, energy_breakdown = _energy(layers, pes, preset, timesteps)
    total_area, area_breakdown, own_area, tiles = _area(layers, pes, preset)
    warning = layer_order_warning([layer.spec.name for layer in layers], pes)
    rows = LayerRows(
        layers=layers,
        cells_per_weight=[1] * len(layers),
        pes=pes,
        pe_cycles=[n_pe * layer.sites * timesteps for n_pe, layer in zip(pes, layers, strict=True)],
        energy_terms_pj=layer_terms,
        energy_pj=energies,
        area_um2=own_area,
        spans_cycles=_spans(layers, timesteps),
        cycle_ns=preset.crossbar.pe_cycle_ns,
        report_bits=False,
    )
    return build_report(
        rows=rows,
        timesteps=timesteps,
        tiles=tiles,
        energy_pj=sum(energies),
        area_um2=total_area,
        energy_breakdown_pj=energy_breakdown,
        area_breakdown_um2=area_breakdown,
        conventions={
            **conventions,
            "precision": "ignored (SpikeSim's ELA has no bit-width inputs)",
            "quirks": (
                "all of SpikeSim's (tile packing, first-five-layer neuron memory, 22-bit words)"
            ),
        },
        warnings=(warning,) if warning else (),
    )
