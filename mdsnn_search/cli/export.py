"""``mdsnn-search export SPEC --trials 12 15`` (or ``--front``): trials as train configs.

Each chosen trial becomes one self-contained YAML that ``mdsnn-search train FILE`` accepts from any
folder (teacher and output are absolute paths), in ``studies/NAME/exports/`` unless ``--out`` says
otherwise. ``--epochs`` sets the retraining budget. Files of the same name are replaced only if they
were exported before; ``--force`` replaces any file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdsnn_search.cli.render import console, print_json
from mdsnn_search.cli.study_args import add_study_arguments, open_from_args, study_folder
from mdsnn_search.errors import ConfigError
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
    from mdsnn_search.job import TrainSpec

EXPORT_HEADER_START = "Exported from study "
"""How :func:`export_header` starts every exported config: a file that starts so is ours."""


def register(subparsers: argparse._SubParsersAction) -> None:
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
        "--out", type=Path, metavar="DIR", help="output folder (default studies/NAME/exports/)"
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


def run(args: argparse.Namespace) -> int:
    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, but got {args.epochs}")
    stored = open_from_args(args)
    check_plain_name(stored.name, "the study name (it names the exported files)")
    if args.front:
        trials = summarize_stored(stored).front
        numbers = [t.number for t in trials]
    else:
        numbers = list(dict.fromkeys(args.trials))
    chosen = find_trials(stored, numbers)
    default = args.out is None
    out_dir = study_folder(stored) / "exports" if default else args.out
    where = "export folder" if default else "--out"
    check_output_folder(out_dir, where=where, create_parents=default)
    # Build and check every file before writing any, so a bad trial or path leaves nothing
    # half-exported.
    specs = [
        (
            t,
            _runnable_anywhere(
                trial_train_spec(stored, t, out_dir=out_dir.resolve(), epochs=args.epochs)
            ),
        )
        for t in chosen
    ]
    paths = [out_dir / f"{export_name(stored.name, trial.number)}.yaml" for trial, _ in specs]
    for path in paths:
        check_output_file(path, EXPORTED, where=where, force=args.force, create_folder=True)
    if specs:
        out_dir.mkdir(parents=default, exist_ok=True)
    written: list[dict[str, Any]] = []
    for (trial, spec), path in zip(specs, paths, strict=True):
        path.write_text(
            train_spec_yaml(spec, export_header(stored, trial, args.epochs)), encoding="utf-8"
        )
        written.append(
            {
                "trial": trial.number,
                "file": str(path),
                "teacher": str(spec.teacher),
                "epochs": spec.training.epochs,
            }
        )
    if args.json:
        print_json({"study": stored.name, "exports": written})
        return 0
    if not written:
        console.print(f"study {stored.name}: no complete trials on the front; nothing exported")
        return 0
    rows = [[w["trial"], w["file"], w["epochs"]] for w in written]
    console.print(rich_table(f"study {stored.name}: exported", ["trial", "file", "epochs"], rows))
    teacher = specs[0][1].teacher
    if teacher is not None and not teacher.is_file():
        console.print(f"note: teacher checkpoint {teacher} is not there; train needs it")
    console.print(f"retrain with: mdsnn-search train {written[0]['file']}")
    return 0
