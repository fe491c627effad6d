"""The study in its storage: create or resume it, refuse a mismatched one, clean up after a crash.

Only the driver process touches the storage, so SQLite is safe; a PostgreSQL URL works the same.
A stored study is never modified by a command that fails its checks.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from mdsnn_search.errors import StudyError
from mdsnn_search.search.objectives import ATTR_BASELINE, ATTR_FAIL_REASON, STUDY_SPEC
from mdsnn_search.search.samplers import make_sampler
from mdsnn_search.search.spec import StudySpec

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the run stopped before this trial finished; its configuration was queued again"


def connect(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage for ``url``; SQLite folders are created, other failures are StudyErrors."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(url, heartbeat_interval=None)
    except Exception as exc:  # SQLAlchemy raises many types for a bad URL or server
        raise StudyError(f"storage {url}: cannot open ({type(exc).__name__}: {exc})") from None


def load_study(name: str, storage_url: str) -> optuna.Study:
    """An existing study, read-only use."""
    return optuna.load_study(study_name=name, storage=connect(storage_url))


def open_study(spec: StudySpec, storage_url: str) -> optuna.Study:
    """Create the study or load it; refuse one whose directions or metric names differ."""
    storage = connect(storage_url)
    name = spec.study.name
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    sampler = make_sampler(spec.study.sampler, spec.study.seed)
    if name in existing:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
        _check_matches(study, spec, storage_url)
        return study
    study = optuna.create_study(
        study_name=name, storage=storage, directions=spec.study.directions, sampler=sampler
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(spec.study.objectives))
    study.set_user_attr(STUDY_SPEC, spec.model_dump(mode="json"))
    for baseline in spec.study.baselines:
        study.enqueue_trial({}, user_attrs={ATTR_BASELINE: baseline})
    return study


def _check_matches(study: optuna.Study, spec: StudySpec, storage_url: str) -> None:
    stored = [d.name.lower() for d in study.directions]
    wanted = list(spec.study.directions)
    if stored != wanted or (study.metric_names or []) != list(spec.study.objectives):
        raise StudyError(
            f"study {study.study_name!r} in {storage_url} optimises {study.metric_names} ({stored}), "
            f"but the spec asks for {spec.study.objectives} ({wanted}); use another study.name"
        )


def recover_interrupted(study: optuna.Study) -> int:
    """Mark trials left RUNNING by a stopped run as FAIL and queue their configurations again.

    Assumes one driver per study at a time (the only writer). Returns how many were recovered.
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    storage = study._storage
    for trial in stale:
        storage.set_trial_user_attr(trial._trial_id, ATTR_FAIL_REASON, INTERRUPTED)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        attrs = {ATTR_BASELINE: trial.user_attrs[ATTR_BASELINE]} if ATTR_BASELINE in trial.user_attrs else None
        study.enqueue_trial(trial.params, user_attrs=attrs)
    if stale:
        logger.warning("recovered %d interrupted trial(s) of %s", len(stale), study.study_name)
    return len(stale)


def finished_trials(study: optuna.Study) -> int:
    """Trials that count towards ``n_trials``: complete, or failed for a reason of their own."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
        if t.user_attrs.get(ATTR_FAIL_REASON) != INTERRUPTED
    )
