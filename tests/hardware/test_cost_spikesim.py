"""The spikesim engine: docs/design/cost-model.md's hand-checkable cases and SpikeSim's own VGG9
example."""

from __future__ import annotations

import pytest

from mdsnn_search.hardware import LayerSpec, estimate_cost, load_preset
from mdsnn_search.hardware.spikesim import pe_cycle_energy, pe_cycle_energy_terms

SPIKESIM = "spikesim_rram_64"


def conv(
    name: str, c_in: int, c_out: int, side: int, out: int | None = None, **kw: object
) -> LayerSpec:
    out = side if out is None else out
    return LayerSpec(name, c_in, c_out, 3, side, side, out, out, **kw)  # type: ignore[arg-type]


def test_pe_cycle_energy_is_spikesims() -> None:
    preset = load_preset(SPIKESIM)
    assert pe_cycle_energy(preset, 9) == pytest.approx(828.4861472, rel=1e-12)
    assert sum(pe_cycle_energy_terms(preset, 9).values()) == pytest.approx(828.4861472, rel=1e-12)


def test_one_layer_hand_case() -> None:
    # docs/design/cost-model.md: one 64->64 3x3 layer, H = 8, T = 1.
    report = estimate_cost([conv("c", 64, 64, 8)], load_preset(SPIKESIM), timesteps=1)
    assert report.energy_pj == pytest.approx(64 * 828.4861472, rel=1e-12)
    assert report.energy_pj == pytest.approx(53_023.1134208, rel=1e-12)
    assert report.latency_ns == 4096 * 104
    # One tile: 8 subtractors + temp + tile buffer + 8 PEs + H-tree;
    # 64x8x8 inputs and neurons at 22 bits.
    pe = 9 * 26.2144 + 8 * (693.633 + 45.9)
    tile = 8 * 13411.41498 + 484.643999 + 0.7391 * 64 * 128 + 8 * pe + 216830 * 2
    memory = 2 * 64 * 8 * 8 * 0.7391 * 22
    assert report.tiles == 1
    assert report.area_um2 == pytest.approx(tile + memory, rel=1e-12)


def test_energy_scales_with_ceil_of_channels() -> None:
    preset = load_preset(SPIKESIM)
    one = estimate_cost([conv("c", 64, 64, 8)], preset, timesteps=1).energy_pj
    # 65 input and 130 output channels need 2 x 3 crossbar tiles per site.
    assert estimate_cost([conv("c", 65, 130, 8)], preset, timesteps=1).energy_pj == pytest.approx(
        6 * one
    )
    assert estimate_cost([conv("c", 3, 10, 8)], preset, timesteps=3).energy_pj == pytest.approx(
        3 * one
    )


# SpikeSim's example network (ela_spikesim.py, commit c2627bc): VGG9/CIFAR10, T = 5, seven convs,
# out_dim the side after pooling. The golden numbers are what that script prints.
SPIKESIM_EXAMPLE = {
    "c_in": [3, 64, 64, 128, 128, 256, 256],
    "c_out": [64, 64, 128, 128, 256, 256, 256],
    "h_in": [32, 32, 16, 16, 8, 8, 8],
    "h_out": [32, 16, 16, 8, 8, 8, 4],
}
SPIKESIM_ENERGY_PJ = 15906934.026240002
SPIKESIM_AREA_UM2 = 8425528.755833998
SPIKESIM_LATENCY_NS = 62832640.0


