"""What a study spec must get right beyond its schema, checked before anything is stored.

``validate`` and ``run`` both call :func:`check_inputs` (through ``check_spec``), so everything that
can be known without training fails there, as one line naming the spec file and the field, and a
run that fails it has written nothing: not the study, not a trial, not a teacher.

Checked here: the storage keeps what it is given (no in-memory SQLite), the study's seed and
baselines, CUDA where a device asks for it, the dataset (loaded, a sample of items read through the
real readers, at least two classes), the architecture against the real input shape, and the teacher
(a given checkpoint, or the cached one: loads with ``weights_only`` and fits model and data), or,
when it has still to be trained, that its cache folder is writable.
"""

from __future__ import annotations

from pathlib import Path

import torch
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from mdsnn_search.data import DatasetBundle
from mdsnn_search.data.checks import check_dataset
from mdsnn_search.errors import ConfigError, MdsnnError
from mdsnn_search.job import load_teacher
from mdsnn_search.outputs import check_writable_folder
from mdsnn_search.search.teacher import CACHE_DIR, cached_teacher_accuracy, cached_teacher_path
from mdsnn_search.snn.models import build_model
from mdsnn_search.spec.schema import StudyConfig, StudySpec
from mdsnn_search.tables import counted
from mdsnn_search.training_loop import MAX_SEED, NO_CUDA


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
        build_model(spec.model, bundle.input_shape, bundle.num_classes)
    except ConfigError as exc:
        raise _error(source, "model", str(exc).removeprefix("model: ")) from None
    _check_teacher(spec, bundle, source)


def _error(source: str | Path, field: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {field}: {message}")


def _check_storage_keeps_data(url: str, source: str | Path, field: str) -> None:
    """Refuse an in-memory SQLite URL: the study would vanish when the run ends."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # opening the storage reports a malformed URL
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise _error(
            source,
            field,
            f"{url} is an in-memory SQLite database, whose study vanishes when the run ends; "
            "give a file, e.g. sqlite:///studies/NAME.db",
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
            cached_teacher_accuracy(cached, spec, bundle)
        else:
            check_writable_folder(CACHE_DIR, where="teacher cache")
    except ConfigError as exc:
        raise _error(source, "teacher", str(exc)) from None
