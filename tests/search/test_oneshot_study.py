"""A oneshot study end to end: its proxy study beside the main one, kills, results commands, Ray."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from study_runs import mdsnn_search, stored_trials, tiny_spec

from mdsnn_search.cli import main
from mdsnn_search.errors import ConfigError
from mdsnn_search.search.run import run_study
from mdsnn_search.spec.objectives import ATTR_BASELINE
from mdsnn_search.spec.schema import StudySpec, load_spec
from mdsnn_search.strategies.oneshot import OneShot
from mdsnn_search.strategies.oneshot.finetune import ATTR_FRONT
from mdsnn_search.strategies.oneshot.proxy import ATTR_PROXY
from mdsnn_search.study.folder import study_folder

ONESHOT = {
    "training": {"epochs": 1, "batch_size": 16, "lr": 0.003},
    "proxy_trials": 120,
    "population": 20,
}
FRONT = 3


def write_oneshot(write_spec: Callable[..., Path], teacher: Path, **sections: object) -> Path:
    return write_spec(
        study={
            "strategy": "oneshot",
            "n_trials": 2 + FRONT,
            "baselines": ["w4u4", "w2u2"],
            "heartbeat_interval_s": 1,
            "grace_period_s": 2,
        },
        teacher={"checkpoint": str(teacher)},
        oneshot=ONESHOT,
        **sections,
    )


def states(db: Path, study: str) -> list[str]:
    """States of one study's trials, read without Optuna (the run may be writing)."""
    if not db.is_file():
        return []
    try:
        with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30) as c:
            rows = c.execute(
                "SELECT t.state FROM trials t JOIN studies s ON t.study_id = s.study_id "
                "WHERE s.study_name = ? ORDER BY t.number",
                (study,),
            )
            return [row[0] for row in rows]
    except sqlite3.OperationalError:
        return []


def kill_when(spec: Path, tmp_path: Path, point: Callable[[], bool]) -> None:
    run = mdsnn_search("run", str(spec), cwd=tmp_path)
    deadline = time.monotonic() + 600
    while not point():
        assert run.poll() is None, f"the run ended first: {run.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run.kill()  # SIGKILL: nothing of the run gets to clean up
    run.communicate()


