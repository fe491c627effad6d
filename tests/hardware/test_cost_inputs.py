"""Reading layer tables, precision, activity and keep fractions from files; input checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware import (
    LayerActivity,
    LayerSpec,
    estimate_cost,
    load_preset,
    read_activity,
    read_keep_fraction,
    read_layer_table,
    read_precision,
)
from mdsnn_search.precision import LayerPrecision

NAMES = ["conv1", "conv2", "fc"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_layer_table_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.yaml",
        "- {c_in: 2, c_out: 8, kernel: 3, h_in: 8, h_out: 8}\n"
        "- {name: wide, c_in: 8, c_out: 8, kernel: 3, h_in: 8, h_out: 8, w_in: 6, w_out: 6, "
        "pool: 2}\n"
        "- {name: head, kind: linear, c_in: 72, c_out: 10, kernel: 1, h_in: 1, h_out: 1}\n",
    )
    first, wide, head = read_layer_table(path)
    assert first == LayerSpec("layer0", 2, 8, 3, 8, 8, 8, 8, True, "conv", None)
    assert (wide.w_in, wide.w_out, wide.pool) == (6, 6, 2)
    assert (head.kind, head.spiking) == ("linear", False)


def test_layer_table_json_and_wrapped(tmp_path: Path) -> None:
    layer = {"name": "a", "c_in": 2, "c_out": 8, "kernel": 3, "h_in": 8, "h_out": 8}
    assert read_layer_table(write(tmp_path / "t.json", json.dumps([layer])))[0].name == "a"
    assert (
        read_layer_table(write(tmp_path / "w.yaml", json.dumps({"layers": [layer]})))[0].name == "a"
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[]", "layers: List should have at least 1 item"),
        ("- {c_in: 2, c_out: 8, kernel: 3, h_in: 8}", "layers.0.h_out: Field required"),
        (
            "- {c_in: 2.5, c_out: 8, kernel: 3, h_in: 8, h_out: 8}",
            "layers.0.c_in: Input should be a valid integer",
        ),
        ("- {c_in: 2, c_out: 8, kernel: 3, h_in: 8, h_out: 8, kind: pool}", "layers.0.kind"),
        ("{a: 1}", "layers: Field required"),
        (
            "- {name: a, c_in: 2, c_out: 8, kernel: 3, h_in: 8, h_out: 8}\n"
            "- {name: a, c_in: 8, c_out: 8, kernel: 3, h_in: 8, h_out: 8}",
            "'a' appears twice",
        ),
        ("3", "expected a list of layers"),
    ],
)
def test_layer_table_errors_name_file_and_field(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path / "t.yaml", text)
    with pytest.raises(ConfigError) as info:
        read_layer_table(path)
    assert str(path) in str(info.value) and needle in str(info.value)


def test_precision_file_patterns_and_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        "default: {w_bits: 4, u_bits: 4, bn_bits: 8}\nlayers:\n  'conv*': {u_bits: 2}\n  fc: "
        "{w_bits: 8}\n",
    )
    resolved = read_precision(path, NAMES)
    assert resolved["conv2"] == LayerPrecision(w_bits=4, u_bits=2, bn_bits=8)
    assert resolved["fc"] == LayerPrecision(w_bits=8, u_bits=4, bn_bits=8)
    bad = write(tmp_path / "b.yaml", "default: {w_bits: 4}\nlayer: {}\n")
    with pytest.raises(ConfigError, match=r"b\.yaml: layer: Extra inputs are not permitted"):
        read_precision(bad, NAMES)


def test_activity_and_keep_files(tmp_path: Path) -> None:
    activity = read_activity(
        write(tmp_path / "a.yaml", "conv1: {input_rate: 0.2, output_rate: 0.1}\n"), NAMES
    )
    assert activity == {"conv1": LayerActivity(0.2, 0.1)}
    assert read_keep_fraction(write(tmp_path / "k.yaml", "conv2: 0.75\n"), NAMES) == {"conv2": 0.75}
    with pytest.raises(ConfigError, match="output_rate: Field required"):
        read_activity(write(tmp_path / "m.yaml", "conv1: {input_rate: 0.2}\n"), NAMES)
    with pytest.raises(ConfigError, match="keep fraction: unknown layer 'conv3'"):
        read_keep_fraction(write(tmp_path / "u.yaml", "conv3: 0.5\n"), NAMES)


LAYER = LayerSpec("c", 64, 64, 3, 8, 8, 8, 8)
PRESET = load_preset("rram_64")


@pytest.mark.parametrize("timesteps", [0, -1, 1.5, True, "4"])
def test_timesteps_must_be_a_positive_integer(timesteps: object) -> None:
    with pytest.raises(ConfigError, match="timesteps must be an integer >= 1"):
        estimate_cost([LAYER], PRESET, timesteps=timesteps)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"precision": {"d": LayerPrecision()}}, "precision: unknown layer 'd'"),
        ({"precision": {"c": {"w_bits": 4}}}, "precision[c]: expected a LayerPrecision"),
        ({"keep_fraction": {"c": 0.0}}, "keep_fraction[c]: must lie in (0, 1]"),
        ({"keep_fraction": {"c": float("nan")}}, "keep_fraction[c]"),
        ({"keep_fraction": {"cc": 0.5}}, "keep_fraction: unknown layer 'cc'; did you mean 'c'?"),
        ({"activity": {"x": LayerActivity(0.1, 0.1)}}, "activity: unknown layer 'x'"),
    ],
)
def test_bad_knobs_raise_config_error(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        estimate_cost([LAYER], PRESET, timesteps=1, **kwargs)  # type: ignore[arg-type]
    assert needle in str(info.value)


def test_bad_tables_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="c_in must be an integer >= 1"):
        LayerSpec("c", 0, 64, 3, 8, 8, 8, 8)
    with pytest.raises(ConfigError, match="kind must be"):
        LayerSpec("c", 1, 64, 3, 8, 8, 8, 8, kind="pool")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="input_rate must be a number in"):
        LayerActivity(1.5, 0.1)
    with pytest.raises(ConfigError, match="empty"):
        estimate_cost([], PRESET, timesteps=1)
    with pytest.raises(ConfigError, match="duplicates c"):
        estimate_cost([LAYER, LAYER], PRESET, timesteps=1)
    head = LayerSpec("fc", 10, 10, 1, 1, 1, 1, 1, False, "linear")
    with pytest.raises(ConfigError, match="include_linear: false"):
        estimate_cost([head], load_preset("spikesim_rram_64"), timesteps=1)
