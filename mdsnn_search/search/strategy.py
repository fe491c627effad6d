"""How a study fills its searched trials: strategies are plug-ins, looked up by ``study.strategy``.

A strategy registers itself in :data:`STRATEGIES` where it is defined
(``@STRATEGIES.register("oneshot")``, as samplers and models do). The search core imports none of
them: :func:`get_strategy` loads the ``mdsnn_search.strategies`` entry points of the installed
distributions (ours are in pyproject.toml), in this process or in a Ray worker alike, so a
strategy in a package of its own plugs in the same way and a new one touches no core module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import optuna

from mdsnn_search.data import DatasetBundle
from mdsnn_search.registry import Registry
from mdsnn_search.snn.models import SpikingNetwork
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.spec.space import LayerRoles, StudentConfig

ENTRY_POINT_GROUP = "mdsnn_search.strategies"


@dataclass(frozen=True)
class StrategySetup:
    """What a strategy may use before the trials run: the study (its queue already holds the
    baselines and the searched trials' placeholders), the data and the trained teacher."""

    spec: StudySpec
    roles: LayerRoles
    study: optuna.Study
    storage: optuna.storages.BaseStorage
    bundle: DatasetBundle
    teacher_checkpoint: Path
    teacher_outputs: Path | None
    report: Callable[[str], None]
    """Prints a progress line (stderr when progress is shown, else the log)."""


class Strategy:
    """A strategy's three moments; the defaults are plain search (every trial trained from the
    teacher, the spec's sampler choosing each searched trial)."""

    def check(self, spec: StudySpec) -> None:
        """Raise :class:`~mdsnn_search.errors.ConfigError` naming the field of a spec this
        strategy cannot serve; runs before anything is stored."""

    def prepare(self, setup: StrategySetup) -> str | None:
        """Work before the trials (a supernet, trials enqueued first). Returns what every trial
        needs to read (a path), carried by the trial context; idempotent, so a rerun resumes. A
        file there (and its checksum) reaches Ray workers through Ray's object store, as the
        teacher's checkpoint does, so the nodes need no shared file system."""
        return None

    def initial_student(
        self, state: str, spec: StudySpec, teacher_checkpoint: str, student: StudentConfig
    ) -> SpikingNetwork | None:
        """The network a searched trial starts from, given what :meth:`prepare` returned; None
        starts it from the teacher's copy (as baselines always do)."""
        return None


STRATEGIES: Registry[type[Strategy]] = Registry("strategy")


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``; ConfigError listing the known ones otherwise."""
    if name not in STRATEGIES:
        _load_plugins()
    return STRATEGIES.get(name)()


def strategy_names() -> list[str]:
    _load_plugins()
    return STRATEGIES.names()


def _load_plugins() -> None:
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name not in STRATEGIES:
            entry_point.load()
