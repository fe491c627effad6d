"""The aware engine's rules, one at a time (the rules are documented in hardware/aware.py)."""

from __future__ import annotations

import math

import pytest

from mdsnn_search.hardware import LayerActivity, LayerSpec, estimate_cost, laws, load_preset
from mdsnn_search.precision import LayerPrecision


def conv(name: str, c_in: int, c_out: int, side: int, kernel: int = 3, **kw: object) -> LayerSpec:
    return LayerSpec(name, c_in, c_out, kernel, side, side, side, side, **kw)  # type: ignore[arg-type]


def bits(w: int, u: int = 4, bn: int = 8) -> LayerPrecision:
    return LayerPrecision(w_bits=w, u_bits=u, bn_bits=bn)


RRAM = load_preset("rram_64")


@pytest.mark.parametrize(
    ("w_bits", "bits_per_cell", "cells"),
    [(1, 4, 1), (2, 4, 1), (4, 4, 1), (5, 4, 2), (8, 4, 2), (32, 4, 8), (4, 1, 4), (32, 1, 32)],
)
def test_cells_per_weight(w_bits: int, bits_per_cell: int, cells: int) -> None:
    assert laws.cells_per_weight(w_bits, bits_per_cell) == cells


def test_bit_slicing_doubles_columns_and_adds_shift_add() -> None:
    layers = [conv("c", 64, 64, 8)]
    w4 = estimate_cost(layers, RRAM, timesteps=1, precision={"c": bits(4)})
    w8 = estimate_cost(layers, RRAM, timesteps=1, precision={"c": bits(8)})
    assert (w4.layers[0].cells_per_weight, w4.pes) == (1, 1)
    assert (w8.layers[0].cells_per_weight, w8.pes) == (2, 2)
    for component in ("crossbar", "adc", "mux", "tile_buffer", "htree"):
        assert w8.energy_breakdown_pj[component] == pytest.approx(2 * w4.energy_breakdown_pj[component])
    assert w4.energy_breakdown_pj["shift_add"] == 0.0
    # One shift-add per conversion into an adc_bits + b_c = 8-bit accumulator.
    conversions = w8.energy_breakdown_pj["adc"] / RRAM.energy_pj.adc
    assert w8.energy_breakdown_pj["shift_add"] == pytest.approx(conversions * RRAM.energy_pj.int8_add)
    assert w8.energy_breakdown_pj["neuron"] == w4.energy_breakdown_pj["neuron"]
    assert w8.latency_ns == w4.latency_ns
    assert w8.area_breakdown_um2["shift_add"] > 0 == w4.area_breakdown_um2["shift_add"]


def test_sram_columns_scale_with_every_weight_bit() -> None:
    sram = load_preset("sram_64")
    layers = [conv("c", 64, 64, 8)]
    pes = [estimate_cost(layers, sram, timesteps=1, precision={"c": bits(w)}).pes for w in (1, 2, 4, 8)]
    assert pes == [1, 2, 4, 8]


def test_unmapped_cells_draw_nothing_unless_quirk() -> None:
    layers = [conv("c", 16, 32, 8)]  # a quarter of the rows, half the columns of one crossbar
    base = estimate_cost(layers, RRAM, timesteps=1, precision={"c": bits(4)})
    quirk = RRAM.with_overrides(quirks={"charge_unmapped_cells": True})
    full = estimate_cost(layers, quirk, timesteps=1, precision={"c": bits(4)})
    assert base.energy_breakdown_pj["crossbar"] == pytest.approx(
        full.energy_breakdown_pj["crossbar"] * 16 / 64 * 32 / 64
    )
    assert base.energy_breakdown_pj["adc"] == pytest.approx(full.energy_breakdown_pj["adc"] * 32 / 64)
    assert base.energy_breakdown_pj["tile_buffer"] == full.energy_breakdown_pj["tile_buffer"]


def test_membrane_bits_scale_neuron_energy_and_memory() -> None:
    layers = [conv("c", 64, 64, 8)]
    u4 = estimate_cost(layers, RRAM, timesteps=1, precision={"c": bits(4, u=4)})
    u16 = estimate_cost(layers, RRAM, timesteps=1, precision={"c": bits(4, u=16)})
    assert u16.energy_breakdown_pj["neuron"] == pytest.approx(4 * u4.energy_breakdown_pj["neuron"])
    assert u4.energy_breakdown_pj["neuron"] == pytest.approx(64 * 5.096 * 4 / 22)
    assert u4.area_breakdown_um2["neuron_memory"] == pytest.approx(64 * 8 * 8 * 0.7391 * 4)
    assert u16.area_breakdown_um2["neuron_memory"] == pytest.approx(4 * u4.area_breakdown_um2["neuron_memory"])