@pytest.mark.slow
def test_proxy_and_main_study_stay_apart_and_both_resume_after_kills(
    write_spec: Callable[..., Path], tiny_teacher: Path, tmp_path: Path
) -> None:
    spec = write_oneshot(write_spec, tiny_teacher)
    db = tmp_path / "tiny.db"
    kill_when(spec, tmp_path, lambda: 20 <= states(db, "tiny-proxy").count("COMPLETE") < 120)
    proxy_before = states(db, "tiny-proxy").count("COMPLETE")
    assert "COMPLETE" not in states(db, "tiny")  # killed before any fine-tuning
    kill_when(spec, tmp_path, lambda: "RUNNING" in states(db, "tiny")[2:])  # a front trial
    rerun = mdsnn_search("run", str(spec), "--json", cwd=tmp_path)
    out, err = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, err[-3000:]
    assert json.loads(out)["finished"] == 2 + FRONT

    url = f"sqlite:///{db}"
    assert sorted(optuna.get_all_study_names(url)) == ["tiny", "tiny-proxy"]
    proxy = stored_trials(url, "tiny-proxy")
    # Resumed, not restarted: exactly proxy_trials scored, all marked, none left open.
    assert len(proxy) == 120 and all(t.state == TrialState.COMPLETE for t in proxy)
    assert proxy_before < 120 and all(t.user_attrs[ATTR_PROXY] is True for t in proxy)
    main_trials = stored_trials(url)
    complete = [t for t in main_trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 2 + FRONT
    assert not any(ATTR_PROXY in t.user_attrs for t in main_trials)
    front = [t for t in complete if ATTR_BASELINE not in t.user_attrs]
    # Each front configuration fine-tuned once, with the proxy trial's precision parameters.
    by_number = {t.number: t for t in proxy}
    configurations = []
    for trial in front:
        precision = {k: v for k, v in trial.params.items() if k in proxy[0].params}
        if ATTR_FRONT in trial.user_attrs:  # a re-queued trial keeps the parameters only
            assert precision == by_number[trial.user_attrs[ATTR_FRONT]["proxy_trial"]].params
        configurations.append(json.dumps(precision, sort_keys=True))
    assert len(set(configurations)) == FRONT
    assert any(t.state == TrialState.FAIL for t in main_trials)  # the killed one, queued again


@pytest.mark.slow
def test_status_pareto_and_export_read_a_oneshot_study(
    write_spec: Callable[..., Path],
    tiny_teacher: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The whole space the supernet serves: front trials start from its masks, T_s and thresholds.
    elastic = {"keep_ratio": [0.5, 1.0], "timesteps": [1, 2], "learnable_threshold": [False, True]}
    spec = write_oneshot(write_spec, tiny_teacher, search_space=elastic)
    run_study(load_spec(spec), progress=False)
    capsys.readouterr()
    assert main(["status", str(spec), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["study"] == "tiny" and len(status["trials"]) == 2 + FRONT
    assert not status["failures"]
    assert main(["pareto", str(spec)]) == 0
    assert "hypervolume" in capsys.readouterr().out.lower()
    assert main(["export", str(spec), "--front"]) == 0
    folder = study_folder("tiny", load_spec(spec).study.storage_url())
    exports = list((tmp_path / folder / "exports").glob("*.yaml"))
    assert exports


def test_a_oneshot_spec_the_supernet_cannot_serve_is_refused_before_anything_is_stored(
    write_spec: Callable[..., Path],
    tiny_teacher: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    elastic = {"keep_ratio": [0.5, 1.0], "timesteps": [1, 2], "learnable_threshold": [False, True]}
    spec = write_oneshot(write_spec, tiny_teacher, search_space=elastic)
    assert main(["validate", str(spec)]) == 0  # keep ratios, timesteps, thresholds are served
    capsys.readouterr()
    spec = write_oneshot(
        write_spec, tiny_teacher, search_space=elastic, model={"quant": {"share_scale": True}}
    )
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert "spec.yaml: model.quant.share_scale:" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "tiny.db").exists() and not (tmp_path / "studies").exists()


def test_event_timesteps_that_do_not_divide_the_largest_are_refused(tmp_path: Path) -> None:
    def spec(timesteps: list[int], inplace: bool) -> StudySpec:
        document = tiny_spec(
            tmp_path,
            study={"strategy": "oneshot"},
            data={"name": "events", "timesteps": 12, "root": str(tmp_path)},
            search_space={"timesteps": timesteps},
            oneshot={"inplace_distillation": inplace},
        )
        document["data"].pop("max_per_class")
        return StudySpec.model_validate(document)

    with pytest.raises(ConfigError, match=r"^search_space\.timesteps: .* but 4 does not"):
        OneShot().check(spec([4, 6], inplace=True))
    OneShot().check(spec([4, 6], inplace=False))  # every T_s is taught by the teacher
    OneShot().check(spec([3, 6], inplace=True))


@pytest.mark.ray
@pytest.mark.slow
def test_oneshot_study_on_ray(
    write_spec: Callable[..., Path],
    tiny_teacher: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One baseline and one front trial: what Ray adds (the supernet's job, trials in workers)
    # needs no more; the front's selection is the inline tests' subject.
    spec = write_oneshot(write_spec, tiny_teacher, execution={"backend": "ray"})
    document = yaml.safe_load(spec.read_text())
    document["study"].update(n_trials=2, baselines=["w4u4"])
    spec.write_text(yaml.safe_dump(document))
    with caplog.at_level(logging.INFO, logger="mdsnn_search.search.run"):
        summary = run_study(load_spec(spec), progress=False)
    assert summary.finished == 2 and summary.failed_now == 0
    # The supernet trained as a Ray task of its own, its progress lines relayed to the driver.
    assert "supernet: epoch 1/1" in caplog.text
    front = [t for t in summary.study.get_trials() if ATTR_FRONT in t.user_attrs]
    assert len(front) == 1 and all(t.state == TrialState.COMPLETE for t in front)
