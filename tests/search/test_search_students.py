"""Trials keep their trained students; export --nir writes them without retraining."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import mdsnn_search
from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.cli import main
from mdsnn_search.data import load_search_dataset
from mdsnn_search.errors import StudyError
from mdsnn_search.execution.protocol import TrialContext, TrialOutcome, TrialRequest
from mdsnn_search.job import evaluate_splits
from mdsnn_search.results import open_stored_study
from mdsnn_search.search.run import run_study
from mdsnn_search.search.trial import run_trial
from mdsnn_search.snn.nir_export import is_our_nir
from mdsnn_search.spec.objectives import ATTR_METRICS
from mdsnn_search.spec.schema import load_spec
from mdsnn_search.spec.space import StudentConfig
from mdsnn_search.study.documents import trial_document
from mdsnn_search.study.folder import study_folder
from mdsnn_search.study.students import (
    ATTR_STUDENT_CHECKPOINT,
    StudentsTarget,
    write_returned,
)


def test_trials_keep_students_and_export_them_as_nir(
    write_spec: Callable[..., Path],
    tiny_teacher: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec_path = write_spec(study={"n_trials": 2}, teacher={"checkpoint": str(tiny_teacher)})
    spec = load_spec(spec_path)
    folder = tmp_path / study_folder("tiny", spec.study.storage_url())
    run_study(spec, progress=False)
    trials = open_stored_study(spec_path).study.get_trials()
    kept = [Path(t.user_attrs[ATTR_STUDENT_CHECKPOINT]) for t in trials]
    assert kept == [(folder / "students" / f"trial-{n}.pt") for n in (0, 1)]
    # The kept file is the trained student itself: it scores the trial's accuracy again.
    bundle = load_search_dataset(spec.data)
    checkpoint = load_checkpoint(kept[1])
    assert checkpoint.metadata["trial"] == 1
    again = evaluate_splits(checkpoint.model.eval(), None, bundle)["accuracy"]
    assert again == pytest.approx(trial_document(trials[1], ATTR_METRICS)["accuracy"])

    capsys.readouterr()
    assert main(["status", str(spec_path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["kept_students"] == {"count": 2, "bytes": sum(p.stat().st_size for p in kept)}

    assert main(["export", str(spec_path), "--trials", "1", "--nir", "--json"]) == 0
    (written,) = json.loads(capsys.readouterr().out)["nir"]
    assert written["from"] == "kept" and written["student"] == str(kept[1])
    assert is_our_nir(Path(written["file"]))

    # A resumed run with keep_students off keeps none; exporting that trial says what makes one.
    spec_path = write_spec(
        study={"n_trials": 3},
        teacher={"checkpoint": str(tiny_teacher)},
        execution={"keep_students": False},
    )
    run_study(load_spec(spec_path), progress=False)
    (third,) = [t for t in open_stored_study(spec_path).study.get_trials() if t.number == 2]
    assert ATTR_STUDENT_CHECKPOINT not in third.user_attrs
    assert not (folder / "students/trial-2.pt").exists()
    capsys.readouterr()
    assert main(["export", str(spec_path), "--trials", "2", "--nir"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "trial 2" in error and "was not kept" in error and "mdsnn-search train" in error
    assert not list((folder / "exports").glob("*trial2.nir"))
    # The Python API raises the same error, with the same line.
    with pytest.raises(StudyError) as raised:
        mdsnn_search.export(spec_path, [2], nir=True)
    assert error == f"mdsnn-search export: error: {raised.value}"

    # The commands it names make one: the trial retrained from its export, then written as NIR.
    assert main(["export", str(spec_path), "--trials", "2", "--epochs", "1"]) == 0
    assert main(["train", str(folder / "exports/tiny-trial2.yaml"), "--json"]) == 0
    capsys.readouterr()
    assert main(["export", str(spec_path), "--trials", "2", "--nir", "--json"]) == 0
    (written,) = json.loads(capsys.readouterr().out)["nir"]
    assert written["from"] == "retrained"
    assert written["student"] == str(folder / "exports/tiny-trial2.pt")
    assert is_our_nir(Path(written["file"]))


def test_a_node_without_the_students_folder_returns_the_student_as_bytes(
    write_spec: Callable[..., Path], tiny_teacher: Path, tmp_path: Path
) -> None:
    spec = load_spec(write_spec(teacher={"checkpoint": str(tiny_teacher)}))
    student = StudentConfig.model_validate(
        {"precision": {"default": {"w_bits": 32, "u_bits": 32, "bn_bits": 32}}, "distill": {}}
    )
    elsewhere = tmp_path / "driver-only"  # the driver's folder, which this node does not see
    context = TrialContext(
        spec=spec.model_dump(mode="json"),
        teacher_checkpoint=str(tiny_teacher),
        students=StudentsTarget(str(elsewhere), "token"),
    )
    outcome = run_trial(context, TrialRequest(number=7, student=student, baseline="fp32"))
    assert outcome.error is None
    assert outcome.student_checkpoint is None and outcome.student_bytes is not None
    travelled = TrialOutcome.from_json(json.loads(json.dumps(outcome.to_json())))
    assert travelled.student_bytes == outcome.student_bytes
    elsewhere.mkdir()
    path = write_returned(elsewhere, 7, travelled.student_bytes)
    assert load_checkpoint(path).metadata["trial"] == 7