def test_bn_law() -> None:
    e = RRAM.energy_pj
    assert laws.bn_cost(8, e.int8_multiply, e.int8_add, e.fp32_multiply_add) == pytest.approx(
        e.int8_multiply + e.int8_add
    )
    assert laws.bn_cost(4, e.int8_multiply, e.int8_add, e.fp32_multiply_add) == pytest.approx(
        e.int8_multiply / 4 + e.int8_add / 2
    )
    for full in (16, 32):
        assert laws.bn_cost(full, e.int8_multiply, e.int8_add, e.fp32_multiply_add) == e.fp32_multiply_add
    spiking = conv("c", 64, 64, 8)
    silent = conv("c", 64, 64, 8, spiking=False)
    report = estimate_cost([spiking], RRAM, timesteps=2, precision={"c": bits(4, bn=8)})
    assert report.energy_breakdown_pj["bn"] == pytest.approx(2 * 64 * 64 * (e.int8_multiply + e.int8_add))
    bn_params = 2 * 8 * 64 * 0.7391
    assert report.area_breakdown_um2["bn"] == pytest.approx(
        RRAM.area_um2.int8_multiply + RRAM.area_um2.int8_add + bn_params
    )
    assert estimate_cost([silent], RRAM, timesteps=2).energy_breakdown_pj["bn"] == 0.0


def test_adc_law_is_one_at_reference_and_follows_zigzag() -> None:
    assert laws.adc_energy_scale(4, 4) == 1.0
    assert laws.adc_area_scale(4, 4) == 1.0
    assert laws.adc_energy_scale(5, 4) == pytest.approx((500 + 0.001 * 4**5) / (400 + 0.001 * 4**4))
    assert laws.adc_area_scale(5, 4) == pytest.approx(2 * 10 ** (-0.0369))
    rram_128 = load_preset("rram_128")
    report = estimate_cost([conv("c", 128, 128, 4)], rram_128, timesteps=1, precision={"c": bits(4)})
    conversions = 128 * 16  # one PE cycle per site, 128 columns converted
    assert report.energy_breakdown_pj["adc"] == pytest.approx(conversions * 2.03084 * laws.adc_energy_scale(5, 4))
    assert report.area_breakdown_um2["adc"] == pytest.approx(8 * 16 * 693.633 * laws.adc_area_scale(5, 4))


def test_pruning_shrinks_this_layer_and_the_next() -> None:
    layers = [
        conv("c1", 2, 64, 8),
        conv("c2", 64, 128, 8),
        LayerSpec("fc", 128 * 16, 10, 1, 1, 1, 1, 1, False, "linear"),
    ]
    report = estimate_cost(layers, RRAM, timesteps=1, keep_fraction={"c1": 0.5, "c2": 0.3})
    assert [(row.c_in, row.c_out) for row in report.layers] == [(2, 32), (32, 38), (38 * 16, 10)]
    full = estimate_cost(layers, RRAM, timesteps=1)
    assert report.energy_pj < full.energy_pj and report.area_um2 < full.area_um2
    assert report.ops < full.ops
    assert estimate_cost(layers, RRAM, timesteps=1, keep_fraction={"c1": 0.001}).layers[0].c_out == 1


def test_event_mode_scales_activity_driven_terms_only() -> None:
    layers = [conv("c", 64, 64, 8)]
    dense = estimate_cost(layers, RRAM, timesteps=1)
    half = estimate_cost(layers, RRAM, timesteps=1, activity={"c": LayerActivity(0.5, 0.2)})
    silent = estimate_cost(layers, RRAM, timesteps=1, activity={"c": LayerActivity(0.0, 0.0)})
    assert half.energy_breakdown_pj["crossbar"] == pytest.approx(0.5 * dense.energy_breakdown_pj["crossbar"])
    p_patch = 1 - 0.5 ** (9 * 64)
    assert half.energy_breakdown_pj["adc"] == pytest.approx(p_patch * dense.energy_breakdown_pj["adc"])
    for component in ("crossbar", "adc", "mux", "subtractor", "neuron", "bn"):
        assert silent.energy_breakdown_pj[component] == 0.0
    for component in ("temp_buffer", "tile_buffer", "htree", "memory_fetch"):
        assert silent.energy_breakdown_pj[component] == dense.energy_breakdown_pj[component]
    assert silent.area_um2 == dense.area_um2 and silent.latency_ns == dense.latency_ns
    assert half.synops == pytest.approx(0.5 * dense.synops)
    assert half.conventions["activity"].startswith("event (measured input rates")


