"""The Ray Tune adapter: the only module that imports ray.

Each study trial is one Ray Tune trial with the spec's resources. Ray's searcher interface is fed
by the :class:`StudyDriver` (ask), and a Tune callback hands outcomes back to it (tell), so the
study in the storage is written by this driver process alone. Ray's own OptunaSearch is not used:
it leaves NaN trials RUNNING, cannot seed baselines for several objectives and cannot store a
failure's reason (design.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.search import ConcurrencyLimiter, Searcher

from mdsnn_search.search.driver import StudyDriver
from mdsnn_search.search.executors import TrialFn
from mdsnn_search.search.trial import STATUS_FAILED, TrialContext

logger = logging.getLogger(__name__)

_OUTCOME = "outcome_json"


class _DriverBound:
    """Holds the driver, which lives in this process only: Ray pickles searchers and callbacks
    into its experiment state (for its own restore, which we do not use), so the driver and its
    storage connection are left out of the pickle."""

    _driver: StudyDriver

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_driver"}


class _DriverSearcher(_DriverBound, Searcher):
    """Suggests the driver's next request until ``n_trials`` have been asked."""

    def __init__(self, driver: StudyDriver, n_trials: int) -> None:
        super().__init__()
        self._driver = driver
        self._left = n_trials

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._left <= 0:
            return Searcher.FINISHED
        self._left -= 1
        return {"request": self._driver.ask()}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        """Outcomes are told by :class:`_TellDriver`, which also sees errors and trial paths."""

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the study storage is this searcher's state (a rerun resumes from it)."""

    def restore(self, checkpoint_path: str) -> None:
        """See :meth:`save`."""


class _TellDriver(_DriverBound, tune.Callback):
    def __init__(self, driver: StudyDriver) -> None:
        self._driver = driver

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        result = trial.last_result or {}
        outcome = json.loads(result[_OUTCOME]) if _OUTCOME in result else {
            "status": STATUS_FAILED, "error": "the trial ended without reporting a result"
        }
        self._driver.tell(trial.config["request"]["number"], outcome, trial_dir=trial.path)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        reason = _last_error_line(trial.error_file) or "the Ray trial raised"
        outcome = {"status": STATUS_FAILED, "error": f"Ray trial error: {reason}"}
        self._driver.tell(trial.config["request"]["number"], outcome, trial_dir=trial.path)


def _last_error_line(error_file: str | None) -> str | None:
    if not error_file or not os.path.isfile(error_file):
        return None
    lines = [line.strip() for line in Path(error_file).read_text().splitlines() if line.strip()]
    return lines[-1] if lines else None


def _trainable(config: dict[str, Any], context: TrialContext, trial_fn: TrialFn, teacher_bytes: bytes) -> None:
    local = _local_teacher(context.teacher_checkpoint, teacher_bytes)
    outcome = trial_fn(dataclasses.replace(context, teacher_checkpoint=local), config["request"])
    tune.report({_OUTCOME: json.dumps(outcome)})


def _local_teacher(path: str, payload: bytes) -> str:
    """The teacher's checkpoint on this node: the driver's path when this node sees it (one
    machine, or shared storage), else a copy written once from the bytes Ray's object store
    brought along."""
    if os.path.isfile(path):
        return path
    digest = hashlib.sha256(payload).hexdigest()[:16]
    local = Path(tempfile.gettempdir()) / f"mdsnn-teacher-{digest}.pt"
    if not local.is_file():
        partial = local.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(payload)
        partial.replace(local)
    return str(local)


def run_tuner(
    driver: StudyDriver, context: TrialContext, n_trials: int, trial_fn: TrialFn, *, address: str | None
) -> None:
    """Run ``n_trials`` trials on Ray (joining ``address`` if given, else a local Ray)."""
    execution = driver.spec.execution
    # The legacy reporter honours verbose=0; the new one prints a banner regardless, and our own
    # progress display already shows what matters.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    # with_parameters puts these in Ray's object store once; every node can read them.
    teacher_bytes = Path(context.teacher_checkpoint).read_bytes()
    trainable = tune.with_resources(
        tune.with_parameters(_trainable, context=context, trial_fn=trial_fn, teacher_bytes=teacher_bytes),
        {"cpu": execution.cpus_per_trial, "gpu": execution.gpus_per_trial},
    )
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=ConcurrencyLimiter(_DriverSearcher(driver, n_trials), max_concurrent=execution.max_concurrent),
            num_samples=n_trials,
        ),
        run_config=tune.RunConfig(
            name=driver.study.study_name,
            storage_path=str(Path(execution.ray_dir).resolve()),
            callbacks=[_TellDriver(driver)],
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )
    tuner.fit()
