"""The aware engine's rules, one at a time (the rules are documented in hardware/aware.py)."""

from __future__ import annotations

import itertools
import math

import pytest

from mdsnn_search.hardware import LayerActivity, LayerSpec, estimate_cost, laws, load_preset
from mdsnn_search.precision import LayerPrecision


def conv(name: str, c_in: int, c_out: int, side: int, kernel: int = 3, **kw: object) -> LayerSpec:
    return LayerSpec(name, c_in, c_out, kernel, side, side, side, side, **kw)  # type: ignore[arg-type]


def bits(w: int, u: int = 4, bn: int = 8) -> LayerPrecision:
    return LayerPrecision(w_bits=w, u_bits=u, bn_bits=bn)


RRAM = load_preset("rram_64")
E, A = RRAM.energy_pj, RRAM.area_um2
ONE = [conv("c", 64, 64, 8)]  # one PE at W4: 64 sites


def cost_one(w: int, preset=RRAM, **kw: object):  # type: ignore[no-untyped-def]
    return estimate_cost(ONE, preset, timesteps=1, precision={"c": bits(w, **kw)})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("w_bits", "bits_per_cell", "cells", "top"),
    [
        (1, 4, 1, 1),
        (2, 4, 1, 2),
        (4, 4, 1, 4),
        (5, 4, 2, 1),
        (8, 4, 2, 4),
        (32, 4, 8, 4),
        (4, 1, 4, 1),
        (32, 1, 32, 1),
    ],
)
def test_slices(w_bits: int, bits_per_cell: int, cells: int, top: int) -> None:
    assert laws.cells_per_weight(w_bits, bits_per_cell) == cells
    assert laws.top_slice_bits(w_bits, bits_per_cell) == top


@pytest.mark.parametrize(("slice_bits", "adc_bits"), [(4, 4), (3, 3), (2, 2), (1, 1)])
def test_adc_bits_follow_the_bits_a_column_holds(slice_bits: int, adc_bits: int) -> None:
    assert laws.slice_adc_bits(slice_bits, 4, 4, 1) == adc_bits
    assert laws.slice_adc_bits(slice_bits, 4, 4, 3) == max(3, adc_bits)
    assert laws.slice_adc_bits(slice_bits, 4, 5, 1) == adc_bits + 1  # rram_128: 5 bits for 128 rows


def test_partial_sum_width_grows_with_every_weight_bit() -> None:
    widths = []
    for w in range(1, 33):
        cells = laws.cells_per_weight(w, 4)
        top = laws.slice_adc_bits(laws.top_slice_bits(w, 4), 4, 4, 1)
        widths.append(int(laws.partial_sum_bits(top, cells, 4)))
    assert widths[:9] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert all(b > a for a, b in itertools.pairwise(widths))


def test_w8_doubles_conversions_but_not_input_traffic() -> None:
    w4, w8 = cost_one(4), cost_one(8)
    assert (w4.layers[0].cells_per_weight, w4.pes) == (1, 1)
    assert (w8.layers[0].cells_per_weight, w8.pes) == (2, 2)
    for component in ("crossbar", "adc", "mux", "subtractor", "temp_buffer"):
        assert w8.energy_breakdown_pj[component] == pytest.approx(
            2 * w4.energy_breakdown_pj[component]
        )
    # Rule 4: spikes move once per row group and neuron group, whatever the slices ...
    for component in ("htree", "memory_fetch", "neuron", "bn"):
        assert w8.energy_breakdown_pj[component] == w4.energy_breakdown_pj[component]
    # ... and the partial sums are 4 + 4 = 8 bits wide instead of 4.
    assert w8.energy_breakdown_pj["tile_buffer"] == pytest.approx(
        2 * w4.energy_breakdown_pj["tile_buffer"]
    )
    assert w4.energy_breakdown_pj["tile_buffer"] == pytest.approx(64 * E.tile_buffer)
    conversions = 2 * 64 * 64
    assert w8.energy_breakdown_pj["shift_add"] == pytest.approx(conversions * E.int8_add * 8 / 8)
    assert w4.energy_breakdown_pj["shift_add"] == 0.0
    assert w8.latency_ns == w4.latency_ns  # both convert at 4 bits
    assert (
        w8.area_breakdown_um2["shift_add"] == pytest.approx(2 * 8 * A.int8_add)
        and w4.area_breakdown_um2["shift_add"] == 0
    )


