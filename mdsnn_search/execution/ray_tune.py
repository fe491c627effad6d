"""The Ray Tune adapter: the only module that imports ray.

:func:`ray_executor` starts a local Ray (in a temp dir this run owns, :mod:`local_ray`) or joins
``--address``, and refuses a per-trial request no node can hold before anything is stored. Each
study trial is then one Ray Tune trial with those resources. Ray's searcher interface is fed by
the study's driver (:class:`~mdsnn_search.execution.protocol.TrialSource`: ask), and a Tune
callback hands starts and outcomes back to it (tell), so the storage is written by this driver
process alone: a trial reports one Tune result per epoch (its validation accuracy, a row of its
progress.csv), which the callback hands to the driver as the trial's intermediate value, and its
outcome as its last result. Ray's own OptunaSearch is not used: it leaves NaN trials RUNNING,
cannot seed baselines for several objectives and cannot store a failure's reason
(docs/design/design.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.search import ConcurrencyLimiter, Searcher

from mdsnn_search.checksums import checksum_path
from mdsnn_search.errors import ConfigError
from mdsnn_search.execution import local_ray
from mdsnn_search.execution.protocol import (
    TrialContext,
    TrialFn,
    TrialOutcome,
    TrialRequest,
    TrialSource,
    epoch_reporting,
)
from mdsnn_search.execution.resources import (
    NodeResources,
    TrialResources,
    probe_address,
    trial_resources,
)
from mdsnn_search.spec.schema import ExecutionConfig

_REQUEST = "request"
"""Key of the trial request (JSON) in a Ray trial's config."""
_OUTCOME = "outcome_json"
"""Key of the trial outcome (a JSON string) in the result a Ray trial reports last."""
_EPOCH = "epoch"
_VAL_ACCURACY = "val_accuracy"
"""Keys of the result a Ray trial reports after each epoch (one row of its progress.csv), which
:class:`_TellDriver` hands to the driver as an intermediate value."""


@contextmanager
def ray_executor(
    execution: ExecutionConfig, address: str | None, address_field: str
) -> Iterator[RayExecutor]:
    """Ray for this run, its trial request checked against the cluster; shut down on the way out.

    A Ray already initialised in this process (a test's, a notebook's) is used as it is and left
    running.
    """
    started_here = not ray.is_initialized()
    temp_dir: Path | None = None
    try:
        if started_here:
            if address is not None:
                probe_address(address, field=address_field)
            else:
                temp_dir = local_ray.claim_temp_dir()
            _init(address, temp_dir, address_field)
        where = f"the Ray cluster at {address}" if address else "the local Ray"
        yield RayExecutor(execution, trial_resources(execution, _nodes(), where))
    finally:
        if started_here:
            ray.shutdown()  # stops a local Ray; leaves a joined cluster running
        if temp_dir is not None:
            local_ray.release(temp_dir)


@dataclasses.dataclass(frozen=True)
class RayExecutor:
    execution: ExecutionConfig
    resources: TrialResources

    def run(self, driver: TrialSource, context: TrialContext, trial_fn: TrialFn) -> None:
        """Run Ray Tune trials until the study holds its n_trials finished trials."""
        # with_parameters puts these in Ray's object store once; every node can read them.
        teacher_bytes = Path(context.teacher_checkpoint).read_bytes()
        trainable = tune.with_resources(
            tune.with_parameters(
                _trainable,
                context=context,
                trial_fn=trial_fn,
                teacher_bytes=teacher_bytes,
                state_files=_state_files(context.strategy_state),
            ),
            {"cpu": self.resources.cpus, "gpu": self.resources.gpus},
        )
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=ConcurrencyLimiter(
                    _DriverSearcher(driver), max_concurrent=self.execution.max_concurrent
                ),
                num_samples=-1,  # until the searcher says FINISHED: other runs may take some trials
            ),
            run_config=tune.RunConfig(
                name=driver.study_name,
                storage_path=str(Path(self.execution.ray_dir).resolve()),
                callbacks=[_TellDriver(driver)],
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
        with _tune_environment():
            tuner.fit()


@contextmanager
def _tune_environment() -> Iterator[None]:
    """The environment Tune reads while it runs trials, for that time only (the rest of the
    process, a notebook's later Tune runs included, sees its own).

    The legacy reporter honours verbose=0; the new one prints a banner regardless, and our own
    progress display already shows what matters (a user's RAY_AIR_NEW_OUTPUT is kept). Ctrl-C is
    ours (signals.py), not Tune's.
    """
    wanted = {
        "RAY_AIR_NEW_OUTPUT": os.environ.get("RAY_AIR_NEW_OUTPUT", "0"),
        "TUNE_DISABLE_SIGINT_HANDLER": "1",
    }
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _init(address: str | None, temp_dir: Path | None, address_field: str) -> None:
    # Ray 2.60 turns token authentication on for every new local Ray and warns about it each time
    # (a line among a refusal's one-line message); it stays on, without the warning.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.ERROR
    )
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            _temp_dir=str(temp_dir) if temp_dir is not None else None,
        )
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        if address is None:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{address_field} {address}: cannot join the Ray cluster ({first})"
        ) from None


