"""Bad input needing no training is refused by ``validate`` and ``run`` before anything is stored.

Each case is the tiny digits spec with one mistake. Both commands must exit 2 with one line naming
the spec file and the field, create no study database, and leave an existing one byte for byte.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
import yaml

from mdsnn_search.checkpoint import save_checkpoint
from mdsnn_search.cli import main
from mdsnn_search.search.teacher import cached_teacher_path
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.models import build_model
from mdsnn_search.spec.schema import load_spec

DIGITS = (1, 8, 8)


class NotWeights:
    """Pickled as a Python object: what ``torch.load(weights_only=True)`` refuses."""


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Untrained teachers (the checks need no trained weights) and files that are no teacher."""
    folder = tmp_path_factory.mktemp("teachers")
    networks: dict[str, tuple[str, float, tuple[int, int, int], int]] = {
        "fits": ("vgg5", 0.5, DIGITS, 10),
        "wider": ("vgg5", 1.0, DIGITS, 10),
        "other_arch": ("vgg9_spikesim", 0.5, DIGITS, 10),
        "other_input": ("vgg5", 0.5, (1, 16, 16), 10),
        "other_classes": ("vgg5", 0.5, DIGITS, 5),
    }
    paths = {}
    for name, (arch, width, shape, classes) in networks.items():
        paths[name] = save_checkpoint(
            folder / f"{name}.pt", build_model(ModelConfig(arch=arch, width=width), shape, classes)
        )
    paths["text"] = folder / "notes.pt"
    paths["text"].write_text("not a checkpoint\n")
    paths["foreign"] = folder / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, paths["foreign"])
    paths["pickled"] = folder / "pickled.pt"
    torch.save(NotWeights(), paths["pickled"])
    return paths


