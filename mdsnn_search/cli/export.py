"""``mdsnn-search export SPEC --trials 12 15`` (or ``--front``): trials as train configs.

Each chosen trial becomes one self-contained YAML that ``mdsnn-search train FILE`` accepts from any
folder (teacher and output are absolute paths), in ``exports/`` of the study's folder
(:mod:`mdsnn_search.study.folder`) unless ``--out`` says otherwise. ``--epochs`` sets the
retraining budget. Files of the same name are replaced only if they were exported before;
``--force`` replaces any file.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdsnn_search.cli.render import console, print_json
from mdsnn_search.cli.study_args import add_study_arguments, open_from_args, study_folder
from mdsnn_search.errors import ConfigError
from mdsnn_search.files import write_text_atomic
from mdsnn_search.outputs import (
    OutputKind,
    check_output_file,
    check_output_folder,
    check_plain_name,
)
from mdsnn_search.results import (
    export_name,
    find_trials,
    summarize_stored,
    train_spec_yaml,
    trial_train_spec,
)
from mdsnn_search.results.export import export_header
from mdsnn_search.tables import rich_table

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from mdsnn_search.job import TrainSpec
    from mdsnn_search.results import StoredStudy

EXPORT_HEADER_START = "Exported from study "
"""How :func:`export_header` starts every exported config: a file that starts so is ours."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write chosen trials as train configs (YAML) for full-budget retraining",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_study_arguments(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--trials", type=int, nargs="+", metavar="N", help="trial numbers to export")
    which.add_argument(
        "--front", action="store_true", help="export every trial on the Pareto front"
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder (default exports/ in the study's folder)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help="training epochs of the exported configs (default: the search's)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite existing files that are not configs exported by mdsnn-search",
    )
    parser.add_argument(
        "--nir",
        action="store_true",
        help="write each trial's trained student as a NIR file (its kept checkpoint, or the one "
        "train made from its export); retrains nothing",
    )
    parser.add_argument("--json", action="store_true", help="print the written files as JSON")
    parser.set_defaults(handler=run)


def _is_export(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as stream:
            return stream.readline().startswith(f"# {EXPORT_HEADER_START}")
    except (OSError, UnicodeDecodeError):
        return False


EXPORTED = OutputKind("config exported by mdsnn-search export", _is_export)


def _runnable_anywhere(spec: TrainSpec) -> TrainSpec:
    """The teacher as an absolute path: a study may store it relative to the folder it ran in."""
    if spec.teacher is None:
        return spec
    return spec.model_copy(update={"teacher": spec.teacher.expanduser().resolve()})


@dataclass(frozen=True)
class Exported:
    """One written file: a train config (YAML) or, with ``nir``, the trained student (NIR)."""

    trial: int
    file: Path
    teacher: Path | None = None
    epochs: int | None = None
    student: Path | None = None
    """The checkpoint a NIR file was written from."""
    source: str | None = None
    """Where that checkpoint came from: ``kept`` (the trial's own) or ``retrained``."""

    def to_json(self) -> dict[str, Any]:
        if self.student is not None:
            return {
                "trial": self.trial,
                "file": str(self.file),
                "student": str(self.student),
                "from": self.source,
            }
        return {
            "trial": self.trial,
            "file": str(self.file),
            "teacher": str(self.teacher),
            "epochs": self.epochs,
        }


def export_trials(
    stored: StoredStudy,
    numbers: list[int] | None,
    *,
    out: Path | None = None,
    epochs: int | None = None,
    force: bool = False,
    nir: bool = False,
) -> list[Exported]:
    """Write the trials ``numbers`` (None: the front) as train configs, or as NIR files of their
    trained students; every file is built and checked before any is written."""
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, but got {epochs}")
    check_plain_name(stored.name, "the study name (it names the exported files)")
    if numbers is None:
        trials = summarize_stored(stored).front
        numbers = [t.number for t in trials]
    chosen = find_trials(stored, list(dict.fromkeys(numbers)))
    default = out is None
    out_dir = study_folder(stored) / "exports" if out is None else out
    where = "export folder" if default else "--out"
    check_output_folder(out_dir, where=where, create_parents=default)
    if nir:
        if epochs is not None:
            raise ConfigError("--epochs: --nir retrains nothing; leave --epochs out")
        return _export_nir(stored, chosen, out_dir, where, force)
    specs = [
        (
            t,
            _runnable_anywhere(
                trial_train_spec(stored, t, out_dir=out_dir.resolve(), epochs=epochs)
            ),
        )
        for t in chosen
    ]
    paths = [out_dir / f"{export_name(stored.name, trial.number)}.yaml" for trial, _ in specs]
    for path in paths:
        check_output_file(path, EXPORTED, where=where, force=force, create_folder=True)
    if specs:
        out_dir.mkdir(parents=default, exist_ok=True)
    written = []
    for (trial, spec), path in zip(specs, paths, strict=True):
        write_text_atomic(path, train_spec_yaml(spec, export_header(stored, trial, epochs)))
        written.append(Exported(trial.number, path, spec.teacher, spec.training.epochs))
    return written


def run(args: argparse.Namespace) -> int:
    stored = open_from_args(args)
    numbers = None if args.front else list(args.trials)
    written = export_trials(
        stored, numbers, out=args.out, epochs=args.epochs, force=args.force, nir=args.nir
    )
    if args.json:
        key = "nir" if args.nir else "exports"
        print_json({"study": stored.name, key: [w.to_json() for w in written]})
        return 0
    if not written:
        console.print(f"study {stored.name}: no complete trials on the front; nothing exported")
        return 0
    if args.nir:
        rows = [[w.trial, str(w.file), w.source] for w in written]
        console.print(rich_table(f"study {stored.name}: NIR", ["trial", "file", "student"], rows))
        return 0
    rows = [[w.trial, str(w.file), w.epochs] for w in written]
    console.print(rich_table(f"study {stored.name}: exported", ["trial", "file", "epochs"], rows))
    teacher = written[0].teacher
    if teacher is not None and not teacher.is_file():
        console.print(f"note: teacher checkpoint {teacher} is not there; train needs it")
    console.print(f"retrain with: mdsnn-search train {written[0].file}")
    return 0


def _is_nir(path: Path) -> bool:
    """An HDF5 file with a NIR graph this package wrote (its metadata format)."""
    from mdsnn_search.snn.nir_export import is_our_nir

    return is_our_nir(path)


NIR_FILE = OutputKind("NIR file written by mdsnn-search export --nir", _is_nir)


def _export_nir(
    stored: StoredStudy, chosen: list[FrozenTrial], out_dir: Path, where: str, force: bool
) -> list[Exported]:
    """The chosen trials' trained students as NIR files: every graph built before any is written."""
    from mdsnn_search.results.deploy import nir_exports, write_nir_exports

    folders = list(dict.fromkeys([out_dir, study_folder(stored) / "exports"]))
    exports = nir_exports(stored, chosen, out_dir, folders)
    for export in exports:
        check_output_file(export.file, NIR_FILE, where=where, force=force, create_folder=True)
    if exports:
        out_dir.mkdir(parents=True, exist_ok=True)
    write_nir_exports(exports)
    return [Exported(e.trial, e.file, student=e.source.path, source=e.source.kind) for e in exports]
