"""What the cost model must show on VGG9 (2x48x48, 101 classes, T=10) and the digits model."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware import (
    ConfigBatch,
    LayerActivity,
    estimate_cost,
    load_preset,
    read_layer_table,
    sensitivity,
)
from mdsnn_search.precision import LayerPrecision

EXAMPLES = Path(__file__).resolve().parents[2] / "simulators" / "examples"
VGG9 = read_layer_table(EXAMPLES / "vgg9_ncaltech101.yaml")
DIGITS = read_layer_table(EXAMPLES / "vgg5_digits.yaml")


def vgg9_edap(w_bits: int, rate: float | None) -> float:
    precision = {layer.name: LayerPrecision(w_bits=w_bits, u_bits=4, bn_bits=8) for layer in VGG9}
    activity = None if rate is None else {layer.name: LayerActivity(rate, rate) for layer in VGG9}
    return estimate_cost(
        VGG9, load_preset("rram_64"), timesteps=10, precision=precision, activity=activity
    ).edap


def test_w2_lowers_vgg9_edap_by_at_least_5_percent_on_rram_64() -> None:
    assert vgg9_edap(2, None) <= 0.95 * vgg9_edap(4, None)


def test_an_input_rate_of_a_fifth_lowers_vgg9_edap_by_at_least_10_percent_on_rram_64() -> None:
    assert vgg9_edap(4, 0.1) <= 0.90 * vgg9_edap(4, 0.5)


@pytest.mark.parametrize("rate", [None, 0.2])
@pytest.mark.parametrize("preset", ["rram_64", "rram_128", "sram_64"])
@pytest.mark.parametrize(("table", "timesteps"), [(VGG9, 10), (DIGITS, 4)], ids=["vgg9", "digits"])
def test_every_knob_lowers_edap(
    table: list, timesteps: int, preset: str, rate: float | None
) -> None:  # type: ignore[type-arg]
    activity = None if rate is None else {layer.name: LayerActivity(rate, rate) for layer in table}
    precision = {layer.name: LayerPrecision(w_bits=4, u_bits=4, bn_bits=8) for layer in table}
    base = ConfigBatch.of(table, timesteps=timesteps, precision=precision, activity=activity)
    rows = sensitivity(table, load_preset(preset), base)
    assert [row.knob for row in rows] == [
        "weight bits", "membrane bits", "BN bits", "kept channels", "timesteps", "input spikes",
    ]  # fmt: skip
    for row in rows:
        assert row.edap < 0, row
        assert row.latency <= 1e-12 and row.area <= 1e-12 and row.energy <= 1e-12, row


def test_spikesim_engine_names_the_knobs_it_cannot_see() -> None:
    base = ConfigBatch.of(VGG9, timesteps=10)
    rows = {row.knob: row for row in sensitivity(VGG9, load_preset("spikesim_rram_64"), base)}
    for knob in ("weight bits", "membrane bits", "BN bits", "input spikes"):
        assert rows[knob].edap == 0.0 and rows[knob].rule.startswith("ignored")
    assert rows["kept channels"].edap < 0 and rows["timesteps"].edap == pytest.approx(-0.75)
    assert rows["weight bits"].change == "W32 -> W16"


def test_sensitivity_takes_one_configuration_and_survives_a_silent_network() -> None:
    with pytest.raises(ConfigError, match="the base must be one configuration, but got 2"):
        sensitivity(
            DIGITS, load_preset("rram_64"), ConfigBatch.from_arrays(len(DIGITS), timesteps=[2, 4])
        )
    silent = ConfigBatch.from_arrays(len(DIGITS), timesteps=4, w_bits=4, input_rate=0.0)
    rows = {row.knob: row for row in sensitivity(DIGITS, load_preset("rram_64"), silent)}
    assert (
        rows["input spikes"].energy == 0.0
        and rows["input spikes"].change == "rate 0 (already at its floor)"
    )
