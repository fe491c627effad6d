"""``mdsnn-search run``: validate, check the study and the cluster, get the teacher, run the missing
trials.

Order matters for safety: everything that can fail on user input (spec, data, layer names, preset,
storage URL and driver, a mismatched or changed existing study, a per-trial request the cluster
cannot hold) is checked before anything is written, and a run that fails those checks leaves the
storage as it found it. Several runs may share the study; each stops when the study holds
n_trials finished trials between them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from mdsnn_search.data import DatasetBundle, load_dataset, load_search_dataset
from mdsnn_search.data.config import DOWNLOAD_PAGES
from mdsnn_search.errors import ConfigError, MdsnnError
from mdsnn_search.execution import local_ray
from mdsnn_search.execution.executors import Executor, open_executor
from mdsnn_search.execution.protocol import TrialContext, TrialFn
from mdsnn_search.execution.resources import local_node, probe_address, trial_resources
from mdsnn_search.hardware import load_preset
from mdsnn_search.metrics import TEST_ACCURACY
from mdsnn_search.precision import matches_layer
from mdsnn_search.results.storage import StoredStudy
from mdsnn_search.search.checks import check_inputs
from mdsnn_search.search.driver import StudyDriver
from mdsnn_search.search.progress import LiveProgress
from mdsnn_search.search.reference import cost_warnings, ensure_reference
from mdsnn_search.search.strategy import StrategySetup, get_strategy
from mdsnn_search.search.teacher import (
    TeacherInfo,
    check_beats_chance,
    ensure_teacher,
    ensure_teacher_outputs,
)
from mdsnn_search.search.trial import run_trial
from mdsnn_search.snn.models import model_layer_table
from mdsnn_search.spec.objectives import STUDY_TEACHER
from mdsnn_search.spec.schema import ExecutionConfig, StudySpec, absolute_paths
from mdsnn_search.spec.space import LayerRoles, baseline_queue
from mdsnn_search.study.budget import snapshot
from mdsnn_search.study.heartbeat import Heartbeat
from mdsnn_search.study.signals import RunInterrupted, StopOnSignals
from mdsnn_search.study.storage_url import masked
from mdsnn_search.study.store import OpenedStudy, check_existing, connect, open_study
from mdsnn_search.study.students import prepare_students_folder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    study_name: str
    storage_url: str
    """Masked: no password."""
    finished: int
    total: int
    ran_now: int
    failed_now: int
    teacher_accuracy: float
    """On the validation split (what students are judged against)."""
    teacher_test_accuracy: float
    cpus_per_trial: float
    gpus_per_trial: float
    study: optuna.Study = field(repr=False, compare=False)
    storage: optuna.storages.BaseStorage = field(repr=False, compare=False)

    @property
    def all_failed(self) -> bool:
        """This run ran trials and every one of them failed."""
        return self.ran_now > 0 and self.failed_now == self.ran_now

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("study", "storage")}

    def stored(self) -> StoredStudy:
        """The study as the results side reads it (the run's storage holds its spec)."""
        return StoredStudy(self.study, storage_url=self.storage_url, storage=self.storage)


def check_spec(
    spec: StudySpec, source: str | Path = "spec", storage_url: str | None = None
) -> LayerRoles:
    """Checks beyond the schema, each error naming ``source`` and the field: layer names against
    the architecture, the hardware preset, the data folder, then :func:`check_inputs` (data,
    teacher, storage URL: everything that needs no training)."""

    def fail(field: str, message: str) -> ConfigError:
        return ConfigError(f"{source}: {field}: {message}")

    try:
        strategy = get_strategy(spec.study.strategy)
    except ConfigError as exc:
        raise fail("study.strategy", str(exc)) from None
    try:
        strategy.check(spec)  # its messages start with the field
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if spec.data.root is not None and not spec.data.root.exists():
        raise fail(
            "data.root",
            f"{spec.data.root} does not exist; "
            f"{spec.data.name} comes from {DOWNLOAD_PAGES[spec.data.name]}",
        )
    try:
        table = model_layer_table(spec.model, *_input_hint(spec))
    except ConfigError as exc:
        raise fail("model", str(exc).removeprefix("model: ")) from None
    except MdsnnError as exc:
        raise fail("data", str(exc)) from None
    names = [row.name for row in table]
    roles = LayerRoles.from_table(table)
    for pattern in spec.search_space.fixed_layers:
        if not any(matches_layer(n, pattern) for n in names):
            raise fail(
                "search_space.fixed_layers",
                f"{pattern!r} matches no layer of {spec.model.label} ({', '.join(names)})",
            )
    if isinstance(spec.search_space.distill_layers, list):
        for name in spec.search_space.distill_layers:
            if name not in roles.spiking:
                raise fail(
                    "search_space.distill_layers",
                    f"{name!r} is not a spiking layer of {spec.model.label} "
                    f"({', '.join(roles.spiking)})",
                )
    try:
        load_preset(spec.hardware.preset)
    except ConfigError as exc:
        raise fail("hardware.preset", str(exc)) from None
    check_inputs(spec, source, storage_url)
    return roles


def _input_hint(spec: StudySpec) -> tuple[tuple[int, int, int], int]:
    """An input shape and class count good enough for a registered architecture's layer names
    (they do not depend on the input size); a factory's network is built for the data's own."""
    if spec.model.arch is None:
        bundle = load_dataset(spec.data)
        return bundle.input_shape, bundle.num_classes
    side = 32 if spec.model.arch.startswith(("vgg11", "vgg16", "resnet")) else 16
    return (2, side, side), 10


def run_study(
    spec: StudySpec,
    *,
    source: str | Path = "spec",
    storage_url: str | None = None,
    n_trials: int | None = None,
    address: str | None = None,
    accept_spec_change: bool = False,
    trial_fn: TrialFn = run_trial,
    progress: bool = True,
) -> RunSummary:
    """Run the study until it holds ``n_trials`` finished trials; resumes a stopped run and
    shares the study with any other run of it.

    SIGINT/SIGTERM raise :class:`RunInterrupted` after this run's open trials were marked FAIL
    "interrupted" and queued again, and Ray was shut down.
    """
    if n_trials is not None:
        spec = spec.model_copy(
            update={"study": spec.study.model_copy(update={"n_trials": n_trials})}
        )
    source = str(source)
    url = storage_url or spec.study.storage_url()
    address_field = "--address" if address else "execution.address"
    if spec.execution.backend == "ray" and (address or spec.execution.address):
        # First, before the data loads: a wrong address is the quickest thing to report.
        probe_address(address or spec.execution.address or "", field=address_field)
    roles = check_spec(spec, source, storage_url=url)
    # Split once here: the teacher, its output cache and every trial use this validation split.
    bundle = load_search_dataset(spec.data)
    stored = check_existing(spec, source, url, accept_change=accept_spec_change)
    baselines, left_out = baseline_queue(
        spec.search_space, roles, list(spec.study.baselines), spec.data.timesteps
    )
    for note in left_out:
        logger.warning("%s: %s", source, note)
    address = address or spec.execution.address
    if address is None:
        _check_local_request(spec.execution)
    runnable = _runnable(spec, url)
    teacher = None
    if stored is None or not snapshot(stored, spec.study.n_trials).done:
        # Before Ray starts: its processes would share the CPUs the teacher trains on.
        with StopOnSignals():
            teacher = _prepare_teacher(runnable, bundle, progress)
    local_ray.stop_orphans()  # a run killed earlier could not stop its Ray
    stop = StopOnSignals()
    with open_executor(spec.execution, address, address_field) as executor, stop:
        storage = connect(url, spec.study)
        opened = open_study(
            spec, source, url, storage, accept_change=accept_spec_change, baselines=baselines
        )
        run = _run_missing(
            opened, runnable, roles, bundle, storage, executor, trial_fn, progress, stop, teacher
        )
        finished = snapshot(opened.study, spec.study.n_trials).finished
    return RunSummary(
        study_name=spec.study.name,
        storage_url=masked(url),
        finished=finished,
        total=spec.study.n_trials,
        ran_now=run.completed + run.failed,
        failed_now=run.failed,
        teacher_accuracy=run.teacher_accuracy,
        teacher_test_accuracy=run.teacher_test_accuracy,
        cpus_per_trial=executor.resources.cpus,
        gpus_per_trial=executor.resources.gpus,
        study=opened.study,
        storage=storage,
    )


def _check_local_request(execution: ExecutionConfig) -> None:
    """The per-trial request against this machine, before the teacher is trained (a cluster's
    address was probed first; the executor checks the request against the cluster once joined).
    """
    where = "this machine" if execution.backend == "inline" else "the local Ray"
    trial_resources(execution, [local_node()], where)


@dataclass(frozen=True)
class _Teacher:
    info: TeacherInfo
    outputs: Path | None


def _prepare_teacher(spec: StudySpec, bundle: DatasetBundle, progress: bool) -> _Teacher:
    """The teacher (cached, given or trained now) and its cached outputs on the training split.

    Done before the executor starts Ray, so the teacher trains as it does alone: torch's OpenMP
    threads (one per core) spin-wait for each other, and when other processes hold a core (Ray's
    head and its workers, which start busy) each parallel step waits for a descheduled thread.
    On a 2-core machine that made the digits teacher train about ten times slower inside ``run``
    than alone (README, "How long make run takes"; benchmarks/bench_teacher_epoch.py).
    """
    teacher = ensure_teacher(spec, bundle, progress=progress)
    check_beats_chance(teacher.accuracy, spec, bundle, f"teacher {teacher.checkpoint}")
    return _Teacher(teacher, ensure_teacher_outputs(spec, bundle, teacher, progress=progress))


@dataclass(frozen=True)
class _Ran:
    completed: int
    failed: int
    teacher_accuracy: float
    teacher_test_accuracy: float


def _run_missing(
    opened: OpenedStudy,
    runnable: StudySpec,
    roles: LayerRoles,
    bundle: DatasetBundle,
    storage: optuna.storages.RDBStorage,
    executor: Executor,
    trial_fn: TrialFn,
    progress: bool,
    stop: StopOnSignals,
    prepared: _Teacher | None,
) -> _Ran:
    """Trials until the study is complete, from the prepared teacher (prepared now if the study
    was complete when the run started and no longer is); nothing when it is complete."""
    study = opened.study
    if snapshot(study, runnable.study.n_trials).done:
        stored = study.user_attrs.get(STUDY_TEACHER, {})
        nan = float("nan")
        return _Ran(0, 0, float(stored.get("accuracy", nan)), float(stored.get(TEST_ACCURACY, nan)))
    prepared = prepared or _prepare_teacher(runnable, bundle, progress)
    teacher, outputs = prepared.info, prepared.outputs
    teacher_json = teacher.to_json()
    if opened.created or opened.changes or STUDY_TEACHER not in study.user_attrs:
        study.set_user_attr(STUDY_TEACHER, teacher_json)
    ensure_reference(study, runnable, roles, bundle, str(teacher.checkpoint.resolve()))
    state = get_strategy(runnable.study.strategy).prepare(
        StrategySetup(
            runnable,
            roles,
            study,
            storage,
            bundle,
            teacher.checkpoint.resolve(),
            outputs,
            report=_reporter(progress),
        )
    )
    context = TrialContext(
        spec=runnable,
        teacher_checkpoint=str(teacher.checkpoint.resolve()),
        teacher_outputs=None if outputs is None else str(outputs.resolve()),
        strategy_state=state,
        students=(
            prepare_students_folder(study.study_name, runnable.study.storage_url())
            if runnable.execution.keep_students
            else None
        ),
    )
    with (
        Heartbeat(storage, runnable.study.heartbeat_interval_s) as heartbeat,
        LiveProgress(enabled=progress) as live,
    ):
        driver = StudyDriver(
            study,
            storage,
            runnable,
            roles,
            teacher,
            heartbeat,
            on_change=live,
            stop=stop,
            students_folder=None if context.students is None else context.students.folder,
        )
        try:
            executor.run(driver, context, trial_fn)
            stop.check()  # a signal whose exception got lost during the last trial
        except BaseException:
            requeued = driver.interrupt_open()
            if stop.received is not None:
                raise RunInterrupted(stop.received, requeued) from None
            raise
    return _Ran(driver.completed, driver.failed, teacher.accuracy, teacher.test_accuracy)


def _reporter(progress: bool) -> Callable[[str], None]:
    """Progress lines of the strategy's preparation: on stderr when progress is shown, else
    logged."""
    if progress:
        return lambda line: print(line, file=sys.stderr, flush=True)
    return logger.info


def _runnable(spec: StudySpec, url: str) -> StudySpec:
    """The spec trials run with and record: absolute paths, the storage password masked."""
    runnable = absolute_paths(spec)
    return runnable.model_copy(
        update={"study": runnable.study.model_copy(update={"storage": masked(url)})}
    )


def space_warnings(spec: StudySpec, roles: LayerRoles) -> list[str]:
    """``validate``'s warnings on the space's cost range (:func:`cost_warnings`)."""
    table = model_layer_table(spec.model, *_input_hint(spec))
    return cost_warnings(spec, table, roles)
