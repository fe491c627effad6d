"""What a study spec must get right beyond its schema, checked before anything is stored.

``validate`` and ``run`` both call :func:`check_inputs` (through ``check_spec``), so everything that
can be known without training fails there, as one line naming the spec file and the field, and a
run that fails it has written nothing: not the study, not a trial, not a teacher.

Checked here: the storage keeps what it is given (no in-memory SQLite), the study's seed and
baselines, CUDA where a device asks for it, the dataset (loaded, a sample of items read through the
real readers, at least two classes), the architecture against the real input shape, and the teacher
(a given checkpoint, or the cached one: loads with ``weights_only`` and fits model and data), or,
when it has still to be trained, that its cache folder is writable; and that training (the
teacher's, a trial's) fits in memory at the data's timesteps and the batch size.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mdsnn_search.data import DatasetBundle
from mdsnn_search.data.checks import check_dataset
from mdsnn_search.errors import ConfigError, MdsnnError
from mdsnn_search.job import load_teacher
from mdsnn_search.outputs import check_writable_folder
from mdsnn_search.search.teacher import (
    CACHE_DIR,
    cached_teacher_accuracy,
    cached_teacher_path,
    check_beats_chance,
)
from mdsnn_search.snn.memory import available_bytes, training_bytes
from mdsnn_search.snn.models import SpikingNetwork, build_model
from mdsnn_search.spec.schema import StudyConfig, StudySpec
from mdsnn_search.study.storage_url import masked, parse
from mdsnn_search.study.store import check_sqlite_folder
from mdsnn_search.tables import counted
from mdsnn_search.training_loop import MAX_SEED, NO_CUDA, resolve_device


def check_inputs(spec: StudySpec, source: str | Path, storage_url: str | None = None) -> None:
    """Every check of this module, each error naming ``source`` and the field; ``storage_url`` is
    the run's storage when ``--storage`` overrides the spec's."""
    url = storage_url or spec.study.storage_url()
    _check_storage_keeps_data(
        url, source, "study.storage" if url == spec.study.storage_url() else "--storage"
    )
    _check_study(spec, source)
    _check_devices(spec, source)
    try:
        bundle = check_dataset(spec.data)
    except MdsnnError as exc:
        raise _error(source, "data", str(exc)) from None
    try:
        model = build_model(spec.model, bundle.input_shape, bundle.num_classes)
    except ConfigError as exc:
        raise _error(source, "model", str(exc).removeprefix("model: ")) from None
    _check_teacher(spec, bundle, source)
    _check_memory(spec, model, source)


def _error(source: str | Path, field: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {field}: {message}")


def _check_storage_keeps_data(url: str, source: str | Path, field: str) -> None:
    """Refuse a malformed URL, a SQLite file in a missing folder (nothing creates it), and an
    in-memory SQLite URL: the study would vanish when the run ends."""
    try:
        parsed = parse(url)
        check_sqlite_folder(url)
    except ConfigError as exc:
        raise _error(source, field, str(exc)) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise _error(
            source,
            field,
            f"{masked(url)} is an in-memory SQLite database, whose study vanishes when the run "
            "ends; give a file, e.g. sqlite:///studies/NAME.db",
        )


def _check_study(spec: StudySpec, source: str | Path) -> None:
    study = spec.study
    if study.seed > MAX_SEED:
        raise _error(
            source,
            "study.seed",
            f"must be in 0..{MAX_SEED} (numpy seeds the sampler), but got {study.seed}",
        )
    if len(set(study.baselines)) != len(study.baselines):
        raise _error(
            source, "study.baselines", f"baselines must be distinct, but got {study.baselines}"
        )
    if len(study.baselines) > study.n_trials:
        raise _error(source, "study.n_trials", _too_few_trials(study))


def _too_few_trials(study: StudyConfig) -> str:
    """The refusal of fewer trials than baselines, naming the two shortest fixes: as many trials
    as baselines, or the first n_trials baselines only."""
    default = "baselines" not in study.model_fields_set
    named = ", ".join(study.baselines)
    kept = "[" + ", ".join(study.baselines[: study.n_trials]) + "]"
    return (
        f"{counted(study.n_trials, 'trial')} cannot hold the "
        f"{counted(len(study.baselines), 'baseline')} {named}"
        + (" (the default study.baselines)" if default else "")
        + f"; run with --n-trials {len(study.baselines)}, or list fewer baselines "
        f"(study.baselines: {kept})"
    )


def _check_devices(spec: StudySpec, source: str | Path) -> None:
    """CUDA where a device asks for it: the teacher trains here, and so do trials unless they run
    on a cluster (``execution.address``), whose machines this one cannot see."""
    devices = {"teacher.training.device": spec.teacher.training.device}
    if spec.execution.address is None:
        devices["training.device"] = spec.training.device
    for field, device in devices.items():
        if device == "cuda" and not torch.cuda.is_available():
            raise _error(source, field, NO_CUDA)


def _check_memory(spec: StudySpec, model: SpikingNetwork, source: str | Path) -> None:
    """Refuse training that cannot fit in memory (:mod:`mdsnn_search.snn.memory`): the teacher's,
    when it has still to be trained, and a trial's."""
    trainings = {"training.batch_size": spec.training}
    if spec.teacher.checkpoint is None and not cached_teacher_path(spec).is_file():
        trainings = {"teacher.training.batch_size": spec.teacher.training, **trainings}
    timesteps = spec.data.timesteps
    for field, training in trainings.items():
        device = resolve_device(training.device)
        needed = training_bytes(model, timesteps, training.batch_size)
        available = available_bytes(device)
        if needed > available:
            raise _error(
                source,
                "data.timesteps",
                f"training with {timesteps} timesteps and {field} {training.batch_size} needs "
                f"at least {needed / 2**30:.1f} GiB for its activations (measured on this "
                f"model), but {device.type} has {available / 2**30:.1f} GiB available; "
                f"lower data.timesteps or {field}",
            )


def _check_teacher(spec: StudySpec, bundle: DatasetBundle, source: str | Path) -> None:
    if spec.teacher.checkpoint is not None:
        try:
            load_teacher(spec.teacher.checkpoint, spec.model, spec.data, bundle)
        except ConfigError as exc:
            raise _error(source, "teacher.checkpoint", str(exc)) from None
        return
    cached = cached_teacher_path(spec)
    try:
        if cached.is_file():
            accuracy, _ = cached_teacher_accuracy(cached, spec, bundle)
            check_beats_chance(accuracy, spec, bundle, f"cached teacher {cached}")
        else:
            check_writable_folder(CACHE_DIR, where="teacher cache")
    except ConfigError as exc:
        raise _error(source, "teacher", str(exc)) from None
