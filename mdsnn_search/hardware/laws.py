"""Scaling laws of the aware model: how a cost moves with bits and with spike activity.

Each law is a small pure function so it can be read, tested and cited on its own. Every law is
1 at its reference point, which is what lets the aware model reduce to SpikeSim's numbers.
"""

from __future__ import annotations

import math

from mdsnn_search.precision import is_full_precision

# --- weights -------------------------------------------------------------------------------------


def cells_per_weight(w_bits: int, bits_per_cell: int) -> int:
    """Bit slicing (NeuroSim-style): a b_w-bit weight occupies ceil(b_w / b_c) cells side by side.

    A weight narrower than a cell still takes a whole cell (a 2-bit weight in a 4-bit RRAM cell
    uses 4 of its 16 levels), so weight bits below b_c save nothing in the array. Full precision is
    b_w = 32: 8 cells at b_c = 4, 32 at b_c = 1 (SRAM).

    Signed weights use the offset convention SpikeSim's subtractor implies: w in
    [-2^(b-1), 2^(b-1)) is stored as the unsigned w + 2^(b-1), and the digital subtractor removes
    offset x (number of active rows) after conversion. No second (differential) column is used,
    so signedness costs two subtracts per conversion, not twice the columns.
    """
    return -(-w_bits // bits_per_cell)


# --- ADC -----------------------------------------------------------------------------------------


def _adc_energy_shape(bits: int) -> float:
    # ZigZag's analog-IMC ADC energy, (k5 * b + k6 * 4^b) * Vdd^2 with k5 = 100 fF, k6 = 0.001 fF:
    # a linear (comparator/logic) term plus a 4^b (capacitive DAC, thermal-noise limited) term.
    return 100.0 * bits + 0.001 * 4.0**bits


def _adc_area_shape(bits: int) -> float:
    # ZigZag's ADC area, 10^(-0.0369 * b + 1.206) * 2^b um2 (fitted on three 28 nm AIMC macros).
    return float(10.0 ** (-0.0369 * bits)) * 2.0**bits


def adc_energy_scale(bits: int, reference_bits: int) -> float:
    """Energy of one conversion at ``bits`` relative to ``reference_bits`` (ZigZag's law)."""
    return _adc_energy_shape(bits) / _adc_energy_shape(reference_bits)


def adc_area_scale(bits: int, reference_bits: int) -> float:
    """Area of one ADC at ``bits`` relative to ``reference_bits`` (ZigZag's law)."""
    return _adc_area_shape(bits) / _adc_area_shape(reference_bits)


# --- digital arithmetic (shift-add, batch norm) --------------------------------------------------


def adder_scale(bits: int) -> float:
    """A ripple-carry adder's energy and area grow linearly with its width: relative to 8 bits."""
    return bits / 8.0


def multiplier_scale(bits: int) -> float:
    """An array multiplier has bits^2 partial-product cells: energy and area relative to 8 bits."""
    return (bits / 8.0) ** 2


def shift_add_bits(adc_bits: int, cells: int, bits_per_cell: int) -> int:
    """Width of the accumulator that merges ``cells`` bit slices: the ADC word shifted by up to
    (cells - 1) * b_c places."""
    return adc_bits + (cells - 1) * bits_per_cell


def bn_cost(bn_bits: int, int8_multiply: float, int8_add: float, fp32_multiply_add: float) -> float:
    """Cost (energy or area, by the constants given) of one folded-BN multiply-add at ``bn_bits``.

    Folded BN leaves a per-channel scale and bias applied to each neuron's input current once per
    timestep. At integer widths the multiplier scales quadratically and the adder linearly in
    bits; at full precision (>= 16 bits, as in :mod:`mdsnn_search.precision`) it is a
    floating-point multiply-add. A preset whose BN is folded completely into the weights (bias
    only) sets ``int8_multiply`` to zero.
    """
    if is_full_precision(bn_bits):
        return fp32_multiply_add
    return int8_multiply * multiplier_scale(bn_bits) + int8_add * adder_scale(bn_bits)


# --- activity ------------------------------------------------------------------------------------


def any_active(rate: float, inputs: float) -> float:
    """Probability that at least one of ``inputs`` independent inputs spikes at ``rate``.

    A conversion (or a neuron update) can be skipped only when every row feeding it is silent.
    Independence is the conservative assumption: spikes that cluster leave more patches silent,
    so real savings are at least this large. Exact at the ends: 0 at rate 0, 1 at rate 1.
    """
    if rate >= 1.0:
        return 1.0
    if rate <= 0.0 or inputs <= 0:
        return 0.0
    return -math.expm1(inputs * math.log1p(-rate))
