"""``mdsnn-search export``: trials as TrainSpec YAML that round-trips; refusals exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from results_studies import FRONT, Built

from mdsnn_search import cli
from mdsnn_search.distill import DistillConfig
from mdsnn_search.files import load_config
from mdsnn_search.job import TrainSpec
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.results import open_stored_study, trial_train_spec
from mdsnn_search.spec.objectives import ATTR_STUDENT
from mdsnn_search.study.documents import trial_document
from mdsnn_search.study.folder import study_folder


def fail(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(["export", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("mdsnn-search export: error: ")
    return captured.err


def test_export_round_trips_into_train_spec(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    built = make_study()
    out = tmp_path / "exports"
    assert (
        cli.main(
            [
                "export",
                *built.args(),
                "--trials",
                "6",
                "4",
                "--out",
                str(out),
                "--epochs",
                "30",
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert [e["trial"] for e in doc["exports"]] == [6, 4]
    path = out / "t-trial6.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Exported from study 't'")
    loaded = TrainSpec.model_validate(yaml.safe_load(text))
    stored = open_stored_study(built.spec_path)
    trial = stored.study.trials[6]
    assert loaded == trial_train_spec(stored, trial, out_dir=out, epochs=30)
    student = trial_document(trial, ATTR_STUDENT)
    assert loaded.model.precision == PrecisionConfig.model_validate(student["precision"])
    assert loaded.distill == DistillConfig.model_validate(student["distill"])
    assert loaded.model.precision.for_layer("features.0").w_bits == 2
    assert (
        loaded.name == "t-trial6"
        and loaded.training.epochs == 30
        and loaded.training.batch_size == 32
    )
    assert loaded.teacher == built.teacher and loaded.output == out / "t-trial6.pt"
    assert (
        loaded.data.name == "digits" and loaded.data.timesteps == 4 and loaded.model.arch == "vgg5"
    )
    assert load_config(TrainSpec, path) == loaded  # exactly what `mdsnn-search train FILE` reads


def test_export_front_to_default_folder(
    make_study: Callable[..., Built],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = make_study()
    monkeypatch.chdir(tmp_path)
    before = built.db_digest()
    assert cli.main(["export", "--storage", built.url, "--study", "t", "--front"]) == 0
    assert "retrain with: mdsnn-search train" in capsys.readouterr().out
    exports = tmp_path / study_folder("t", built.url) / "exports"
    written = sorted(p.name for p in exports.iterdir())
    assert written == sorted(f"t-trial{n}.yaml" for n in FRONT)
    epochs = yaml.safe_load((exports / "t-trial0.yaml").read_text())["training"]["epochs"]
    assert epochs == 2  # the search's budget unless --epochs
    assert built.db_digest() == before


@pytest.mark.parametrize(
    ("trials", "message"),
    [
        ("8", "trial 8 of study 't' is failed"),
        ("9", "trial 9 of study 't' is running"),
        ("10", "trial 10 of study 't' is waiting"),
        ("42", "study 't' has no trial 42 (trials are numbered 0..10)"),
    ],
)
def test_export_refuses_unfinished_or_unknown_trials(
    make_study: Callable[..., Built],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    trials: str,
    message: str,
) -> None:
    built = make_study()
    out = tmp_path / "never"
    err = fail(capsys, *built.args(), "--trials", "4", trials, "--out", str(out))
    assert message in err
    assert not out.exists()  # nothing half-exported


def test_export_needs_a_choice(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]
) -> None:
    built = make_study()
    with pytest.raises(SystemExit) as exc:
        cli.main(["export", *built.args()])
    assert exc.value.code == 2
    assert "--trials" in capsys.readouterr().err
