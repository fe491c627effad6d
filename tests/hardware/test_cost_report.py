"""The report: figures of merit as defined in hardware/report.py, JSON shape, pickling."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from mdsnn_search.hardware import (
    LayerActivity,
    LayerSpec,
    estimate_cost,
    load_preset,
    read_layer_table,
)
from mdsnn_search.precision import LayerPrecision

REPO = Path(__file__).resolve().parents[2]
VGG9 = read_layer_table(REPO / "simulators" / "examples" / "vgg9_ncaltech101.yaml")


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    precision = {layer.name: LayerPrecision(w_bits=4, u_bits=4, bn_bits=8) for layer in VGG9}
    activity = {layer.name: LayerActivity(0.2, 0.1) for layer in VGG9[1:]}
    return estimate_cost(
        VGG9, load_preset("rram_64"), timesteps=10, precision=precision, activity=activity
    )


def test_figures_of_merit(report) -> None:  # type: ignore[no-untyped-def]
    energy_j, delay_s, area_mm2 = (
        report.energy_pj * 1e-12,
        report.latency_ns * 1e-9,
        report.area_um2 * 1e-6,
    )
    assert report.edp == pytest.approx(energy_j * delay_s)
    assert report.edap == pytest.approx(energy_j * delay_s * area_mm2)
    macs = sum(layer.macs for layer in VGG9)
    assert report.ops == 2 * 10 * macs
    assert report.synops == pytest.approx(
        10 * (VGG9[0].macs + 0.2 * sum(layer.macs for layer in VGG9[1:]))
    )
    assert report.tops_per_w == pytest.approx(report.ops / report.energy_pj)
    assert report.tops_per_mm2 == pytest.approx(report.ops / (report.latency_ns * 1e3) / area_mm2)


def test_to_dict_is_json_with_totals_on_top(report) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(report.to_dict()))
    for key in (
        "energy_pj",
        "latency_ns",
        "area_um2",
        "edap",
        "edp",
        "ops",
        "synops",
        "tops_per_w",
        "tops_per_mm2",
    ):
        assert data[key] == getattr(report, key)
    assert len(data["layers"]) == len(VGG9)
    assert set(data["energy_breakdown_pj"]) >= {
        "crossbar",
        "adc",
        "mux",
        "shift_add",
        "neuron",
        "bn",
        "tile_buffer",
        "htree",
    }
    assert set(data["area_breakdown_um2"]) >= {
        "crossbar",
        "adc",
        "input_buffer",
        "neuron_memory",
        "bn",
        "htree",
    }
    assert data["conventions"]["output_side"] == "conv"
    assert data["units"]["edap"] == "J*s*mm2"


def test_report_pickles_with_its_rows(report) -> None:  # type: ignore[no-untyped-def]
    clone = pickle.loads(pickle.dumps(report))
    assert clone.totals() == report.totals()
    assert clone.layers == report.layers


def test_cost_model_never_imports_torch() -> None:
    # numpy is the cost model's one numeric dependency (the batch path); torch never loads.
    code = (
        "import sys, mdsnn_search.hardware, mdsnn_search.hardware.render, mdsnn_search.cli.cost; "
        "from mdsnn_search.hardware import ConfigBatch, estimate_batch, estimate_cost, "
        "load_preset, read_layer_table; "
        "table = read_layer_table('simulators/examples/vgg9_ncaltech101.yaml'); "
        "estimate_cost(table, load_preset('rram_64'), timesteps=2); "
        "estimate_batch(table, load_preset('rram_64'), ConfigBatch.from_arrays(len(table), "
        "timesteps=[2, 4])); "
        "heavy = sorted(m for m in ('torch', 'spikingjelly', 'ray', 'optuna') if m in "
        "sys.modules); "
        "assert not heavy, heavy"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_layer_spec_table_for_unpooled_output() -> None:
    assert LayerSpec("c", 1, 1, 3, 4, 4, 4, 4).pool is None
