"""The study in its storage: checked before anything is written, then created or resumed.

Any number of runs, on one machine or several, may share a study. Each trial carries an Optuna
heartbeat; a run fails and queues again only the trials whose heartbeat went stale (their run
stopped), never the live trials of another run. On SQLite, every transaction takes the write lock
when it begins, so a read-then-claim by one run cannot interleave with another's.

A resume is refused (StudyError, nothing written) when the study optimises other objectives or,
unless the user accepts it, when the spec's trial-determining sections changed (:mod:`drift`).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.exceptions import DuplicatedStudyError, ExperimentalWarning
from optuna.trial import TrialState

from mdsnn_search.errors import ConfigError, StudyError
from mdsnn_search.spec.objectives import ATTR_BASELINE, STUDY_SPEC, STUDY_SPEC_HASH
from mdsnn_search.spec.schema import StudyConfig, StudySpec, absolute_paths
from mdsnn_search.study.budget import interrupt, requeue, snapshot, top_up
from mdsnn_search.study.documents import (
    save_spec_artifact,
    set_study_document,
    study_document,
)
from mdsnn_search.study.drift import changed_fields, describe, spec_hash
from mdsnn_search.study.read_only import read_only_storage, sqlite_path, sqlite_tables
from mdsnn_search.study.storage_url import masked, missing_driver_message, parse, redact

logger = logging.getLogger(__name__)

_OPTUNA_TABLES = frozenset({"studies", "trials", "version_info", "alembic_version"})
"""With every ``study_*`` and ``trial_*`` table: what Optuna's RDB storage creates."""

SQLITE_BUSY_TIMEOUT_S = 60.0
"""How long a SQLite transaction waits for another run's to finish."""

SCHEMA_ATTEMPTS = 3

STUDIES_FOLDER = Path("studies")
"""The tool's own folder for SQLite studies, the only one a run creates."""


@dataclass(frozen=True)
class OpenedStudy:
    study: optuna.Study
    created: bool
    changes: list[str] = field(default_factory=list)
    """Trial-determining fields that differ from the stored spec (accepted by the user)."""


def spec_document(spec: StudySpec, url: str) -> dict[str, Any]:
    """The spec as stored with a study or trial: JSON, the storage password masked."""
    document = spec.model_dump(mode="json")
    document["study"]["storage"] = masked(url)
    return document


def check_sqlite_folder(url: str) -> None:
    """Refuse a SQLite file whose folder is missing, unless it is :data:`STUDIES_FOLDER`: a typo
    in a path (``sqlite:///../x/s.db``) must not create folders anywhere."""
    path = sqlite_path(url)
    if path is not None and path.parent != STUDIES_FOLDER and not path.parent.is_dir():
        raise ConfigError(
            f"storage {masked(url)}: no such folder {path.parent} "
            "(create it, or give a path in an existing folder)"
        )


def connect(url: str, config: StudyConfig) -> optuna.storages.RDBStorage:
    """The writing run's storage, with heartbeats; creates a SQLite file (and, in
    :data:`STUDIES_FOLDER`, its folder)."""
    parsed = parse(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    check_sqlite_folder(url)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(exist_ok=True)
    engine_kwargs: dict[str, Any] = {}
    if is_sqlite:
        # The driver's own transaction handling starts transactions late (at the first write);
        # switch it off and begin every transaction with the write lock instead (below).
        engine_kwargs = {
            "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "isolation_level": None}
        }
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                storage = optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=config.heartbeat_interval_s,
                    grace_period=config.grace_period_s,
                    heartbeat_stale_trial_callback=requeue,
                )
            break
        except ImportError as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
            raise StudyError(missing_driver_message(url, cause)) from None
        except sqlalchemy.exc.DatabaseError as exc:
            # Runs started together on an empty database race to create Optuna's tables; the
            # loser tries again once the winner's are there (a server that is down is reported
            # after the last try).
            if attempt == SCHEMA_ATTEMPTS - 1:
                raise StudyError(
                    f"storage {masked(url)}: cannot open ({_first_line(exc)})"
                ) from None
            time.sleep(1.0)
        except Exception as exc:  # SQLAlchemy and drivers raise many types for a bad URL or server
            raise StudyError(f"storage {masked(url)}: cannot open ({_first_line(exc)})") from None
    if is_sqlite:
        sqlalchemy.event.listen(storage.engine, "begin", _begin_immediate)
    return storage


