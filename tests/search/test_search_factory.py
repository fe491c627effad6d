"""A study over a network defined here, in a test file, named in the spec as ``model.factory``:
searched, exported, retrained and costed like a registered architecture."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from spikingjelly.activation_based import layer, neuron
from torch import nn

from mdsnn_search.cli import main
from mdsnn_search.spec.objectives import ATTR_METRICS, ATTR_STUDENT
from mdsnn_search.spec.schema import load_spec
from mdsnn_search.study.documents import trial_document

FACTORY = f"{__name__}:conv_net"


def conv_net(input_shape: tuple[int, int, int], num_classes: int, channels: int = 8) -> nn.Module:
    """A user's spiking network: spikingjelly layers in a Sequential, multi-step."""
    c, h, w = input_shape
    return nn.Sequential(
        layer.Conv2d(c, channels, 3, padding=1, bias=False, step_mode="m"),
        layer.BatchNorm2d(channels, step_mode="m"),
        neuron.LIFNode(step_mode="m"),
        layer.MaxPool2d(2, step_mode="m"),
        layer.Conv2d(channels, 2 * channels, 3, padding=1, bias=False, step_mode="m"),
        layer.BatchNorm2d(2 * channels, step_mode="m"),
        neuron.LIFNode(step_mode="m"),
        layer.Flatten(step_mode="m"),
        layer.Linear(2 * channels * (h // 2) * (w // 2), num_classes, step_mode="m"),
    )


def _factory_spec(write_spec: Callable[..., Path]) -> Path:
    return write_spec(
        model={"arch": None, "width": 1.0, "factory": FACTORY, "kwargs": {"channels": 6}},
        study={"n_trials": 3},
        search_space={"fixed_layers": {"0": {"w_bits": 8}}},
    )


def test_a_study_searches_exports_and_retrains_a_factory_network(
    write_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = _factory_spec(write_spec)
    assert main(["run", str(spec_path), "--json"]) == 0
    spec = load_spec(spec_path)
    study = optuna.load_study(study_name=spec.study.name, storage=spec.study.storage_url())
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 3
    searched = trials[-1]
    layers = {"0", "4", "8"}  # named by module path: the two convs and the linear
    assert "0" in trial_document(searched, ATTR_STUDENT)["precision"]["layers"]  # fixed_layers
    metrics = trial_document(searched, ATTR_METRICS)
    assert metrics["edap"] > 0 and metrics["accuracy"] > 0.2  # 10 classes: above chance
    out = tmp_path / "exports"
    export = ["export", str(spec_path), "--trials", str(searched.number), "--epochs", "1"]
    assert main([*export, "--out", str(out)]) == 0
    (exported,) = out.glob("*.yaml")
    assert yaml.safe_load(exported.read_text())["model"]["factory"] == FACTORY
    capsys.readouterr()
    assert main(["train", str(exported), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["precision"]) == layers


def test_a_bad_factory_is_refused_before_anything_is_stored(
    write_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = write_spec(
        model={"arch": None, "width": 1.0, "factory": f"{__name__}:no_such_network"}
    )
    assert main(["validate", str(spec_path)]) == 2
    assert main(["run", str(spec_path)]) == 2
    err = capsys.readouterr().err
    assert "model.factory" in err and "no function 'no_such_network'" in err
    assert not (tmp_path / "tiny.db").exists()


def test_cost_of_a_factory_network(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "cost",
        "--factory",
        FACTORY,
        "--input",
        "1x8x8",
        "--classes",
        "10",
        "-T",
        "2",
        "--json",
    ]
    assert main([*args, "--weight-bits", "4", "--membrane-bits", "4", "--bn-bits", "8"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in report["layers"]] == ["0", "4", "8"]
    assert (
        main(["cost", "--factory", "conv_net", "--input", "1x8x8", "--classes", "10", "-T", "2"])
        == 2
    )
    assert "--factory must look like package.module:function" in capsys.readouterr().err