def test_w2_converts_at_two_bits() -> None:
    w4, w2 = cost_one(4), cost_one(2)
    assert w2.pes == w4.pes == 1
    assert w2.energy_breakdown_pj["adc"] == pytest.approx(
        w4.energy_breakdown_pj["adc"] * laws.adc_energy_scale(2, 4)
    )
    assert w2.energy_breakdown_pj["tile_buffer"] == pytest.approx(
        w4.energy_breakdown_pj["tile_buffer"] / 2
    )
    assert w2.area_breakdown_um2["adc"] == pytest.approx(
        w4.area_breakdown_um2["adc"] * laws.adc_area_scale(2, 4)
    )
    # Rule 5: a PE cycle is 26 clocks at 4 bits, 8 conversions x 2 bits x 0.5 clock fewer at 2 bits.
    assert w4.latency_ns == 64 * 26 * 4.0
    assert w2.latency_ns == 64 * (26 - 8 * 2 * 0.5) * 4.0
    assert w2.edap < w4.edap


def test_fixed_adc_preset_sees_no_sub_cell_bits() -> None:
    fixed = RRAM.with_overrides(adc={"follow_slice_bits": False})
    assert cost_one(2, fixed).energy_pj == cost_one(4, fixed).energy_pj
    assert cost_one(2, fixed).latency_ns == cost_one(4, fixed).latency_ns


def test_sram_columns_scale_with_every_weight_bit() -> None:
    sram = load_preset("sram_64")
    reports = [cost_one(w, sram) for w in (1, 2, 4, 8)]
    assert [report.pes for report in reports] == [1, 2, 4, 8]
    assert len({report.energy_breakdown_pj["htree"] for report in reports}) == 1
    assert len({report.latency_ns for report in reports}) == 1  # 1-bit cells: every column is full


def test_unmapped_cells_draw_nothing_unless_quirk() -> None:
    layers = [conv("c", 16, 32, 8)]  # a quarter of the rows, half the columns of one crossbar
    base = estimate_cost(layers, RRAM, timesteps=1, precision={"c": bits(4)})
    quirk = RRAM.with_overrides(quirks={"charge_unmapped_cells": True})
    full = estimate_cost(layers, quirk, timesteps=1, precision={"c": bits(4)})
    scale = {
        "crossbar": 16 / 64 * 32 / 64,
        "adc": 32 / 64,
        "tile_buffer": 32 / 64,
        "htree": 16 / 64,
    }
    for component, fraction in scale.items():
        assert base.energy_breakdown_pj[component] == pytest.approx(
            full.energy_breakdown_pj[component] * fraction
        )


def test_membrane_is_one_read_modify_write_per_neuron() -> None:
    u4, u16 = cost_one(4, u=4), cost_one(4, u=16)
    assert u4.energy_breakdown_pj["neuron"] == pytest.approx(64 * 64 * E.neuron * 4 / 22)
    assert u16.energy_breakdown_pj["neuron"] == pytest.approx(4 * u4.energy_breakdown_pj["neuron"])
    assert u4.area_breakdown_um2["neuron_memory"] == pytest.approx(64 * 8 * 8 * A.memory_bit * 4)
    assert u16.area_breakdown_um2["neuron_memory"] == pytest.approx(
        4 * u4.area_breakdown_um2["neuron_memory"]
    )
    # SpikeSim's count: one neuron-module update per PE cycle (two row tiles x one group x 64
    # sites).
    quirk = RRAM.with_overrides(quirks={"neuron_update_per_pe_cycle": True})
    wide = estimate_cost(
        [conv("c", 128, 64, 8)], quirk, timesteps=1, precision={"c": bits(4, u=22)}
    )
    assert wide.energy_breakdown_pj["neuron"] == pytest.approx(2 * 64 * E.neuron)