def check_existing(
    spec: StudySpec, source: str, url: str, *, accept_change: bool
) -> optuna.Study | None:
    """Read-only: refuse a stored study that does not match ``spec``; creates and writes nothing.
    The stored study (read-only), or None when there is none yet."""
    stored = _stored_study(url, spec.study.name)
    if stored is None or not _created(stored[0]):
        return None
    check_matches(*stored, spec, source, url, accept_change=accept_change)
    return stored[0]


def open_study(
    spec: StudySpec,
    source: str,
    url: str,
    storage: optuna.storages.RDBStorage,
    *,
    accept_change: bool,
    baselines: Mapping[str, Mapping[str, Any]] | None = None,
) -> OpenedStudy:
    """Create the study with its whole trial queue, or resume it after the same checks as
    :func:`check_existing` (another run may have created it since).

    ``baselines`` (name -> every searched parameter,
    :func:`mdsnn_search.spec.space.baseline_queue`) are queued first, as ordinary trials.
    """
    queue = baselines or {}
    name = spec.study.name
    document = spec_document(spec, url)
    if name not in {s.study_name for s in storage.get_all_studies()}:
        try:
            study = optuna.create_study(
                study_name=name, storage=storage, directions=spec.study.directions
            )
        except DuplicatedStudyError:
            pass
        else:
            _initialise(study, storage, spec, document, queue, url)
            return OpenedStudy(study, created=True)
    study = optuna.load_study(study_name=name, storage=storage)
    if not _wait_until_created(study, spec.study.grace_period_s):
        # Its creating run died half-way (or it is not ours): finish the creation, if it matches.
        _check_directions(study, spec, source, url)
        _initialise(study, storage, spec, document, queue, url)
        return OpenedStudy(study, created=True)
    changes = check_matches(study, storage, spec, source, url, accept_change=accept_change)
    legacy = STUDY_SPEC_HASH not in study.user_attrs
    if legacy:
        _adopt_legacy(study, storage)
    if changes or legacy:
        set_study_document(storage, study, STUDY_SPEC, document)
        save_spec_artifact(storage, study, document, url)
        study.set_user_attr(STUDY_SPEC_HASH, spec_hash(document))
    return OpenedStudy(study, created=False, changes=changes)


def check_matches(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    spec: StudySpec,
    source: str,
    url: str,
    *,
    accept_change: bool,
) -> list[str]:
    """Refuse other objectives always, a changed spec unless accepted; return the changed fields."""
    _check_directions(study, spec, source, url)
    if (study.metric_names or []) != list(spec.study.objectives):
        raise StudyError(_objectives_differ(study, spec, source, url))
    attrs = study.user_attrs
    stored = study_document(storage, study, STUDY_SPEC)
    document = spec.model_dump(mode="json")
    if STUDY_SPEC_HASH in attrs:
        if attrs[STUDY_SPEC_HASH] == spec_hash(document):
            return []
        changes = changed_fields(stored or {}, document) or ["(the stored spec is unreadable)"]
    elif isinstance(stored, dict):
        # Stored by a version without hashes, which stored its spec with absolute paths.
        changes = changed_fields(stored, absolute_paths(spec).model_dump(mode="json"))
    else:
        raise StudyError(
            f"study {study.study_name!r} in {masked(url)} "
            "was not created by mdsnn-search (no stored spec)"
        )
    if changes and not accept_change:
        raise StudyError(
            f"{source}: trial-determining fields differ from study {study.study_name!r} "
            f"in {masked(url)}: {describe(changes)}; "
            "rerun with --accept-spec-change to run the remaining trials with this spec "
            "(each trial records its own), or use another study.name"
        )
    return changes


def _check_directions(study: optuna.Study, spec: StudySpec, source: str, url: str) -> None:
    if [d.name.lower() for d in study.directions] != list(spec.study.directions):
        raise StudyError(_objectives_differ(study, spec, source, url))


