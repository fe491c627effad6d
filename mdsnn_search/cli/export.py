"""``mdsnn-search export SPEC --trials 12 15`` (or ``--front``): trials as train configs.

Each chosen trial becomes one self-contained YAML that ``mdsnn-search train FILE`` accepts, in
``studies/NAME/exports/`` unless ``--out`` says otherwise. ``--epochs`` sets the retraining budget.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mdsnn_search.cli.render import console, print_json
from mdsnn_search.tables import rich_table
from mdsnn_search.cli.study_args import add_study_arguments, open_from_args, study_folder
from mdsnn_search.errors import ConfigError
from mdsnn_search.search.results import (
    export_name,
    find_trials,
    summarize_front,
    train_spec_yaml,
    trial_train_spec,
)
from mdsnn_search.search.results.export import export_header


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "export",
        help="write chosen trials as train configs (YAML) for full-budget retraining",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_study_arguments(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--trials", type=int, nargs="+", metavar="N", help="trial numbers to export")
    which.add_argument("--front", action="store_true", help="export every trial on the Pareto front")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default studies/NAME/exports/)")
    parser.add_argument(
        "--epochs", type=int, metavar="N", help="training epochs of the exported configs (default: the search's)"
    )
    parser.add_argument("--json", action="store_true", help="print the written files as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, but got {args.epochs}")
    stored = open_from_args(args)
    if args.front:
        trials = summarize_front(stored.study.get_trials(deepcopy=False), stored.objectives, stored.directions).front
        numbers = [t.number for t in trials]
    else:
        numbers = list(dict.fromkeys(args.trials))
    chosen = find_trials(stored, numbers)
    out_dir = args.out if args.out is not None else study_folder(stored) / "exports"
    # Build every spec before writing any file, so a bad trial leaves nothing half-exported.
    specs = [(t, trial_train_spec(stored, t, out_dir=out_dir, epochs=args.epochs)) for t in chosen]
    if specs:
        out_dir.mkdir(parents=True, exist_ok=True)
    written: list[dict[str, Any]] = []
    for trial, spec in specs:
        path = out_dir / f"{export_name(stored.name, trial.number)}.yaml"
        path.write_text(train_spec_yaml(spec, export_header(stored, trial, args.epochs)), encoding="utf-8")
        written.append(
            {"trial": trial.number, "file": str(path), "teacher": str(spec.teacher), "epochs": spec.training.epochs}
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
        console.print(f"note: teacher checkpoint {teacher} is not there from this directory; train needs it")
    console.print(f"retrain with: mdsnn-search train {written[0]['file']}")
    return 0