def test_dense_mode_ignores_activity() -> None:
    layers = [conv("c", 64, 64, 8)]
    preset = RRAM.with_overrides(conventions={"activity_mode": "dense"})
    report = estimate_cost(layers, preset, timesteps=1, activity={"c": LayerActivity(0.1, 0.1)})
    assert report.energy_pj == estimate_cost(layers, preset, timesteps=1).energy_pj
    assert "ignored" in report.conventions["activity"]


def test_any_active() -> None:
    assert laws.any_active(0.0, 100) == 0.0
    assert laws.any_active(1.0, 100) == 1.0
    assert laws.any_active(0.1, 1) == pytest.approx(0.1)
    assert laws.any_active(0.01, 576) == pytest.approx(1 - 0.99**576)


def test_tiles_per_layer_unless_packed() -> None:
    layers = [conv("a", 64, 64, 4), conv("b", 64, 64, 4), conv("c", 64, 128, 4)]  # 1 + 1 + 2 PEs
    assert estimate_cost(layers, RRAM, timesteps=1, precision=dict.fromkeys("abc", bits(4))).tiles == 3
    packed = RRAM.with_overrides(quirks={"pack_layers_in_tiles": True})
    assert estimate_cost(layers, packed, timesteps=1, precision=dict.fromkeys("abc", bits(4))).tiles == 1


def test_neuron_memory_covers_spiking_layers_unless_quirk() -> None:
    layers = [conv(f"c{i}", 64, 64, 2) for i in range(7)] + [LayerSpec("fc", 256, 10, 1, 1, 1, 1, 1, False, "linear")]
    precision = {layer.name: bits(4, u=8) for layer in layers}
    report = estimate_cost(layers, RRAM, timesteps=1, precision=precision)
    assert report.area_breakdown_um2["neuron_memory"] == pytest.approx(7 * 64 * 4 * 0.7391 * 8)
    quirk = RRAM.with_overrides(quirks={"neuron_memory_first_five_layers": True})
    quirked = estimate_cost(layers, quirk, timesteps=1, precision=precision)
    assert quirked.area_breakdown_um2["neuron_memory"] == pytest.approx(5 * 64 * 4 * 0.7391 * 8)


def test_missing_precision_is_full_precision() -> None:
    layers = [conv("c", 64, 64, 8)]
    implicit = estimate_cost(layers, RRAM, timesteps=1)
    explicit = estimate_cost(layers, RRAM, timesteps=1, precision={"c": LayerPrecision()})
    assert implicit.energy_pj == explicit.energy_pj
    assert implicit.layers[0].cells_per_weight == 8
    assert (implicit.layers[0].w_bits, implicit.layers[0].u_bits, implicit.layers[0].bn_bits) == (32, 32, 32)


def test_large_kernels_fold_over_pes() -> None:
    five = estimate_cost([conv("c", 64, 64, 8, kernel=5)], RRAM, timesteps=1, precision={"c": bits(4)})
    assert five.pes == math.ceil(25 / 9)


def test_breakdowns_add_up() -> None:
    layers = [
        conv("c1", 2, 64, 16),
        conv("c2", 64, 200, 8),
        LayerSpec("fc", 200 * 64, 10, 1, 1, 1, 1, 1, False, "linear"),
    ]
    report = estimate_cost(
        layers, RRAM, timesteps=3, precision={"c2": bits(8)}, activity={"c2": LayerActivity(0.2, 0.1)}
    )
    assert sum(report.energy_breakdown_pj.values()) == pytest.approx(report.energy_pj, rel=1e-12)
    assert sum(row.energy_pj for row in report.layers) == pytest.approx(report.energy_pj, rel=1e-12)
    assert sum(report.area_breakdown_um2.values()) == pytest.approx(report.area_um2, rel=1e-12)
    assert report.latency_ns == report.layers[-1].halt_ns
    assert report.layers[1].start_ns == int(0.75 * 64 * 256) * 3 * 104