def _objectives_differ(study: optuna.Study, spec: StudySpec, source: str, url: str) -> str:
    stored = [d.name.lower() for d in study.directions]
    return (
        f"study {study.study_name!r} in {masked(url)} optimises {study.metric_names} ({stored}), "
        f"but {source} asks for {spec.study.objectives} ({list(spec.study.directions)}); "
        "use another study.name"
    )


def _initialise(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    spec: StudySpec,
    document: dict[str, Any],
    baselines: Mapping[str, Mapping[str, Any]],
    url: str,
) -> None:
    """The new study's queue (its baselines first, with their parameters, or one placeholder: the
    rest is enqueued as trials are claimed, :mod:`budget`), metric names, then its spec hash: other
    runs wait for the hash, so when they see it, the queue is there. Also finishes a creation its
    run did not (baselines already queued are not queued twice)."""
    queued = {t.user_attrs.get(ATTR_BASELINE) for t in study.get_trials(deepcopy=False)}
    for name, params in baselines.items():
        if name not in queued:
            study.enqueue_trial(dict(params), user_attrs={ATTR_BASELINE: name})
    top_up(study, snapshot(study, spec.study.n_trials))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        study.set_metric_names(list(spec.study.objectives))
    set_study_document(storage, study, STUDY_SPEC, document)
    save_spec_artifact(storage, study, document, url)
    study.set_user_attr(STUDY_SPEC_HASH, spec_hash(document))


def _created(study: optuna.Study) -> bool:
    return STUDY_SPEC_HASH in study.user_attrs or STUDY_SPEC in study.user_attrs


def _wait_until_created(study: optuna.Study, wait_s: float) -> bool:
    """Whether another run finishes creating the study within ``wait_s`` (it takes a fraction of
    a second; a run silent for a whole grace period is dead)."""
    deadline = time.monotonic() + wait_s
    while not _created(study):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _adopt_legacy(study: optuna.Study, storage: optuna.storages.BaseStorage) -> None:
    """A study from a version without heartbeats: its RUNNING trials have none, so they are left
    by a stopped run (that version allowed one run per study); queue them again as it did."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    recovered = sum(interrupt(study, storage, t.number) for t in stale)
    if recovered:
        logger.warning("recovered %d interrupted trial(s) of %s", recovered, study.study_name)


def _stored_study(url: str, name: str) -> tuple[optuna.Study, optuna.storages.BaseStorage] | None:
    path = sqlite_path(url)
    if path is not None and not _complete_sqlite_file(path, url):
        return None
    if path is None and not _has_optuna_tables(url):
        return None
    storage = read_only_storage(url)
    if name not in {s.study_name for s in storage.get_all_studies()}:
        return None
    return optuna.load_study(study_name=name, storage=storage), storage


def _complete_sqlite_file(path: Path, url: str) -> bool:
    """Whether the file holds Optuna's tables. A missing file, an empty one or one with only some
    of them (a run killed while creating it) is for the writing run to finish; a file with tables
    of anything else is refused rather than written into."""
    if not path.is_file():
        return False
    tables = sqlite_tables(path, url)
    foreign = sorted(
        t for t in tables if t not in _OPTUNA_TABLES and not t.startswith(("study_", "trial_"))
    )
    if foreign:
        raise StudyError(
            f"storage {url}: {path} is not an Optuna study database (it has tables {foreign})"
        )
    return {"studies", "trials", "version_info"} <= tables


def _has_optuna_tables(url: str) -> bool:
    try:
        engine = sqlalchemy.create_engine(url)
    except ImportError as exc:
        raise StudyError(missing_driver_message(url, exc)) from None
    except Exception as exc:
        raise StudyError(f"storage {masked(url)}: cannot open ({_first_line(exc)})") from None
    try:
        return sqlalchemy.inspect(engine).has_table("studies")
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StudyError(f"storage {masked(url)}: cannot connect ({_first_line(exc)})") from None
    finally:
        engine.dispose()


def _begin_immediate(connection: sqlalchemy.Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _first_line(exc: BaseException) -> str:
    """The first line of what went wrong: the database driver's error where Optuna wrapped it."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip().splitlines()
    return redact(f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__)