def test_bn_law_is_integer_below_32_bits() -> None:
    unit = {
        b: float(laws.bn_cost(b, E.int8_multiply, E.int8_add, E.fp32_multiply_add))
        for b in (4, 8, 16, 31, 32)
    }
    assert unit[8] == pytest.approx(E.int8_multiply + E.int8_add)
    assert unit[4] == pytest.approx(E.int8_multiply / 4 + E.int8_add / 2)
    assert unit[16] == pytest.approx(4 * E.int8_multiply + 2 * E.int8_add)  # int16, not FP32
    assert unit[32] == E.fp32_multiply_add
    assert unit[4] < unit[8] < unit[16] < unit[31] < unit[32]
    spiking, silent = conv("c", 64, 64, 8), conv("c", 64, 64, 8, spiking=False)
    report = estimate_cost([spiking], RRAM, timesteps=2, precision={"c": bits(4, bn=8)})
    assert report.energy_breakdown_pj["bn"] == pytest.approx(2 * 64 * 64 * unit[8])
    bn_params = 2 * 8 * 64 * A.memory_bit
    assert report.area_breakdown_um2["bn"] == pytest.approx(
        A.int8_multiply + A.int8_add + bn_params
    )
    assert estimate_cost([silent], RRAM, timesteps=2).energy_breakdown_pj["bn"] == 0.0


def test_adc_law_is_one_at_reference_and_follows_zigzag() -> None:
    assert laws.adc_energy_scale(4, 4) == 1.0
    assert laws.adc_area_scale(4, 4) == 1.0
    assert laws.adc_energy_scale(5, 4) == pytest.approx((500 + 0.001 * 4**5) / (400 + 0.001 * 4**4))
    assert laws.adc_area_scale(5, 4) == pytest.approx(2 * 10 ** (-0.0369))
    rram_128 = load_preset("rram_128")
    report = estimate_cost(
        [conv("c", 128, 128, 4)], rram_128, timesteps=1, precision={"c": bits(4)}
    )
    conversions = 128 * 16  # one row group, 128 columns converted at 16 sites
    assert report.energy_breakdown_pj["adc"] == pytest.approx(
        conversions * E.adc * laws.adc_energy_scale(5, 4)
    )
    assert report.area_breakdown_um2["adc"] == pytest.approx(
        16 * A.adc * laws.adc_area_scale(5, 4)
    )  # 1 PE
    assert report.latency_ns == 16 * 30 * 4.0


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
    assert (
        estimate_cost(layers, RRAM, timesteps=1, keep_fraction={"c1": 0.001}).layers[0].c_out == 1
    )


def test_event_mode_scales_activity_driven_terms() -> None:
    dense = estimate_cost(ONE, RRAM, timesteps=1)
    half = estimate_cost(ONE, RRAM, timesteps=1, activity={"c": LayerActivity(0.5, 0.2)})
    silent = estimate_cost(ONE, RRAM, timesteps=1, activity={"c": LayerActivity(0.0, 0.0)})
    for component in ("crossbar", "htree", "memory_fetch"):  # silent rows: no read, no spike sent
        assert half.energy_breakdown_pj[component] == pytest.approx(
            0.5 * dense.energy_breakdown_pj[component]
        )
    p_patch = 1 - 0.5 ** (9 * 64)
    for component in ("adc", "mux", "temp_buffer", "tile_buffer", "neuron"):
        assert half.energy_breakdown_pj[component] == pytest.approx(
            p_patch * dense.energy_breakdown_pj[component]
        )
    assert silent.energy_pj == 0.0
    assert silent.area_um2 == dense.area_um2 and silent.latency_ns == dense.latency_ns
    assert half.synops == pytest.approx(0.5 * dense.synops)
    assert half.conventions["activity"].startswith("event (measured input rates")


def test_dense_mode_ignores_activity() -> None:
    preset = RRAM.with_overrides(conventions={"activity_mode": "dense"})
    report = estimate_cost(ONE, preset, timesteps=1, activity={"c": LayerActivity(0.1, 0.1)})
    assert report.energy_pj == estimate_cost(ONE, preset, timesteps=1).energy_pj
    assert "ignored" in report.conventions["activity"]


def test_any_active() -> None:
    assert laws.any_active(0.0, 100) == 0.0
    assert laws.any_active(1.0, 100) == 1.0
    assert laws.any_active(0.1, 1) == pytest.approx(0.1)
    assert laws.any_active(0.01, 576) == pytest.approx(1 - 0.99**576)