def spikesim_example(explicit_pool: bool) -> list[LayerSpec]:
    rows = zip(*SPIKESIM_EXAMPLE.values(), strict=True)
    return [
        conv(f"l{i}", c_in, c_out, h_in, pool=h_in // h_out if explicit_pool else None)
        for i, (c_in, c_out, h_in, h_out) in enumerate(rows)
    ]


def test_spikesims_own_example_reproduced_exactly() -> None:
    # The preset states SpikeSim's convention (sides after pooling), so no override is needed.
    report = estimate_cost(spikesim_example(explicit_pool=True), load_preset(SPIKESIM), timesteps=5)
    assert report.pes == 48
    assert report.tiles == 6
    assert report.energy_pj == SPIKESIM_ENERGY_PJ
    assert report.area_um2 == SPIKESIM_AREA_UM2
    assert report.latency_ns == SPIKESIM_LATENCY_NS
    assert report.conventions["output_side"] == "pooled"
    assert report.warnings == ()


def test_pooled_side_inferred_from_next_layer() -> None:
    # Without explicit pool factors the pooled side is read off the next layer's input side; the
    # last layer of SpikeSim's example pools into nothing we can see, so state it there.
    layers = spikesim_example(explicit_pool=False)
    layers[-1] = conv("l6", 256, 256, 8, pool=2)
    report = estimate_cost(layers, load_preset(SPIKESIM), timesteps=5)
    assert [row.h_out for row in report.layers] == SPIKESIM_EXAMPLE["h_out"]
    assert report.energy_pj == SPIKESIM_ENERGY_PJ


def test_pooled_side_inferred_through_flatten() -> None:
    layers = [
        conv("c1", 2, 64, 8),
        conv("c2", 64, 32, 8),
        LayerSpec("fc", 32 * 16, 10, 1, 1, 1, 1, 1, False, "linear"),
    ]
    preset = load_preset(SPIKESIM).with_overrides(conventions={"include_linear": True})
    sides = [(row.h_out, row.w_out) for row in estimate_cost(layers, preset, timesteps=1).layers]
    assert sides == [(8, 8), (4, 4), (1, 1)]


def test_linear_layers_follow_the_switch() -> None:
    layers = [conv("c", 64, 64, 8), LayerSpec("fc", 4096, 10, 1, 1, 1, 1, 1, False, "linear")]
    preset = load_preset(SPIKESIM)
    without = estimate_cost(layers, preset, timesteps=1)
    assert [row.name for row in without.layers] == ["c"]
    assert without.conventions["linear_layers_skipped"] is True
    included = estimate_cost(
        layers, preset.with_overrides(conventions={"include_linear": True}), timesteps=1
    )
    fc = included.layers[1]
    # A linear layer is a 1x1 conv on a 1x1 input: 64 x 1 PEs, one site, PE cycle of a 1x1 kernel.
    assert (fc.pes, fc.h_out, fc.kernel) == (64, 1, 1)
    assert fc.energy_pj == pytest.approx(64 * pe_cycle_energy(preset, 1))


def test_decreasing_pe_count_warns_and_goes_on() -> None:
    layers = [conv("wide", 128, 128, 4), conv("narrow", 128, 64, 4)]
    report = estimate_cost(layers, load_preset(SPIKESIM), timesteps=1)
    assert report.energy_pj > 0
    assert len(report.warnings) == 1
    assert "Check layer order" in report.warnings[0]
    assert "wide" in report.warnings[0] and "narrow" in report.warnings[0]


def test_precision_and_activity_are_ignored() -> None:
    from mdsnn_search.hardware import LayerActivity
    from mdsnn_search.precision import LayerPrecision

    layers = [conv("c", 64, 64, 8)]
    preset = load_preset(SPIKESIM)
    base = estimate_cost(layers, preset, timesteps=2)
    other = estimate_cost(
        layers,
        preset,
        timesteps=2,
        precision={"c": LayerPrecision(w_bits=2, u_bits=2, bn_bits=2)},
        activity={"c": LayerActivity(0.1, 0.1)},
    )
    assert (other.energy_pj, other.area_um2, other.latency_ns) == (
        base.energy_pj,
        base.area_um2,
        base.latency_ns,
    )
    assert other.layers[0].w_bits is None
    assert "ignored" in other.conventions["precision"]
    assert other.synops == pytest.approx(0.1 * base.synops)
