"""From a layer table and the search's knobs to the per-layer quantities both engines cost.

This module applies the inputs that are not hardware rules: channel pruning, the output-side
convention, which layers are costed, and each layer's precision and measured activity. The engines
(:mod:`.compat`, :mod:`.aware`) then only apply hardware rules: the compatibility engine to
:class:`MappedLayer` rows, the aware engine to a :class:`TableGeometry` and arrays of kept
channels over many configurations at once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mdsnn_search.hardware import laws
from mdsnn_search.hardware.layers import LayerActivity, LayerSpec
from mdsnn_search.hardware.preset import HardwarePreset, OutputSide
from mdsnn_search.precision import LayerPrecision

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]

FULL_PRECISION = LayerPrecision()
"""What a layer missing from the precision mapping gets: W32/U32/BN32."""


@dataclass(frozen=True, slots=True)
class MappedLayer:
    """One costed layer: kept channels, the output side of the chosen convention, its knobs."""

    spec: LayerSpec
    index: int
    """Position among the costed layers (SpikeSim's "first five layers" counts these)."""
    c_in: int
    c_out: int
    h_out: int
    w_out: int
    precision: LayerPrecision
    activity: LayerActivity | None
    taps: int
    """Kernel taps k x k."""
    sites: int
    """Output positions per output channel per timestep, in the report's convention."""
    input_elements: int
    """Input activations the layer reads per timestep (input-buffer words)."""
    macs: int
    """Dense MACs of one timestep with kept channels, at the real conv output side."""


def kept_channels(
    layers: Sequence[LayerSpec], keep_fraction: Mapping[str, float]
) -> list[tuple[int, int]]:
    """(C_in, C_out) of every layer after pruning (the rule is :func:`kept_channel_arrays`'s)."""
    keep = np.array([[keep_fraction.get(spec.name, 1.0) for spec in layers]], dtype=np.float64)
    c_in, c_out = kept_channel_arrays(layers, keep)
    return [(int(a), int(b)) for a, b in zip(c_in[0], c_out[0], strict=True)]


def kept_channel_arrays(layers: Sequence[LayerSpec], keep_fraction: Floats) -> tuple[Ints, Ints]:
    """Kept (C_in, C_out) of every layer for N configurations: ``keep_fraction`` is [N, layers].

    A layer keeps max(1, round(fraction x C_out)) output channels (halves round up; a fraction of
    1 keeps them all). Pruning also shrinks the next layer's input: when the next layer's C_in is a
    whole multiple s of this layer's C_out (s = 1 for conv -> conv, s = H x W for a flatten into a
    linear layer), its C_in becomes kept x s. Tables that are not a plain chain (shortcuts,
    concatenation) keep C_in.
    """
    c_in_full, c_out_full, scale = _chain(tuple(layers))
    kept_out = np.maximum(1, np.floor(keep_fraction * c_out_full + 0.5)).astype(np.int64)
    c_in = np.broadcast_to(c_in_full, kept_out.shape).copy()
    previous = kept_out[:, :-1]
    shrunk = (scale[1:] > 0) & (previous != c_out_full[:-1])
    c_in[:, 1:] = np.where(shrunk, previous * scale[1:], c_in_full[1:])
    return c_in, kept_out


@functools.lru_cache(maxsize=64)
def _chain(layers: tuple[LayerSpec, ...]) -> tuple[Ints, Ints, Ints]:
    """Full C_in and C_out per layer, and s: how many inputs of layer i each output channel of
    layer i-1 feeds (0 where C_in is not a whole multiple, or for the first layer)."""
    c_in = np.array([spec.c_in for spec in layers], dtype=np.int64)
    c_out = np.array([spec.c_out for spec in layers], dtype=np.int64)
    scale = np.zeros(len(layers), dtype=np.int64)
    divisible = c_in[1:] % c_out[:-1] == 0
    scale[1:] = np.where(divisible, c_in[1:] // c_out[:-1], 0)
    return c_in, c_out, scale


def pooled_side(layers: Sequence[LayerSpec], i: int) -> tuple[int, int]:
    """Output side of layer ``i`` after its pooling (SpikeSim's example convention).

    An explicit ``pool`` wins. Otherwise the pooling is read off the next layer: a conv that takes
    this layer's channels at a smaller side, or a linear layer whose C_in is C_out x (pooled area).
    Anything else (the last layer, a shortcut in between) counts as not pooled.
    """
    spec = layers[i]
    if spec.pool is not None:
        return max(1, spec.h_out // spec.pool), max(1, spec.w_out // spec.pool)
    if i + 1 >= len(layers):
        return spec.h_out, spec.w_out
    nxt = layers[i + 1]
    if nxt.kind == "conv":
        if nxt.c_in == spec.c_out and nxt.h_in <= spec.h_out and nxt.w_in <= spec.w_out:
            return nxt.h_in, nxt.w_in
        return spec.h_out, spec.w_out
    if nxt.c_in % spec.c_out == 0:
        area = nxt.c_in // spec.c_out
        factor_sq, remainder = divmod(spec.h_out * spec.w_out, area)
        factor = math.isqrt(factor_sq)
        if remainder == 0 and factor * factor == factor_sq and factor >= 1:
            return spec.h_out // factor, spec.w_out // factor
    return spec.h_out, spec.w_out


def map_layers(
    layers: Sequence[LayerSpec],
    *,
    output_side: OutputSide,
    include_linear: bool,
    precision: Mapping[str, LayerPrecision],
    keep_fraction: Mapping[str, float],
    activity: Mapping[str, LayerActivity],
) -> list[MappedLayer]:
    """The costed layers, in order, with every non-hardware input applied."""
    channels = kept_channels(layers, keep_fraction)
    mapped: list[MappedLayer] = []
    for i, spec in enumerate(layers):
        if spec.kind == "linear" and not include_linear:
            continue
        h_out, w_out = (
            pooled_side(layers, i) if output_side == "pooled" else (spec.h_out, spec.w_out)
        )
        c_in, c_out = channels[i]
        taps = spec.kernel * spec.kernel
        mapped.append(
            MappedLayer(
                spec=spec,
                index=len(mapped),
                c_in=c_in,
                c_out=c_out,
                h_out=h_out,
                w_out=w_out,
                precision=precision.get(spec.name, FULL_PRECISION),
                activity=activity.get(spec.name),
                taps=taps,
                sites=h_out * w_out,
                input_elements=c_in * spec.h_in * spec.w_in,
                macs=c_in * taps * c_out * spec.h_out * spec.w_out,
            )
        )
    return mapped


@dataclass(frozen=True, eq=False)
class TableGeometry:
    """What the aware engine needs of a layer table, fixed for every configuration of it.

    ``costed`` indexes the layers that are costed (linear layers drop out when the preset leaves
    them out); the other arrays run over the costed layers, in order.
    """

    layers: tuple[LayerSpec, ...]
    costed: Ints
    taps: Ints
    """Kernel taps k x k."""
    sites: Ints
    """Output positions per channel per timestep, in the preset's output-side convention."""
    input_area: Ints
    """H_in x W_in: input-buffer words per input channel."""
    conv_area: Ints
    """H_out x W_out at the real conv output side (for MACs)."""
    spiking: NDArray[np.bool_]

    @property
    def names(self) -> list[str]:
        return [self.layers[i].name for i in self.costed]


@functools.lru_cache(maxsize=64)
def table_geometry(
    layers: tuple[LayerSpec, ...], output_side: OutputSide, include_linear: bool
) -> TableGeometry:
    """The geometry of ``layers`` under a preset's conventions (cached: a search costs one table
    many times)."""
    costed = [i for i, spec in enumerate(layers) if include_linear or spec.kind != "linear"]
    sides = [
        pooled_side(layers, i) if output_side == "pooled" else (layers[i].h_out, layers[i].w_out)
        for i in costed
    ]
    specs = [layers[i] for i in costed]
    return TableGeometry(
        layers=layers,
        costed=np.array(costed, dtype=np.int64),
        taps=np.array([spec.kernel * spec.kernel for spec in specs], dtype=np.int64),
        sites=np.array([h * w for h, w in sides], dtype=np.int64),
        input_area=np.array([spec.h_in * spec.w_in for spec in specs], dtype=np.int64),
        conv_area=np.array([spec.h_out * spec.w_out for spec in specs], dtype=np.int64),
        spiking=np.array([spec.spiking for spec in specs], dtype=np.bool_),
    )


def layer_order_warning(names: Sequence[str], pes: Sequence[int]) -> str | None:
    """SpikeSim refuses a network whose per-layer PE count ever decreases; we only warn."""
    for i in range(1, len(pes)):
        if pes[i] < pes[i - 1]:
            return (
                f"PE count decreases from {names[i - 1]} ({pes[i - 1]} PEs) to {names[i]} "
                f"({pes[i]} PEs): "
                "SpikeSim would refuse this network ('Check layer order'); costed anyway"
            )
    return None


def row_grouping(c_in: ArrayLike, taps: ArrayLike, size: int, pe_kernel: int) -> tuple[Ints, Ints]:
    """(row tiles, fold) of a layer: its C_in rows fill ceil(C_in / B) crossbars, and its k x k
    taps ceil(taps / pe_kernel^2) PEs, each PE summing the columns of its pe_kernel^2 crossbars
    (one per tap) before they are converted. A row group (one ADC read) is one (tile, fold)."""
    rows, kernel_taps = np.asarray(c_in, dtype=np.int64), np.asarray(taps, dtype=np.int64)
    return -(-rows // size), -(-kernel_taps // pe_kernel**2)


@dataclass(frozen=True)
class CrossbarReads:
    """How one layer's weights are read off the crossbars: what the cost model charges and the
    in-the-loop forward pass (``mdsnn_search.snn.crossbar``) computes, from one rule.

    Rows: input channel c sits in row tile c // B; kernel tap t (row-major over k x k) in fold
    t // pe_kernel^2. Every (row tile, fold) pair is one row group, whose column partial sum one
    conversion reads. Columns: a weight of ``w_bits`` is stored offset-free as w + 2^(w_bits-1)
    (see :func:`.laws.cells_per_weight`) in ``len(slice_bits)`` cells, slice j (least
    significant first) holding ``slice_bits[j]`` bits at weight 2^(j b_c), converted at
    ``adc_bits[j]``.
    """

    rows: int
    """B: input channels one crossbar holds."""
    taps_per_pe: int
    """pe_kernel^2: taps whose crossbars a PE sums before conversion."""
    row_tiles: int
    fold: int
    bits_per_cell: int
    slice_bits: tuple[int, ...]
    adc_bits: tuple[int, ...]

    @property
    def row_groups(self) -> int:
        return self.row_tiles * self.fold


def crossbar_reads(
    spec: LayerSpec, c_in: int, w_bits: int, preset: HardwarePreset
) -> CrossbarReads:
    """The reads of layer ``spec`` with ``c_in`` kept input channels at ``w_bits`` on ``preset``."""
    xb, adc = preset.crossbar, preset.adc
    b_c = xb.bits_per_cell
    row_tiles, fold = row_grouping(c_in, spec.kernel * spec.kernel, xb.size, xb.pe_kernel)
    cells = int(laws.cells_per_weight(w_bits, b_c))
    top_bits = int(laws.top_slice_bits(w_bits, b_c))
    top_adc = int(laws.top_adc_bits(w_bits, b_c, adc.bits, adc.min_bits, adc.follow_slice_bits))
    return CrossbarReads(
        rows=xb.size,
        taps_per_pe=xb.pe_kernel**2,
        row_tiles=int(row_tiles),
        fold=int(fold),
        bits_per_cell=b_c,
        slice_bits=(b_c,) * (cells - 1) + (top_bits,),
        adc_bits=(adc.bits,) * (cells - 1) + (top_adc,),
    )


@dataclass(frozen=True)
class WeightSlices:
    """Rules 1-2 applied to weight bits."""

    cells: Ints
    adc_widest: Ints
    """The layer's highest ADC resolution (sizes its ADCs and its conversion time)."""
    adc_energy: Floats
    """Mean energy of one conversion over the slices, relative to the reference bits."""
    partial_sum_bits: Ints


@dataclass(frozen=True)
class CrossbarMapping:
    """Crossbar mapping of the kept channels (rule 1) and how full the crossbars are."""

    row_tiles: Ints
    fold: Ints
    """PEs a kernel spans: ceil(taps / pe_kernel^2)."""
    row_groups: Ints
    col_tiles: Ints
    neuron_groups: Ints
    pes: Ints
    columns: Ints
    """Columns converted per row group and site (mapped ones, or all with charge_unmapped_cells)."""
    row_fill: Floats | float
    col_fill: Floats | float
    neuron_fill: Floats | float


def weight_slices(w_bits: Ints, preset: HardwarePreset) -> WeightSlices:
    """The aware model's rules 1-2 (:mod:`.aware`): cells per weight, the ADC bits per slice
    (``follow_slice_bits``) and their mean conversion energy, the partial-sum width."""
    b_c, adc = preset.crossbar.bits_per_cell, preset.adc
    cells = laws.cells_per_weight(w_bits, b_c)
    full = np.full(w_bits.shape, adc.bits, dtype=np.int64)
    top = laws.top_adc_bits(w_bits, b_c, adc.bits, adc.min_bits, adc.follow_slice_bits)
    full_energy = laws.adc_energy_scale(adc.bits, adc.reference_bits)
    return WeightSlices(
        cells=cells,
        adc_widest=np.where(cells > 1, full, top),
        adc_energy=((cells - 1) * full_energy + laws.adc_energy_scale(top, adc.reference_bits))
        / cells,
        partial_sum_bits=laws.partial_sum_bits(top, cells, b_c),
    )


def crossbar_mapping(
    c_in: Ints, c_out: Ints, cells: Ints, geometry: TableGeometry, preset: HardwarePreset
) -> CrossbarMapping:
    """Kept channels onto B x B crossbars (rule 1): row groups, column tiles, PEs and fills."""
    b = preset.crossbar.size
    row_tiles, fold = row_grouping(c_in, geometry.taps, b, preset.crossbar.pe_kernel)
    col_tiles = -(-(cells * c_out) // b)
    neuron_groups = -(-c_out // b)
    full = preset.quirks.charge_unmapped_cells
    return CrossbarMapping(
        row_tiles=row_tiles,
        fold=fold,
        row_groups=row_tiles * fold,
        col_tiles=col_tiles,
        neuron_groups=neuron_groups,
        pes=row_tiles * fold * col_tiles,
        columns=col_tiles * b if full else cells * c_out,
        row_fill=1.0 if full else c_in / (row_tiles * b),
        col_fill=1.0 if full else cells * c_out / (col_tiles * b),
        neuron_fill=1.0 if full else c_out / (neuron_groups * b),
    )
