"""``ConfigBatch`` and ``estimate_batch``: broadcasting, checks, and the errors a caller can
cause."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware import (
    ConfigBatch,
    LayerActivity,
    estimate_batch,
    estimate_cost,
    load_preset,
    read_layer_table,
)
from mdsnn_search.precision import LayerPrecision

REPO = Path(__file__).resolve().parents[2]
VGG9 = read_layer_table(REPO / "simulators" / "examples" / "vgg9_ncaltech101.yaml")
L = len(VGG9)


def test_from_arrays_broadcasts_scalars_rows_and_grids() -> None:
    row = np.arange(1, L + 1)
    batch = ConfigBatch.from_arrays(
        L, timesteps=[4, 8, 2], w_bits=row, u_bits=[[4] * L] * 3, keep_fraction=0.5
    )
    assert len(batch) == 3 and batch.n_layers == L
    assert batch.w_bits.shape == (3, L) and (batch.w_bits[2] == row).all()
    assert (
        (batch.bn_bits == 32).all()
        and (batch.input_rate == 1.0).all()
        and (batch.keep_fraction == 0.5).all()
    )
    assert batch.timesteps.tolist() == [4, 8, 2]
    assert len(ConfigBatch.from_arrays(L, timesteps=3)) == 1


def test_of_matches_estimate_cost_defaults() -> None:
    precision = {"conv2": LayerPrecision(w_bits=2, u_bits=3, bn_bits=8)}
    batch = ConfigBatch.of(
        VGG9,
        timesteps=5,
        precision=precision,
        keep_fraction={"conv1": 0.5},
        activity={"conv3": LayerActivity(0.2, 0.1)},
    )
    assert batch.w_bits[0].tolist() == [32, 2] + [32] * (L - 2)
    assert (
        batch.keep_fraction[0, 0] == 0.5
        and batch.input_rate[0, 2] == 0.2
        and batch.input_rate[0, 0] == 1.0
    )
    report = estimate_cost(
        VGG9, load_preset("rram_64"), timesteps=5, precision=precision,
        keep_fraction={"conv1": 0.5}, activity={"conv3": LayerActivity(0.2, 0.1)},
    )  # fmt: skip
    assert estimate_batch(VGG9, load_preset("rram_64"), batch).totals(0) == pytest.approx(
        report.totals(), rel=1e-12
    )


def test_concat_keeps_order() -> None:
    a = ConfigBatch.from_arrays(L, timesteps=2, w_bits=4)
    b = ConfigBatch.from_arrays(L, timesteps=[3, 5], w_bits=2)
    both = ConfigBatch.concat([a, b])
    assert both.timesteps.tolist() == [2, 3, 5] and both.w_bits[:, 0].tolist() == [4, 2, 2]
    with pytest.raises(ConfigError, match="differ in layers"):
        ConfigBatch.concat([a, ConfigBatch.from_arrays(L - 1, timesteps=2)])


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"w_bits": 0}, "w_bits: bits must lie in [1, 32], but got 0..0"),
        ({"u_bits": 33}, "u_bits: bits must lie in [1, 32]"),
        ({"bn_bits": 4.0}, "bn_bits: bits must be integers, got dtype float64"),
        ({"keep_fraction": 0.0}, "keep_fraction: values must lie in (0, 1], but got 0.0"),
        ({"input_rate": 1.5}, "input_rate: values must lie in [0, 1], but got 1.5"),
        ({"input_rate": float("nan")}, "input_rate: values must lie in [0, 1]"),
        ({"timesteps": 0}, "timesteps must be integers >= 1"),
        ({"w_bits": [4, 4]}, f"w_bits: expected a scalar, [{L}] or [N, {L}], got shape (2,)"),
        ({"timesteps": [2, 3], "w_bits": [[4] * L] * 3}, "configurations disagree on N"),
    ],
)
def test_bad_batches_name_the_knob(kwargs: dict[str, object], needle: str) -> None:
    arguments = {"timesteps": 2, **kwargs}
    with pytest.raises(ConfigError) as info:
        ConfigBatch.from_arrays(L, **arguments)  # type: ignore[arg-type]
    assert needle in str(info.value)


def test_estimate_batch_checks_the_table() -> None:
    batch = ConfigBatch.from_arrays(L - 1, timesteps=2)
    with pytest.raises(
        ConfigError, match=f"the batch has {L - 1} layers per configuration, the table {L}"
    ):
        estimate_batch(VGG9, load_preset("rram_64"), batch)
    no_linear = load_preset("rram_64").with_overrides(conventions={"include_linear": False})
    with pytest.raises(ConfigError, match="nothing to cost"):
        estimate_batch(VGG9[-1:], no_linear, ConfigBatch.from_arrays(1, timesteps=2))


def test_spikesim_batch_sees_only_channels_and_timesteps() -> None:
    batch = ConfigBatch.from_arrays(
        L, timesteps=[2, 2, 4], w_bits=[[4] * L, [2] * L, [2] * L], input_rate=0.1
    )
    costs = estimate_batch(VGG9, load_preset("spikesim_rram_64"), batch)
    assert costs.energy_pj[0] == costs.energy_pj[1] and costs.energy_pj[2] == pytest.approx(
        2 * costs.energy_pj[0]
    )
    assert costs.synops[0] == pytest.approx(
        0.1 * costs.ops[0] / 2
    )  # SynOps count the measured rates anyway