def test_tiles_packed_unless_per_layer() -> None:
    layers = [conv("a", 64, 64, 4), conv("b", 64, 64, 4), conv("c", 64, 128, 4)]  # 1 + 1 + 2 PEs
    precision = dict.fromkeys("abc", bits(4))
    packed = estimate_cost(layers, RRAM, timesteps=1, precision=precision)
    per_layer = estimate_cost(
        layers,
        RRAM.with_overrides(crossbar={"tile_packing": "per_layer"}),
        timesteps=1,
        precision=precision,
    )
    assert (packed.tiles, per_layer.tiles) == (1, 3)
    # Rule 6: PEs cost area where used; tile overhead per tile.
    pe = 9 * A.crossbar + 8 * (A.adc + A.mux)
    tile = 8 * A.subtractor + A.temp_buffer + A.tile_buffer + A.htree
    memories = sum(
        packed.area_breakdown_um2[key] for key in ("input_buffer", "neuron_memory", "bn")
    )
    assert packed.area_um2 == pytest.approx(4 * pe + tile + memories)
    assert per_layer.area_um2 == pytest.approx(4 * pe + 3 * tile + memories)
    slots = RRAM.with_overrides(quirks={"charge_empty_pe_slots": True})
    assert estimate_cost(layers, slots, timesteps=1, precision=precision).area_um2 == pytest.approx(
        8 * pe + tile + memories
    )


def test_neuron_memory_covers_spiking_layers_unless_quirk() -> None:
    layers = [conv(f"c{i}", 64, 64, 2) for i in range(7)] + [
        LayerSpec("fc", 256, 10, 1, 1, 1, 1, 1, False, "linear")
    ]
    precision = {layer.name: bits(4, u=8) for layer in layers}
    report = estimate_cost(layers, RRAM, timesteps=1, precision=precision)
    assert report.area_breakdown_um2["neuron_memory"] == pytest.approx(
        7 * 64 * 4 * A.memory_bit * 8
    )
    quirk = RRAM.with_overrides(quirks={"neuron_memory_first_five_layers": True})
    quirked = estimate_cost(layers, quirk, timesteps=1, precision=precision)
    assert quirked.area_breakdown_um2["neuron_memory"] == pytest.approx(
        5 * 64 * 4 * A.memory_bit * 8
    )


def test_latency_is_sites_with_pes_in_parallel_unless_quirk() -> None:
    layers = [conv("a", 64, 128, 8), conv("b", 128, 64, 4)]
    precision = dict.fromkeys("ab", bits(4))
    report = estimate_cost(layers, RRAM, timesteps=3, precision=precision)
    cycle = 104.0
    assert report.layers[1].start_ns == int(0.75 * 64) * 3 * cycle
    assert report.latency_ns == (int(0.75 * 64) + 16) * 3 * cycle
    quirk = RRAM.with_overrides(quirks={"cycle_per_output_neuron": True})
    quirked = estimate_cost(layers, quirk, timesteps=3, precision=precision)
    assert quirked.latency_ns == (int(0.75 * 128 * 64) + 64 * 16) * 3 * cycle


def test_missing_precision_is_full_precision() -> None:
    implicit = estimate_cost(ONE, RRAM, timesteps=1)
    explicit = estimate_cost(ONE, RRAM, timesteps=1, precision={"c": LayerPrecision()})
    assert implicit.energy_pj == explicit.energy_pj
    assert implicit.layers[0].cells_per_weight == 8
    assert (implicit.layers[0].w_bits, implicit.layers[0].u_bits, implicit.layers[0].bn_bits) == (
        32,
        32,
        32,
    )


def test_large_kernels_fold_over_pes() -> None:
    five = estimate_cost(
        [conv("c", 64, 64, 8, kernel=5)], RRAM, timesteps=1, precision={"c": bits(4)}
    )
    assert five.pes == math.ceil(25 / 9)


def test_breakdowns_add_up() -> None:
    layers = [
        conv("c1", 2, 64, 16),
        conv("c2", 64, 200, 8),
        LayerSpec("fc", 200 * 64, 10, 1, 1, 1, 1, 1, False, "linear"),
    ]
    report = estimate_cost(
        layers,
        RRAM,
        timesteps=3,
        precision={"c2": bits(8)},
        activity={"c2": LayerActivity(0.2, 0.1)},
    )
    assert sum(report.energy_breakdown_pj.values()) == pytest.approx(report.energy_pj, rel=1e-12)
    assert sum(row.energy_pj for row in report.layers) == pytest.approx(report.energy_pj, rel=1e-12)
    assert sum(report.area_breakdown_um2.values()) == pytest.approx(report.area_um2, rel=1e-12)
    assert report.latency_ns == report.layers[-1].halt_ns
    c1_cycle = 26 * 4.0  # c1 is W32: eight full 4-bit slices
    assert report.layers[1].start_ns == int(0.75 * 256) * 3 * c1_cycle
