"""Properties of the cost model over random layer tables and configurations (hypothesis).

Every knob the search varies moves EDAP in its direction on every aware preset, strictly where a
rule makes it move; the aware engine is SpikeSim at SpikeSim's design point; the batch path gives
the scalar path's numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdsnn_search.hardware import (
    ConfigBatch,
    LayerActivity,
    LayerSpec,
    estimate_batch,
    estimate_cost,
    load_preset,
)
from mdsnn_search.hardware.preset import HardwarePreset
from mdsnn_search.precision import LayerPrecision

PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
AWARE_PRESETS = ["rram_64", "rram_128", "sram_64"]
PRESETS = {name: load_preset(name) for name in [*AWARE_PRESETS, "spikesim_rram_64"]}
BITS = st.sampled_from([1, 2, 3, 4, 5, 6, 8, 12, 16, 31, 32])


@st.composite
def layer_tables(
    draw: st.DrawFn, kernels: tuple[int, ...] = (1, 3, 5), linear_head: bool = True
) -> list[LayerSpec]:
    """A chain of convs (each keeps or halves the side) and maybe a linear head after a flatten."""
    channels = draw(st.integers(1, 4))
    side = draw(st.integers(1, 24))
    layers = []
    for i in range(draw(st.integers(1, 5))):
        c_out = draw(st.integers(1, 300))
        kernel = draw(st.sampled_from(kernels))
        pool = 2 if side >= 2 and draw(st.booleans()) else None
        layers.append(
            LayerSpec(f"conv{i}", channels, c_out, kernel, side, side, side, side, pool=pool)
        )
        channels, side = c_out, side // (pool or 1)
    if linear_head and draw(st.booleans()):
        flat = channels * side * side
        layers.append(
            LayerSpec("fc", flat, draw(st.integers(1, 200)), 1, 1, 1, 1, 1, False, "linear")
        )
    return layers


@st.composite
def batches(draw: st.DrawFn, n_layers: int, n: int = 1, min_rate: float = 0.0) -> ConfigBatch:
    """``n`` random configurations: bits, pruning on some layers, measured rates on some."""

    def grid(values: st.SearchStrategy[float] | st.SearchStrategy[int]) -> list[list[float]]:
        return [[draw(values) for _ in range(n_layers)] for _ in range(n)]

    keep = st.one_of(st.just(1.0), st.floats(0.05, 1.0))
    rate = st.one_of(st.just(1.0), st.floats(min_rate, 1.0))
    return ConfigBatch.from_arrays(
        n_layers,
        timesteps=[draw(st.integers(1, 16)) for _ in range(n)],
        w_bits=grid(BITS),
        u_bits=grid(BITS),
        bn_bits=grid(BITS),
        keep_fraction=grid(keep),
        input_rate=grid(rate),
    )


def _lower_bits(field: str) -> Callable[[st.DataObject, ConfigBatch, int], dict[str, np.ndarray]]:
    def lower(data: st.DataObject, batch: ConfigBatch, j: int) -> dict[str, np.ndarray]:
        values = getattr(batch, field).copy()
        values[0, j] = data.draw(st.integers(1, int(values[0, j])))
        return {field: values}

    return lower


def _lower_fraction(
    field: str,
) -> Callable[[st.DataObject, ConfigBatch, int], dict[str, np.ndarray]]:
    def lower(data: st.DataObject, batch: ConfigBatch, j: int) -> dict[str, np.ndarray]:
        values = getattr(batch, field).copy()
        values[0, j] = data.draw(st.floats(0.01, float(values[0, j])))
        return {field: values}

    return lower


def _lower_timesteps(data: st.DataObject, batch: ConfigBatch, j: int) -> dict[str, np.ndarray]:
    return {"timesteps": np.array([data.draw(st.integers(1, int(batch.timesteps[0])))])}


KNOBS = {
    "weight bits": _lower_bits("w_bits"),
    "membrane bits": _lower_bits("u_bits"),
    "BN bits": _lower_bits("bn_bits"),
    "kept channels": _lower_fraction("keep_fraction"),
    "timesteps": _lower_timesteps,
    "input spikes": _lower_fraction("input_rate"),
}


def _with(batch: ConfigBatch, **changes: np.ndarray) -> ConfigBatch:
    fields = {
        name: getattr(batch, name)
        for name in ("w_bits", "u_bits", "bn_bits", "keep_fraction", "input_rate")
    }
    return ConfigBatch(**{**fields, "timesteps": batch.timesteps, **changes})


def _must_fall_strictly(
    knob: str, layers: list[LayerSpec], before: ConfigBatch, after: ConfigBatch, j: int
) -> bool:
    """Where a rule makes a lower knob lower EDAP (rates are drawn above 0, so energy is too)."""
    c_out = layers[j].c_out
    kept = (
        np.floor(before.keep_fraction[0, j] * c_out + 0.5),
        np.floor(after.keep_fraction[0, j] * c_out + 0.5),
    )
    changed = {
        "weight bits": before.w_bits[0, j] != after.w_bits[0, j],
        "membrane bits": before.u_bits[0, j] != after.u_bits[0, j],
        "BN bits": before.bn_bits[0, j] != after.bn_bits[0, j]
        and layers[j].spiking,  # BN lives on spiking layers
        "kept channels": max(1, kept[0]) != max(1, kept[1]),
        "timesteps": before.timesteps[0] != after.timesteps[0],
        "input spikes": before.input_rate[0, j] - after.input_rate[0, j]
        > 1e-6,  # not a rounding step
    }
    return bool(changed[knob])


@pytest.mark.parametrize("knob", sorted(KNOBS))
@pytest.mark.parametrize("preset", AWARE_PRESETS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_lower_knob_never_raises_cost_and_lowers_edap_where_a_rule_says(
    data: st.DataObject, preset: str, knob: str
) -> None:
    layers = data.draw(layer_tables())
    before = data.draw(batches(len(layers), min_rate=0.01))
    j = data.draw(st.integers(0, len(layers) - 1))
    after = _with(before, **KNOBS[knob](data, before, j))
    costs = estimate_batch(layers, PRESETS[preset], ConfigBatch.concat([before, after]))
    for name in ("energy_pj", "latency_ns", "area_um2", "edap"):
        old, new = getattr(costs, name)
        assert new <= old * (1 + 1e-12), (knob, name, old, new)
    if _must_fall_strictly(knob, layers, before, after, j):
        assert costs.edap[1] < costs.edap[0], knob


@PROPERTY_SETTINGS
@given(data=st.data(), preset=st.sampled_from(AWARE_PRESETS))
def test_no_activity_no_dynamic_energy(data: st.DataObject, preset: str) -> None:
    """In event mode a network whose inputs never spike reads, converts and moves nothing."""
    layers = data.draw(layer_tables())
    busy = data.draw(batches(len(layers)))
    silent = _with(busy, input_rate=np.zeros_like(busy.input_rate))
    costs = estimate_batch(layers, PRESETS[preset], ConfigBatch.concat([busy, silent]))
    assert costs.energy_pj[1] == 0.0
    assert (costs.area_um2[1], costs.latency_ns[1]) == (costs.area_um2[0], costs.latency_ns[0])


@PROPERTY_SETTINGS
@given(
    data=st.data(),
    preset=st.sampled_from([*AWARE_PRESETS, "spikesim_rram_64"]),
    t=st.integers(1, 16),
    k=st.integers(2, 5),
)
def test_energy_and_latency_linear_in_t_area_independent(
    data: st.DataObject, preset: str, t: int, k: int
) -> None:
    layers = data.draw(layer_tables())
    base = data.draw(batches(len(layers)))
    configs = ConfigBatch.concat(
        [_with(base, timesteps=np.array([t])), _with(base, timesteps=np.array([k * t]))]
    )
    costs = estimate_batch(layers, PRESETS[preset], configs)
    assert costs.energy_pj[1] == pytest.approx(k * costs.energy_pj[0], rel=1e-9)
    assert costs.latency_ns[1] == pytest.approx(k * costs.latency_ns[0], rel=1e-12)
    assert costs.area_um2[1] == costs.area_um2[0]


def _scalar(
    layers: list[LayerSpec], preset: HardwarePreset, batch: ConfigBatch, i: int
) -> dict[str, float]:
    names = [layer.name for layer in layers]
    report = estimate_cost(
        layers,
        preset,
        timesteps=int(batch.timesteps[i]),
        precision={
            name: LayerPrecision(w_bits=int(w), u_bits=int(u), bn_bits=int(bn))
            for name, w, u, bn in zip(
                names, batch.w_bits[i], batch.u_bits[i], batch.bn_bits[i], strict=True
            )
        },
        keep_fraction=dict(zip(names, batch.keep_fraction[i].tolist(), strict=True)),
        activity={
            name: LayerActivity(rate, 0.5)
            for name, rate in zip(names, batch.input_rate[i].tolist(), strict=True)
        },
    )
    return {
        **report.totals(),
        **report.energy_breakdown_pj,
        **{f"area {k}": v for k, v in report.area_breakdown_um2.items()},
    }


@PROPERTY_SETTINGS
@given(data=st.data(), preset=st.sampled_from(sorted(PRESETS)), n=st.integers(1, 6))
def test_batch_equals_scalar(data: st.DataObject, preset: str, n: int) -> None:
    layers = data.draw(layer_tables())
    batch = data.draw(batches(len(layers), n=n))
    costs = estimate_batch(layers, PRESETS[preset], batch)
    assert len(costs) == n
    for i in range(n):
        batched = {
            **costs.totals(i),
            **{k: float(v[i]) for k, v in costs.energy_breakdown_pj.items()},
            **{f"area {k}": float(v[i]) for k, v in costs.area_breakdown_um2.items()},
        }
        scalar = _scalar(layers, PRESETS[preset], batch, i)
        assert batched.keys() == scalar.keys()
        for key, value in scalar.items():
            assert batched[key] == pytest.approx(value, rel=1e-12, abs=1e-300), key


@PROPERTY_SETTINGS
@given(
    layers=layer_tables(kernels=(1, 3), linear_head=True),
    w_bits=st.integers(1, 4),
    bn_bits=BITS,
    t=st.integers(1, 12),
    side=st.sampled_from(["conv", "pooled"]),
    include_linear=st.booleans(),
    follow_slice_bits=st.booleans(),
    data=st.data(),
)
def test_aware_equals_spikesim_at_its_design_point(
    layers: list[LayerSpec],
    w_bits: int,
    bn_bits: int,
    t: int,
    side: str,
    include_linear: bool,
    follow_slice_bits: bool,
    data: st.DataObject,
) -> None:
    """At b_w = b_c (any b_w <= b_c with SpikeSim's fixed ADC), b_u = 22, dense activity and
    every quirk on, the aware engine gives SpikeSim's numbers (pruning applies to both)."""
    if not include_linear and all(layer.kind == "linear" for layer in layers):
        return
    conventions = {"output_side": side, "include_linear": include_linear}
    spikesim = PRESETS["spikesim_rram_64"].with_overrides(conventions=conventions)
    aware = spikesim.with_overrides(engine="aware", adc={"follow_slice_bits": follow_slice_bits})
    if follow_slice_bits:
        w_bits = 4
    precision = {
        layer.name: LayerPrecision(w_bits=w_bits, u_bits=22, bn_bits=bn_bits) for layer in layers
    }
    keep = {
        layer.name: data.draw(st.floats(0.05, 1.0)) for layer in layers if data.draw(st.booleans())
    }
    expected = estimate_cost(layers, spikesim, timesteps=t, keep_fraction=keep)
    got = estimate_cost(layers, aware, timesteps=t, precision=precision, keep_fraction=keep)
    assert got.energy_pj == pytest.approx(expected.energy_pj, rel=1e-12)
    assert got.area_um2 == pytest.approx(expected.area_um2, rel=1e-12)
    assert got.latency_ns == expected.latency_ns
    assert got.tiles == expected.tiles
    for component, value in expected.energy_breakdown_pj.items():
        assert got.energy_breakdown_pj[component] == pytest.approx(value, rel=1e-12, abs=1e-9)
    for component, value in expected.area_breakdown_um2.items():
        assert got.area_breakdown_um2[component] == pytest.approx(value, rel=1e-12, abs=1e-9)
    assert [row.energy_pj for row in got.layers] == pytest.approx(
        [row.energy_pj for row in expected.layers], rel=1e-12
    )
    assert [row.halt_ns for row in got.layers] == [row.halt_ns for row in expected.layers]


def test_aware_equals_spikesim_on_spikesims_example() -> None:
    # SpikeSim's own VGG9 example (ela_spikesim.py, c2627bc) and the numbers that script prints.
    sides = [
        (3, 64, 32, 1),
        (64, 64, 32, 2),
        (64, 128, 16, 1),
        (128, 128, 16, 2),
        (128, 256, 8, 1),
        (256, 256, 8, 1),
    ]
    layers = [
        LayerSpec(f"l{i}", a, b, 3, h, h, h, h, pool=p)
        for i, (a, b, h, p) in enumerate([*sides, (256, 256, 8, 2)])
    ]
    preset = PRESETS["spikesim_rram_64"].with_overrides(engine="aware")
    precision = {layer.name: LayerPrecision(w_bits=4, u_bits=22, bn_bits=32) for layer in layers}
    report = estimate_cost(layers, preset, timesteps=5, precision=precision)
    assert report.energy_pj == pytest.approx(15906934.026240002, rel=1e-12)
    assert report.area_um2 == pytest.approx(8425528.755833998, rel=1e-12)
    assert report.latency_ns == 62832640.0
