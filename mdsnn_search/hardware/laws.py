"""Scaling laws of the aware model: how a cost moves with bits and with spike activity.

Each law is a small pure function so it can be read, tested and cited on its own, and each works
elementwise on numpy arrays as well as on plain numbers (the aware engine scores many
configurations at once). Every law is 1 at its reference point, which is what lets the aware model
reduce to SpikeSim's numbers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mdsnn_search.precision import FULL_PRECISION_BITS

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]

# --- weights -------------------------------------------------------------------------------------


def cells_per_weight(w_bits: ArrayLike, bits_per_cell: int) -> Ints:
    """Bit slicing (NeuroSim-style): a b_w-bit weight occupies c = ceil(b_w / b_c) cells side by
    side.

    A weight narrower than a cell still takes a whole cell (a 2-bit weight in a 4-bit RRAM cell
    uses 4 of its 16 levels). Full precision is b_w = 32: 8 cells at b_c = 4, 32 at b_c = 1 (SRAM).

    Signed weights use the offset convention SpikeSim's subtractor implies: w in
    [-2^(b-1), 2^(b-1)) is stored as the unsigned w + 2^(b-1), and the digital subtractor removes
    offset x (number of active rows) after conversion. No second (differential) column is used,
    so signedness costs two subtracts per conversion, not twice the columns.
    """
    return -(-np.asarray(w_bits, dtype=np.int64) // bits_per_cell)


def top_slice_bits(w_bits: ArrayLike, bits_per_cell: int) -> Ints:
    """Bits the most significant slice holds: slice j holds min(b_c, b_w - (j-1) b_c) bits, so all
    slices are full but the last, which holds the remainder (b_c when b_c divides b_w)."""
    bits = np.asarray(w_bits, dtype=np.int64)
    return bits - (cells_per_weight(bits, bits_per_cell) - 1) * bits_per_cell


# --- ADC -----------------------------------------------------------------------------------------


def slice_adc_bits(slice_bits: ArrayLike, bits_per_cell: int, adc_bits: int, min_bits: int) -> Ints:
    """ADC resolution for a column of cells that hold ``slice_bits`` of a weight each.

    The partial sum of such a column spans (b_c - b_j) fewer bits than one of full cells, so it
    needs that many fewer ADC bits: b_ADC,j = max(b_min, b_ADC - (b_c - b_j)). ISAAC (Shafiee et
    al., ISCA 2016) sizes its ADC as log2(rows) + cell bits + input bits - 1; NeuroSim and CiMLoop
    make the resolution a function of the bits per cell likewise.
    """
    return np.maximum(min_bits, adc_bits - (bits_per_cell - np.asarray(slice_bits, dtype=np.int64)))


def top_adc_bits(
    w_bits: ArrayLike, bits_per_cell: int, adc_bits: int, min_bits: int, follow_slice_bits: bool
) -> Ints:
    """ADC resolution of the most significant slice's columns (every other slice is full and
    converts at ``adc_bits``): :func:`slice_adc_bits` of its bits when the preset follows slice
    bits, else ``adc_bits``. The cost model and the in-the-loop forward pass both read it here."""
    bits = np.asarray(w_bits, dtype=np.int64)
    if not follow_slice_bits:
        return np.full(bits.shape, adc_bits, dtype=np.int64)
    return slice_adc_bits(top_slice_bits(bits, bits_per_cell), bits_per_cell, adc_bits, min_bits)


def _adc_energy_shape(bits: ArrayLike) -> Floats:
    # ZigZag's analog-IMC ADC energy, (k5 * b + k6 * 4^b) * Vdd^2 with k5 = 100 fF, k6 = 0.001 fF:
    # a linear (comparator/logic) term plus a 4^b (capacitive DAC, thermal-noise limited) term.
    b = np.asarray(bits, dtype=np.float64)
    return 100.0 * b + 0.001 * 4.0**b


def _adc_area_shape(bits: ArrayLike) -> Floats:
    # ZigZag's ADC area, 10^(-0.0369 * b + 1.206) * 2^b um2 (fitted on three 28 nm AIMC macros).
    b = np.asarray(bits, dtype=np.float64)
    return 10.0 ** (-0.0369 * b) * 2.0**b


def adc_energy_scale(bits: ArrayLike, reference_bits: int) -> Floats:
    """Energy of one conversion at ``bits`` relative to ``reference_bits`` (ZigZag's law)."""
    return _adc_energy_shape(bits) / _adc_energy_shape(reference_bits)


def adc_area_scale(bits: ArrayLike, reference_bits: int) -> Floats:
    """Area of one ADC at ``bits`` relative to ``reference_bits`` (ZigZag's law)."""
    return _adc_area_shape(bits) / _adc_area_shape(reference_bits)


def partial_sum_bits(top_adc_bits: ArrayLike, cells: ArrayLike, bits_per_cell: int) -> Ints:
    """Width of a weight's merged partial sum: the top slice's ADC word shifted by (c - 1) b_c
    places. With every slice full this is b_ADC + (c - 1) b_c; it grows with every weight bit."""
    return (
        np.asarray(top_adc_bits, dtype=np.int64)
        + (np.asarray(cells, dtype=np.int64) - 1) * bits_per_cell
    )


# --- digital arithmetic (shift-add, batch norm) --------------------------------------------------


def adder_scale(bits: ArrayLike) -> Floats:
    """A ripple-carry adder's energy and area grow linearly with its width: relative to 8 bits."""
    return np.asarray(bits, dtype=np.float64) / 8.0


def multiplier_scale(bits: ArrayLike) -> Floats:
    """An array multiplier has bits^2 partial-product cells: energy and area relative to 8 bits."""
    return (np.asarray(bits, dtype=np.float64) / 8.0) ** 2


def bn_cost(
    bn_bits: ArrayLike, int8_multiply: float, int8_add: float, fp32_multiply_add: float
) -> Floats:
    """Cost (energy or area, by the constants given) of one folded-BN multiply-add at ``bn_bits``.

    Folded BN leaves a per-channel scale and bias applied to each neuron's input current once per
    timestep. Below 32 bits it is an integer unit: the multiplier scales quadratically and the
    adder linearly in bits (an int16 BN is not an FP32 one). Only at 32 bits is it a
    floating-point multiply-add, which costs more than any integer width up to 31 on the shipped
    constants. A preset whose BN is folded completely into the weights (bias only) sets
    ``int8_multiply`` to zero.
    """
    bits = np.asarray(bn_bits, dtype=np.float64)
    integer = int8_multiply * multiplier_scale(bits) + int8_add * adder_scale(bits)
    return np.where(bits >= FULL_PRECISION_BITS, fp32_multiply_add, integer)


# --- activity ------------------------------------------------------------------------------------


def any_active(rate: ArrayLike, inputs: ArrayLike) -> Floats:
    """Probability that at least one of ``inputs`` (>= 1) independent inputs spikes at ``rate``.

    A conversion (or a neuron update) can be skipped only when every row feeding it is silent.
    Independence is the conservative assumption: spikes that cluster leave more patches silent,
    so real savings are at least this large. Exact at the ends: 0 at rate 0, 1 at rate 1.
    """
    with np.errstate(divide="ignore"):
        log_silent = np.log1p(-np.asarray(rate, dtype=np.float64))  # -inf at rate 1
    return -np.expm1(np.asarray(inputs, dtype=np.float64) * log_silent)