@pytest.fixture(scope="module")
def stored_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study database as a run leaves it, created once; tests copy it."""
    path = tmp_path_factory.mktemp("stored") / "tiny.db"
    optuna.create_study(
        study_name="tiny", storage=f"sqlite:///{path}", directions=["maximize", "minimize"]
    )
    return path


def assert_refused(
    capsys: pytest.CaptureFixture[str], spec_path: Path, stored: Path, *needles: str
) -> None:
    """validate and run exit 2 with one line naming the file and ``needles``; no database is
    created, and an existing one keeps its bytes."""
    db = spec_path.parent / "tiny.db"
    db.unlink(missing_ok=True)
    for existing in (False, True):
        if existing:
            shutil.copyfile(stored, db)
            before = db.read_bytes()
        for command in ("validate", "run"):
            assert main([command, str(spec_path)]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err, err
            assert str(spec_path) in err, err
            for needle in needles:
                assert needle in err, err
            if existing:
                assert db.read_bytes() == before
            else:
                assert not db.exists()


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        (
            {"search_space": {"kd_weight": {"low": 0, "high": float("inf")}}},
            ["search_space.kd_weight.high", "finite"],
        ),
        (
            {"search_space": {"membrane_weight": float("nan")}},
            ["search_space.membrane_weight", "finite"],
        ),
        ({"study": {"seed": 10**26}}, ["study.seed", "0..4294967295"]),
        ({"training": {"seed": 2**32}}, ["training.seed"]),
        ({"teacher": {"training": {"epochs": 10**26}}}, ["teacher.training.epochs"]),
        ({"training": {"batch_size": 10**12}}, ["training.batch_size"]),
        ({"search_space": {"w_bits": [True, 4]}}, ["search_space.w_bits.0", "valid integer"]),
        (
            {"search_space": {"fixed_layers": {"conv1": {"w_bits": 8.0}}}},
            ["search_space.fixed_layers.conv1.w_bits"],
        ),
        (
            {"study": {"n_trials": 1}},
            ["study.n_trials", "1 trial cannot hold the 2 baselines", "--n-trials 2", "[fp32]"],
        ),
        ({"study": {"baselines": ["fp32", "fp32"]}}, ["study.baselines", "distinct"]),
        ({"study": {"name": ".."}}, ["study.name", "plain name"]),
        ({"study": {"name": "a/b"}}, ["study.name", "plain name"]),
        ({"model": {"arch": "vgg9"}}, ["model:", "too small for vgg9"]),
        ({"study": {"storage": "sqlite://"}}, ["study.storage", "in-memory"]),
        ({"study": {"storage": "sqlite:///:memory:"}}, ["study.storage", "in-memory"]),
    ],
    ids=lambda value: str(value)[:60],
)
def test_spec_mistakes_are_refused_before_anything_is_stored(
    write_spec: Callable[..., Path],
    stored_study: Path,
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, Any],
    needles: list[str],
) -> None:
    assert_refused(capsys, write_spec(**overrides), stored_study, *needles)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused(
    write_spec: Callable[..., Path], stored_study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = write_spec(training={"device": "cuda"})
    assert_refused(
        capsys, spec_path, stored_study, "training.device: cuda, but torch finds no CUDA device"
    )
    spec_path = write_spec(teacher={"training": {"device": "cuda", "epochs": 1}})
    assert_refused(capsys, spec_path, stored_study, "teacher.training.device")


@pytest.mark.parametrize(
    ("teacher", "needles"),
    [
        ("wider", ["is vgg5 at width 1, but the model is vgg5 at width 0.5"]),
        ("other_arch", ["is vgg9_spikesim at width 0.5, but the model is vgg5"]),
        ("other_input", ["built for input (1, 16, 16)", "digits gives (1, 8, 8)"]),
        ("other_classes", ["and 5 classes", "and 10"]),
        ("text", ["not a checkpoint"]),
        ("foreign", ["not an mdsnn-search checkpoint"]),
        ("pickled", ["holds Python objects"]),
    ],
)
def test_teacher_that_does_not_fit_is_refused(
    write_spec: Callable[..., Path],
    stored_study: Path,
    checkpoints: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    teacher: str,
    needles: list[str],
) -> None:
    path = checkpoints[teacher]
    spec_path = write_spec(teacher={"checkpoint": str(path)})
    assert_refused(capsys, spec_path, stored_study, "teacher.checkpoint", str(path), *needles)
    assert "weights_only=False" not in capsys.readouterr().err


def test_a_fitting_teacher_validates(
    write_spec: Callable[..., Path],
    checkpoints: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    spec_path = write_spec(teacher={"checkpoint": str(checkpoints["fits"])})
    assert main(["validate", str(spec_path)]) == 0
    assert "valid" in capsys.readouterr().out
    assert not (tmp_path / "tiny.db").exists()


@pytest.mark.parametrize("damage", ["garbage", "foreign"])
def test_damaged_cached_teacher_says_to_delete_it(
    write_spec: Callable[..., Path],
    stored_study: Path,
    checkpoints: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    spec_path = write_spec()
    cached = cached_teacher_path(load_spec(spec_path))  # relative: the tests run inside tmp_path
    cached.parent.mkdir(parents=True)
    if damage == "garbage":
        cached.write_bytes(b"\x00" * 100)
    else:
        shutil.copyfile(checkpoints["wider"], cached)
    assert_refused(
        capsys, spec_path, stored_study, "teacher: cached teacher", str(cached), "delete it"
    )


def test_duplicate_key_and_deep_nesting_are_refused(
    write_spec: Callable[..., Path], stored_study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = write_spec().read_text()
    duplicate = write_spec("duplicate.yaml")
    duplicate.write_text(
        text + "study: {name: other, n_trials: 9}\n"
    )  # a second `study:` would silently win
    assert_refused(capsys, duplicate, stored_study, "not valid YAML: duplicate key 'study' at line")
    deep = write_spec("deep.yaml")
    deep.write_text(text + "extra: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert_refused(capsys, deep, stored_study, "not valid YAML: nested too deeply to read")


def test_n_trials_flag_is_checked_against_the_baselines(
    write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec_path = write_spec()
    assert main(["run", str(spec_path), "--n-trials", "1"]) == 2
    assert "study.n_trials: 1 trial cannot hold the 2 baselines fp32, w4u4;" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "tiny.db").exists()


def test_a_quick_spec_under_the_default_baselines_names_the_shortest_fixes(
    write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A spec that lists no baselines gets the three defaults; with 2 trials the one line says so
    and names both fixes: --n-trials 3, or the first two baselines only."""
    spec_path = write_spec()
    document = yaml.safe_load(spec_path.read_text())
    del document["study"]["baselines"]
    document["study"]["n_trials"] = 2
    spec_path.write_text(yaml.safe_dump(document))
    assert main(["run", str(spec_path)]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and (
            "study.n_trials: 2 trials cannot hold the 3 baselines w8u8, w4u4, w2u2 "
            "(the default study.baselines); run with --n-trials 3, or list fewer baselines "
            "(study.baselines: [w8u8, w4u4])"
        )
        in err
    )
    assert not (tmp_path / "tiny.db").exists()
