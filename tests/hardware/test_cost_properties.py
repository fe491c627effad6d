"""Properties of the cost model over random layer tables, precisions, prunings and activities."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdsnn_search.hardware import LayerActivity, LayerSpec, estimate_cost, load_preset
from mdsnn_search.hardware.preset import HardwarePreset
from mdsnn_search.precision import LayerPrecision

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AWARE_PRESETS = ["rram_64", "rram_128", "sram_64"]
PRESETS = {name: load_preset(name) for name in [*AWARE_PRESETS, "spikesim_rram_64"]}
BITS = st.sampled_from([1, 2, 3, 4, 5, 6, 8, 12, 16, 32])


@st.composite
def layer_tables(draw: st.DrawFn, kernels: tuple[int, ...] = (1, 3, 5), linear_head: bool = True) -> list[LayerSpec]:
    """A chain of convs (each keeps or halves the side) and maybe a linear head after a flatten."""
    channels = draw(st.integers(1, 4))
    side = draw(st.integers(1, 24))
    layers = []
    for i in range(draw(st.integers(1, 5))):
        c_out = draw(st.integers(1, 300))
        kernel = draw(st.sampled_from(kernels))
        pool = 2 if side >= 2 and draw(st.booleans()) else None
        layers.append(LayerSpec(f"conv{i}", channels, c_out, kernel, side, side, side, side, pool=pool))
        channels, side = c_out, side // (pool or 1)
    if linear_head and draw(st.booleans()):
        flat = channels * side * side
        layers.append(LayerSpec("fc", flat, draw(st.integers(1, 200)), 1, 1, 1, 1, 1, False, "linear"))
    return layers


@st.composite
def configs(draw: st.DrawFn, layers: list[LayerSpec]) -> dict[str, dict[str, object]]:
    names = [layer.name for layer in layers]
    precision = {n: LayerPrecision(w_bits=draw(BITS), u_bits=draw(BITS), bn_bits=draw(BITS)) for n in names}
    keep = {n: draw(st.floats(0.05, 1.0)) for n in names if draw(st.booleans())}
    rate = st.floats(0.0, 1.0)
    activity = {n: LayerActivity(draw(rate), draw(rate)) for n in names if draw(st.booleans())}
    return {"precision": precision, "keep_fraction": keep, "activity": activity}


def cost(
    layers: list[LayerSpec], preset: HardwarePreset, timesteps: int, **config: object
) -> tuple[float, float, float]:
    report = estimate_cost(layers, preset, timesteps=timesteps, **config)  # type: ignore[arg-type]
    return report.energy_pj, report.area_um2, report.latency_ns


@PROPERTY_SETTINGS
@given(data=st.data(), preset=st.sampled_from(AWARE_PRESETS))
def test_energy_and_area_never_fall_when_weight_bits_rise(data: st.DataObject, preset: str) -> None:
    layers = data.draw(layer_tables())
    config = data.draw(configs(layers))
    name = data.draw(st.sampled_from([layer.name for layer in layers]))
    old = config["precision"][name]  # type: ignore[index]
    new_bits = data.draw(st.integers(old.w_bits, 32))
    energy, area, latency = cost(layers, PRESETS[preset], 4, **config)
    config["precision"] = {**config["precision"], name: old.model_copy(update={"w_bits": new_bits})}  # type: ignore[dict-item]
    energy2, area2, latency2 = cost(layers, PRESETS[preset], 4, **config)
    assert energy2 >= energy * (1 - 1e-12)
    assert area2 >= area * (1 - 1e-12)
    assert latency2 == latency


@PROPERTY_SETTINGS
@given(data=st.data(), preset=st.sampled_from(AWARE_PRESETS))
def test_area_never_falls_when_membrane_bits_rise(data: st.DataObject, preset: str) -> None:
    layers = data.draw(layer_tables())
    config = data.draw(configs(layers))
    name = data.draw(st.sampled_from([layer.name for layer in layers]))
    old = config["precision"][name]  # type: ignore[index]
    _, area, _ = cost(layers, PRESETS[preset], 2, **config)
    config["precision"] = {
        **config["precision"],
        name: old.model_copy(update={"u_bits": data.draw(st.integers(old.u_bits, 32))}),
    }  # type: ignore[dict-item]
    assert cost(layers, PRESETS[preset], 2, **config)[1] >= area * (1 - 1e-12)


@PROPERTY_SETTINGS
@given(
    data=st.data(),
    preset=st.sampled_from([*AWARE_PRESETS, "spikesim_rram_64"]),
    t=st.integers(1, 16),
    k=st.integers(2, 5),
)
def test_energy_and_latency_linear_in_t_area_independent(data: st.DataObject, preset: str, t: int, k: int) -> None:
    layers = data.draw(layer_tables())
    config = data.draw(configs(layers))
    energy, area, latency = cost(layers, PRESETS[preset], t, **config)
    energy_k, area_k, latency_k = cost(layers, PRESETS[preset], k * t, **config)
    assert energy_k == pytest.approx(k * energy, rel=1e-9)
    assert latency_k == pytest.approx(k * latency, rel=1e-12)
    assert area_k == area


@PROPERTY_SETTINGS
@given(data=st.data(), preset=st.sampled_from(AWARE_PRESETS))
def test_event_energy_never_rises_when_activity_falls(data: st.DataObject, preset: str) -> None:
    layers = data.draw(layer_tables())
    config = data.draw(configs(layers))
    name = data.draw(st.sampled_from([layer.name for layer in layers]))
    rates = dict(config["activity"])  # type: ignore[call-overload]
    before = rates.get(name, LayerActivity(1.0, 1.0))
    lower = data.draw(st.floats(0.0, before.input_rate))
    energy, area, latency = cost(layers, PRESETS[preset], 3, **config)
    config["activity"] = {**rates, name: LayerActivity(lower, before.output_rate)}
    energy2, area2, latency2 = cost(layers, PRESETS[preset], 3, **config)
    assert energy2 <= energy * (1 + 1e-12)
    assert (area2, latency2) == (area, latency)


@PROPERTY_SETTINGS
@given(
    layers=layer_tables(kernels=(1, 3), linear_head=True),
    w_bits=st.integers(1, 4),
    bn_bits=BITS,
    t=st.integers(1, 12),
    side=st.sampled_from(["conv", "pooled"]),
    include_linear=st.booleans(),
    data=st.data(),
)
def test_aware_equals_spikesim_at_its_design_point(
    layers: list[LayerSpec], w_bits: int, bn_bits: int, t: int, side: str, include_linear: bool, data: st.DataObject
) -> None:
    """At b_w <= b_c, b_u = 22, 4-bit ADC, dense activity and every quirk on, the aware engine
    gives SpikeSim's numbers (pruning applies to both)."""
    if not include_linear and all(layer.kind == "linear" for layer in layers):
        return
    conventions = {"output_side": side, "include_linear": include_linear}
    spikesim = PRESETS["spikesim_rram_64"].with_overrides(conventions=conventions)
    aware = spikesim.with_overrides(engine="aware")
    precision = {layer.name: LayerPrecision(w_bits=w_bits, u_bits=22, bn_bits=bn_bits) for layer in layers}
    keep = {layer.name: data.draw(st.floats(0.05, 1.0)) for layer in layers if data.draw(st.booleans())}
    expected = estimate_cost(layers, spikesim, timesteps=t, keep_fraction=keep)
    got = estimate_cost(layers, aware, timesteps=t, precision=precision, keep_fraction=keep)
    assert got.energy_pj == pytest.approx(expected.energy_pj, rel=1e-9)
    assert got.area_um2 == pytest.approx(expected.area_um2, rel=1e-9)
    assert got.latency_ns == expected.latency_ns
    assert got.tiles == expected.tiles
    for component, value in expected.energy_breakdown_pj.items():
        assert got.energy_breakdown_pj[component] == pytest.approx(value, rel=1e-9, abs=1e-9)
    for component, value in expected.area_breakdown_um2.items():
        assert got.area_breakdown_um2[component] == pytest.approx(value, rel=1e-9, abs=1e-9)
    assert [row.energy_pj for row in got.layers] == pytest.approx([row.energy_pj for row in expected.layers], rel=1e-9)


def test_aware_equals_spikesim_on_spikesims_example() -> None:
    # SpikeSim's own VGG9 example (ela_spikesim.py, c2627bc) and the numbers that script prints.
    sides = [(3, 64, 32, 1), (64, 64, 32, 2), (64, 128, 16, 1), (128, 128, 16, 2), (128, 256, 8, 1), (256, 256, 8, 1)]
    layers = [
        LayerSpec(f"l{i}", a, b, 3, h, h, h, h, pool=p) for i, (a, b, h, p) in enumerate([*sides, (256, 256, 8, 2)])
    ]
    preset = PRESETS["spikesim_rram_64"].with_overrides(engine="aware", conventions={"output_side": "pooled"})
    precision = {layer.name: LayerPrecision(w_bits=4, u_bits=22, bn_bits=32) for layer in layers}
    report = estimate_cost(layers, preset, timesteps=5, precision=precision)
    assert report.energy_pj == pytest.approx(15906934.026240002, rel=1e-12)
    assert report.area_um2 == pytest.approx(8425528.755833998, rel=1e-12)
    assert report.latency_ns == 62832640.0
