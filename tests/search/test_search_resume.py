"""Resuming a study: new proposals from every sampler, and a changed spec refused or recorded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from study_runs import bits_trial, stored_trials

from mdsnn_search.cli import main
from mdsnn_search.results import open_stored_study
from mdsnn_search.search.run import run_study
from mdsnn_search.search.samplers import SAMPLERS
from mdsnn_search.spec.objectives import ATTR_SPEC, ATTR_TEACHER, STUDY_SPEC_HASH
from mdsnn_search.spec.schema import load_spec
from mdsnn_search.study.documents import trial_document
from mdsnn_search.study.drift import spec_hash


def searched_params(url: str) -> list[dict[str, Any]]:
    return [t.params for t in stored_trials(url) if t.state == TrialState.COMPLETE]


@pytest.mark.parametrize("sampler", SAMPLERS.names())
def test_a_resumed_study_proposes_new_configurations(
    sampler: str, write_spec: Callable[..., Path], tiny_teacher: Path, tmp_path: Path
) -> None:
    histories = []
    for name in ("first", "again"):  # the same history twice, in two storages
        spec_path = write_spec(
            f"{name}.yaml",
            study={
                "storage": f"sqlite:///{tmp_path / name}.db",
                "sampler": sampler,
                "baselines": [],
            },
            teacher={"checkpoint": str(tiny_teacher)},
        )
        spec = load_spec(spec_path)
        run_study(spec, trial_fn=bits_trial, progress=False)  # 4 trials
        run_study(spec, n_trials=8, trial_fn=bits_trial, progress=False)  # resumed: 4 more
        histories.append(searched_params(spec.study.storage_url()))
    params = histories[0]
    assert len(params) == 8
    before, after = params[:4], params[4:]
    # A sampler rebuilt with the study seed alone replays its first proposals on resume.
    assert not [p for p in after if p in before]
    assert histories[1] == params  # deterministic for a given history


def test_an_edited_spec_is_refused_and_the_storage_is_untouched(
    write_spec: Callable[..., Path],
    tiny_teacher: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    teacher = {"checkpoint": str(tiny_teacher)}
    spec_path = write_spec(study={"n_trials": 2}, teacher=teacher)
    run_study(load_spec(spec_path), trial_fn=bits_trial, progress=False)
    db = tmp_path / "tiny.db"
    before = db.read_bytes()
    edited = write_spec(
        "edited.yaml",
        study={"n_trials": 3},
        teacher=teacher,
        training={"epochs": 2},
        search_space={"w_bits": [2, 4, 8]},
    )
    capsys.readouterr()
    assert main(["run", str(edited)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(edited) in err and "--accept-spec-change" in err
    assert "training.epochs: 1 -> 2" in err and "search_space.w_bits: [2, 4] -> [2, 4, 8]" in err
    assert db.read_bytes() == before
    # What may change between runs is not a change of the experiment.
    other_run = write_spec(
        "other.yaml",
        study={"n_trials": 3, "sampler": "random", "seed": 7},
        teacher=teacher,
        execution={"max_concurrent": 1},
    )
    assert main(["run", str(other_run), "--json"]) == 0


def test_an_accepted_change_is_recorded_per_trial_and_export_follows_each_trial(
    write_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = write_spec(study={"n_trials": 2})
    assert main(["run", str(spec_path), "--json"]) == 0
    url = load_spec(spec_path).study.storage_url()
    old_teacher = optuna.load_study(study_name="tiny", storage=url).user_attrs["teacher"][
        "checkpoint"
    ]
    edited = write_spec(
        "edited.yaml",
        study={"n_trials": 3},
        training={"epochs": 2},
        teacher={"training": {"epochs": 3, "batch_size": 16, "lr": 0.003}},
    )
    assert main(["run", str(edited), "--accept-spec-change", "--json"]) == 0
    study = optuna.load_study(study_name="tiny", storage=url)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert [trial_document(t, ATTR_SPEC)["training"]["epochs"] for t in trials] == [1, 1, 2]
    new_teacher = trials[2].user_attrs[ATTR_TEACHER]["checkpoint"]
    assert [t.user_attrs[ATTR_TEACHER]["checkpoint"] for t in trials] == [
        old_teacher,
        old_teacher,
        new_teacher,
    ]
    assert new_teacher != old_teacher
    edited_document = load_spec(edited).model_dump(mode="json")
    assert study.user_attrs[STUDY_SPEC_HASH] == spec_hash(edited_document)
    assert open_stored_study(edited).spec_document["training"]["epochs"] == 2
    out = tmp_path / "exports"
    assert main(["export", str(edited), "--trials", "0", "2", "--out", str(out)]) == 0
    exported = {p.name: yaml.safe_load(p.read_text()) for p in out.glob("*.yaml")}
    assert (
        exported["tiny-trial0.yaml"]["training"]["epochs"] == 1
        and exported["tiny-trial0.yaml"]["teacher"] == old_teacher
    )
    assert (
        exported["tiny-trial2.yaml"]["training"]["epochs"] == 2
        and exported["tiny-trial2.yaml"]["teacher"] == new_teacher
    )
    # The study now follows the accepted spec: the old one is the changed one.
    capsys.readouterr()
    assert main(["run", str(spec_path)]) == 2
    assert "training.epochs: 2 -> 1" in capsys.readouterr().err


def test_a_plain_resume_keeps_the_stored_spec_and_teacher(
    write_spec: Callable[..., Path], tiny_teacher: Path
) -> None:
    spec_path = write_spec(study={"n_trials": 2}, teacher={"checkpoint": str(tiny_teacher)})
    spec = load_spec(spec_path)
    run_study(spec, trial_fn=bits_trial, progress=False)
    before = optuna.load_study(study_name="tiny", storage=spec.study.storage_url()).user_attrs
    run_study(spec, n_trials=3, trial_fn=bits_trial, progress=False)
    after = optuna.load_study(study_name="tiny", storage=spec.study.storage_url()).user_attrs
    assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)