def _nodes() -> list[NodeResources]:
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]  # Ray's is unannotated
    return [
        NodeResources(float(n["Resources"].get("CPU", 0.0)), float(n["Resources"].get("GPU", 0.0)))
        for n in nodes
        if n.get("Alive")
    ]


class _DriverBound:
    """Holds the driver, which lives in this process only: Ray pickles searchers and callbacks
    into its experiment state (for its own restore, which we do not use), so the driver and its
    storage connection are left out of the pickle."""

    _driver: TrialSource

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_driver"}


class _DriverSearcher(_DriverBound, Searcher):
    """Suggests the driver's next claimed trial; FINISHED once the study holds n_trials."""

    def __init__(self, driver: TrialSource) -> None:
        super().__init__()
        self._driver = driver

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        request = self._driver.ask()
        if request is None:
            # FINISHED is Ray's string sentinel, though Searcher.suggest's hint says dict | None.
            return Searcher.FINISHED if self._driver.done else None  # type: ignore[return-value]
        return {_REQUEST: request.to_json()}

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Outcomes are told by :class:`_TellDriver`, which also sees errors and trial paths."""

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the study storage is this searcher's state (a rerun resumes from it)."""

    def restore(self, checkpoint_path: str) -> None:
        """See :meth:`save`."""


class _TellDriver(_DriverBound, tune.Callback):
    def __init__(self, driver: TrialSource) -> None:
        self._driver = driver

    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._driver.started(_number(trial))

    def on_trial_result(
        self,
        iteration: int,
        trials: list[Trial],
        trial: Trial,
        result: dict[str, Any],
        **info: Any,
    ) -> None:
        if _VAL_ACCURACY in result and _OUTCOME not in result:
            self._driver.report(_number(trial), int(result[_EPOCH]), float(result[_VAL_ACCURACY]))

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        result = trial.last_result or {}
        outcome = (
            TrialOutcome.from_json(json.loads(result[_OUTCOME]))
            if _OUTCOME in result
            else TrialOutcome.failed("the trial ended without reporting a result")
        )
        self._driver.tell(_number(trial), outcome, trial_dir=trial.path)

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        text = _error_text(trial.error_file)
        reason = text.strip().splitlines()[-1] if text.strip() else "the Ray trial raised"
        outcome = TrialOutcome.failed(f"Ray trial error: {reason}", text or None)
        self._driver.tell(_number(trial), outcome, trial_dir=trial.path)


def _number(trial: Trial) -> int:
    return int(trial.config[_REQUEST]["number"])


def _error_text(error_file: str | None) -> str:
    """What Ray wrote about a crashed trial: the worker's traceback."""
    if not error_file or not os.path.isfile(error_file):
        return ""
    return Path(error_file).read_text(errors="replace")


def _trainable(
    config: dict[str, Any],
    context: TrialContext,
    trial_fn: TrialFn,
    teacher_bytes: bytes,
    state_files: tuple[bytes, bytes | None] | None = None,
) -> None:
    update = {"teacher_checkpoint": _local_copy(context.teacher_checkpoint, teacher_bytes)}
    if context.strategy_state is not None and state_files is not None:
        update["strategy_state"] = _local_copy(context.strategy_state, *state_files)
    request = TrialRequest.from_json(config[_REQUEST])
    with epoch_reporting(_report_epoch):
        outcome = trial_fn(context.model_copy(update=update), request)
    tune.report({_OUTCOME: json.dumps(outcome.to_json())})


def _report_epoch(epoch: int, accuracy: float) -> None:
    tune.report({_EPOCH: epoch, _VAL_ACCURACY: accuracy})


def _state_files(state: str | None) -> tuple[bytes, bytes | None] | None:
    """The file a strategy prepared for its trials (a oneshot study's supernet) and its checksum,
    to travel through Ray's object store as the teacher does; None when the state is no file."""
    if state is None or not os.path.isfile(state):
        return None
    checksum = checksum_path(Path(state))
    return Path(state).read_bytes(), checksum.read_bytes() if checksum.is_file() else None


def _local_copy(path: str, payload: bytes, checksum: bytes | None = None) -> str:
    """A driver's file (the teacher's checkpoint, a strategy's state) on this node: the driver's
    path when this node sees it (one machine, or shared storage), else a copy written once from
    the bytes Ray's object store brought along, with the driver's checksum beside it (so a file
    damaged on the driver is still refused here)."""
    if os.path.isfile(path):
        return path
    digest = hashlib.sha256(payload).hexdigest()[:16]
    local = Path(tempfile.gettempdir()) / f"mdsnn-{Path(path).stem}-{digest}{Path(path).suffix}"
    if checksum is not None:
        _write_once(checksum_path(local), checksum)
    _write_once(local, payload)
    return str(local)


def _write_once(path: Path, payload: bytes) -> None:
    if not path.is_file():
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_bytes(payload)
        partial.replace(path)
