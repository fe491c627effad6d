"""Search on validation, report on test (docs/design/methods.md section 7), through a real
in-process study."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import TrialState

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.cli import main
from mdsnn_search.data import DataConfig, load_dataset
from mdsnn_search.metrics import TEST_ACCURACY, VAL_ACCURACY
from mdsnn_search.spec.objectives import ATTR_METRICS, STUDY_TEACHER
from mdsnn_search.spec.schema import load_spec
from mdsnn_search.study.documents import trial_document


def test_trials_are_chosen_on_validation_and_store_both_splits(
    write_spec: Callable[..., Path], capsys
) -> None:
    spec_path = write_spec(data={"val_fraction": 0.25})
    assert main(["run", str(spec_path)]) == 0
    spec = load_spec(spec_path)
    study = optuna.load_study(study_name=spec.study.name, storage=spec.study.storage_url())
    bundle = load_dataset(DataConfig.model_validate(spec.data.model_dump()))
    split = bundle.with_validation(0.25, spec.data.split_seed)
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        metrics = trial_document(trial, ATTR_METRICS)
        assert trial.values[0] == metrics[VAL_ACCURACY] == metrics["accuracy"]
        assert metrics["samples"] == len(split.validation)  # activity and cost: validation too
        assert (
            metrics["test"]["samples"] == len(split.test)
            and metrics[TEST_ACCURACY] == metrics["test"]["accuracy"]
        )
    teacher = study.user_attrs[STUDY_TEACHER]
    stored = load_checkpoint(teacher["checkpoint"]).metadata["metrics"]
    assert (
        teacher["accuracy"] == stored[VAL_ACCURACY]
        and teacher[TEST_ACCURACY] == stored[TEST_ACCURACY]
    )

    capsys.readouterr()
    assert main(["pareto", str(spec_path), "--no-files", "--json"]) == 0
    front = json.loads(capsys.readouterr().out)["front"]
    assert front and all(t["values"]["accuracy"] == t["metrics"][VAL_ACCURACY] for t in front)
    assert all(0 <= t["metrics"][TEST_ACCURACY] <= 1 for t in front)


def test_tables_report_both_splits_and_plots_the_split_the_front_is_chosen_on(
    write_spec: Callable[..., Path],
) -> None:
    from mdsnn_search.results import open_stored_study, summarize_front
    from mdsnn_search.results.plotdata import plot_data
    from mdsnn_search.results.tables import front_rows
    from mdsnn_search.results.terminal import records_of

    spec_path = write_spec()
    assert main(["run", str(spec_path)]) == 0
    stored = open_stored_study(spec_path)
    trials = stored.study.get_trials(deepcopy=False)
    summary = summarize_front(stored.study, stored.objectives, stored.directions)
    records = records_of(stored, trials)
    front = {t.number for t in summary.front}
    columns, rows = front_rows(stored, [r for r in records if r.number in front])
    val, test = columns.index("val accuracy (%)"), columns.index("test accuracy (%)")
    by_number = {r.number: r for r in records}
    for row in rows:
        record = by_number[row[0]]
        assert (
            row[val] == 100 * record.values["accuracy"]
            and row[test] == 100 * record.metrics[TEST_ACCURACY]
        )
    # One split per plot, its reference lines included: validation, where the front is chosen and
    # the accuracy constraint judged; each point's test accuracy is in its hover text.
    data = plot_data(stored, records, summary)
    assert data.y.label == "validation accuracy (%)"
    assert all(p.y == 100 * by_number[p.number].values["accuracy"] for p in data.points)
    assert all("test" in p.text for p in data.points)
