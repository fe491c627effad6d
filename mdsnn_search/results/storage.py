"""Opening a stored study for reading: by spec file, or by storage URL and study name.

Everything on the results side (status, Pareto views, export, dashboard) goes through
:func:`open_stored_study`. Reading must never change what a search wrote, so a SQLite path is
checked before anything connects to it (SQLite would otherwise create an empty file), a SQLite
file without Optuna's tables is refused before Optuna could create them, and the storage is
opened with table creation switched off.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import sqlalchemy

from mdsnn_search.errors import ConfigError, StudyError
from mdsnn_search.spec.objectives import (
    STUDY_SPEC,
    STUDY_TEACHER,
    Direction,
    find_objective,
)
from mdsnn_search.study.documents import study_document
from mdsnn_search.study.read_only import read_only_storage
from mdsnn_search.study.storage_url import masked, redact

if TYPE_CHECKING:
    from mdsnn_search.spec.schema import StudySpec


@dataclass
class StoredStudy:
    """A study loaded from its storage, with the stored spec and teacher at hand."""

    study: optuna.Study
    storage_url: str
    spec_path: Path | None = None
    storage: optuna.storages.BaseStorage | None = None
    """The storage the study was read from (the run's own for a study still running)."""
    _spec: StudySpec | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.study.study_name

    @property
    def directions(self) -> list[Direction]:
        return [
            "maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize"
            for d in self.study.directions
        ]

    @property
    def objectives(self) -> list[str]:
        """Objective names in value order: the study's metric names, else the stored spec's."""
        names = self.study.metric_names
        if names is not None:
            return list(names)
        stored = self.spec_document.get("study", {}).get("objectives")
        if isinstance(stored, list) and len(stored) == len(self.directions):
            return [str(n) for n in stored]
        return [f"objective{i}" for i in range(len(self.directions))]

    def label(self, objective: str) -> str:
        """Axis/column label with the unit, e.g. ``EDAP (J s mm2)``."""
        known = find_objective(objective)
        return known.label if known is not None else objective

    @property
    def spec_document(self) -> dict[str, Any]:
        """The stored spec as a plain mapping (empty when the study has none); not validated."""
        document = study_document(self.storage, self.study, STUDY_SPEC)
        return document if isinstance(document, dict) else {}

    @property
    def teacher(self) -> dict[str, Any]:
        document = self.study.user_attrs.get(STUDY_TEACHER)
        return document if isinstance(document, dict) else {}

    @property
    def constraints(self) -> dict[str, float]:
        """The spec's constraint limits that are set (e.g. ``{"max_edap": 1e-9}``)."""
        limits = self.spec_document.get("study", {}).get("constraints") or {}
        return {k: float(v) for k, v in limits.items() if v is not None}

    def spec(self) -> StudySpec:
        """The validated StudySpec the study ran with (stored copy first, else the spec file given).

        Imported lazily: the spec schema pulls in torch, which status and pareto do not need.
        """
        if self._spec is None:
            from mdsnn_search.files import validate_mapping
            from mdsnn_search.spec.schema import StudySpec, load_spec

            if self.spec_document:
                self._spec = validate_mapping(
                    StudySpec, self.spec_document, f"study {self.name!r} (stored spec)"
                )
            elif self.spec_path is not None:
                self._spec = load_spec(self.spec_path)
            else:
                raise StudyError(
                    f"study {self.name!r} stores no spec ({STUDY_SPEC!r}) "
                    "and no spec file was given"
                )
        return self._spec


def open_stored_study(
    spec_path: str | Path | None = None,
    *,
    storage: str | None = None,
    study_name: str | None = None,
) -> StoredStudy:
    """Load a stored study read-only.

    With a spec file, its ``study.name`` and ``study.storage_url()`` are used unless ``storage``
    or ``study_name`` override them. Without one, ``storage`` is required; ``study_name`` may be
    left out when the storage holds exactly one study.
    """
    spec: StudySpec | None = None
    if spec_path is not None:
        from mdsnn_search.spec.schema import load_spec

        spec = load_spec(spec_path)
        storage = storage or spec.study.storage_url()
        study_name = study_name or spec.study.name
    if storage is None:
        raise ConfigError("give a study spec file, or --storage URL (and --study NAME)")
    rdb = read_only_storage(storage)
    names = _study_names(rdb, storage)
    if study_name is None:
        if len(names) != 1:
            found = ", ".join(names) if names else "none"
            raise ConfigError(
                f"--study NAME is needed: storage {masked(storage)} "
                f"holds {len(names)} studies ({found})"
            )
        study_name = names[0]
    if study_name not in names:
        raise StudyError(_unknown_study_message(study_name, storage, names))
    study = optuna.load_study(study_name=study_name, storage=rdb)
    return StoredStudy(
        study=study,
        storage_url=masked(storage),
        spec_path=Path(spec_path) if spec_path else None,
        storage=rdb,
    )


def _study_names(rdb: optuna.storages.RDBStorage, url: str) -> list[str]:
    try:
        return sorted(s.study_name for s in rdb.get_all_studies())
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StudyError(
            f"storage {masked(url)}: cannot list studies ({redact(str(exc).splitlines()[0])})"
        ) from None


def _unknown_study_message(name: str, url: str, names: list[str]) -> str:
    if not names:
        return f"no study {name!r} in storage {masked(url)}: it holds no studies"
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"no study {name!r} in storage {masked(url)}{hint} (studies there: {', '.join(names)})"
