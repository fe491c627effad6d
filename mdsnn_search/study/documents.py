"""Long documents of a study and its trials (spec, student, metrics, traceback), stored whole.

optuna-dashboard shows every user attribute and cuts a JSON value at 1,024 characters (the spec
of a study is about 2,600), so the documents mdsnn-search reads back (``export``, ``status``,
resume checks) are stored as system attributes, which the dashboard does not show and Optuna
does not limit, in the study's own storage (shared by every run of the study, on any machine).
What the dashboard shows is kept short (:mod:`mdsnn_search.study.trial_attrs`). Studies written
before kept them as user attributes; the readers here fall back to those.

For people, each spec the study accepts is also an Optuna artifact, ``spec.yaml``, in
``artifacts/`` of the study's folder (:mod:`.folder`) beside the study's other outputs:
``mdsnn-search dashboard`` serves that folder, so the dashboard lists the spec with the study and
opens it whole.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from mdsnn_search.errors import WriteError
from mdsnn_search.files import write_text_atomic
from mdsnn_search.study.folder import study_folder

PREFIX = "mdsnn."
"""System attribute names are ``mdsnn.<key>``, apart from Optuna's own (``constraints``...)."""


def set_trial_document(trial: optuna.Trial, key: str, value: Any) -> None:
    """Store a document of ``trial`` (through the public storage API: Optuna's ``Trial`` has no
    system-attribute setter)."""
    storage = trial.storage
    study_id = storage.get_study_id_from_name(trial.study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
    storage.set_trial_system_attr(trial_id, PREFIX + key, value)


def trial_document(trial: FrozenTrial, key: str) -> Any:
    """The trial's document ``key``, or None."""
    return trial.system_attrs.get(PREFIX + key, trial.user_attrs.get(key))


def set_study_document(storage: BaseStorage, study: optuna.Study, key: str, value: Any) -> None:
    """Store a document of ``study``, which lives in ``storage`` (Optuna's ``Study`` does not
    expose its storage)."""
    study_id = storage.get_study_id_from_name(study.study_name)
    storage.set_study_system_attr(study_id, PREFIX + key, value)


def study_document(storage: BaseStorage | None, study: optuna.Study, key: str) -> Any:
    """The study's document ``key`` (from ``storage``, then its user attributes), or None."""
    if storage is not None:
        study_id = storage.get_study_id_from_name(study.study_name)
        attrs = storage.get_study_system_attrs(study_id)
        if PREFIX + key in attrs:
            return attrs[PREFIX + key]
    return study.user_attrs.get(key)


SPEC_ARTIFACT = "spec.yaml"


def artifact_folder(study_name: str, storage_url: str) -> Path:
    """Where a study's artifacts are kept: ``artifacts/`` of its folder (:mod:`.folder`)."""
    return study_folder(study_name, storage_url) / "artifacts"


def save_spec_artifact(
    storage: BaseStorage, study: optuna.Study, document: Any, storage_url: str
) -> None:
    """``document`` (a spec) as the study's ``spec.yaml`` artifact, plain text so a browser
    shows it; ``storage_url`` is ``storage``'s (it names the study's folder)."""
    folder = artifact_folder(study.study_name, storage_url)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / SPEC_ARTIFACT
            write_text_atomic(path, yaml.safe_dump(document, sort_keys=False))
            upload_artifact(
                artifact_store=FileSystemArtifactStore(str(folder)),
                file_path=str(path),
                study_or_trial=study,
                storage=storage,
                mimetype="text/plain",
            )
    except OSError as exc:
        raise WriteError(
            f"{folder}: cannot write the spec artifact ({exc.strerror or exc})"
        ) from None
