"""A stored trial's trained student, as a NIR file for a chip or another simulator.

Nothing is retrained: the student is the trial's own kept checkpoint
(:mod:`mdsnn_search.study.students`), else the checkpoint ``mdsnn-search train`` wrote from the
trial's exported config. A trial with neither is refused with the commands that produce one.
Every graph is built (and every layer checked) before any file is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from optuna.trial import FrozenTrial

from mdsnn_search.errors import StudyError
from mdsnn_search.results.export import export_name, trial_spec, trial_train_spec
from mdsnn_search.results.storage import StoredStudy
from mdsnn_search.study.students import ATTR_STUDENT_CHECKPOINT

if TYPE_CHECKING:
    import nir

    from mdsnn_search.snn.models import SpikingNetwork


@dataclass(frozen=True)
class StudentSource:
    """Where a trial's trained student was found: ``kept`` (the trial's own) or ``retrained``."""

    path: Path
    kind: str


def student_source(stored: StoredStudy, trial: FrozenTrial, exports: list[Path]) -> StudentSource:
    """The trial's kept checkpoint, else ``train``'s from its exported config in one of
    ``exports`` (folders, the first named in the message); StudyError naming the commands that
    make one otherwise."""
    kept = trial.user_attrs.get(ATTR_STUDENT_CHECKPOINT)
    if isinstance(kept, str) and Path(kept).is_file():
        return StudentSource(Path(kept), "kept")
    for folder in exports:
        retrained = trial_train_spec(stored, trial, out_dir=folder.resolve()).output_path()
        if retrained.is_file():
            return StudentSource(retrained, "retrained")
    config = exports[0] / f"{export_name(stored.name, trial.number)}.yaml"
    why = "was not kept" if kept is None else f"is gone ({kept})"
    raise StudyError(
        f"trial {trial.number} of study {stored.name!r}: its trained student {why}; produce it "
        f"with: mdsnn-search export SPEC --trials {trial.number} && mdsnn-search train {config}"
    )


@dataclass(frozen=True)
class NirExport:
    trial: int
    file: Path
    source: StudentSource
    graph: nir.NIRGraph


def nir_exports(
    stored: StoredStudy, trials: list[FrozenTrial], out_dir: Path, exports: list[Path]
) -> list[NirExport]:
    """Each trial's student as a NIR graph bound for ``out_dir/NAME.nir`` (nothing written yet);
    ConfigError names a layer NIR cannot hold, StudyError a trial without a student."""
    from mdsnn_search.checkpoint import load_checkpoint
    from mdsnn_search.snn.nir_export import nir_graph

    built = []
    for trial in trials:
        source = student_source(stored, trial, exports)
        model: SpikingNetwork = load_checkpoint(source.path).model
        data = trial_spec(stored, trial, f"trial {trial.number} of study {stored.name!r}").data
        file = out_dir / f"{export_name(stored.name, trial.number)}.nir"
        built.append(NirExport(trial.number, file, source, nir_graph(model, data)))
    return built


def write_nir_exports(exports: list[NirExport]) -> None:
    from mdsnn_search.snn.nir_export import write_graph

    for export in exports:
        write_graph(export.graph, export.file)
