"""``mdsnn-search pareto SPEC``: the Pareto front of a stored study, its hypervolume and plots.

Writes ``pareto.png`` (matplotlib) and ``pareto.html`` (Optuna's plotly figures, one
self-contained page) into the study's folder (``studies/NAME/`` for the default storage,
``studies/NAME-<hash>/`` for another; :mod:`mdsnn_search.study.folder`) unless told otherwise
(``--plot``, ``--html``, ``--no-files``); files it did not write are replaced only with
``--force``. The hypervolume (in the region of interest) and the iso-cost gains are defined in
:mod:`mdsnn_search.results.front`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mdsnn_search.cli.render import console, print_json
from mdsnn_search.cli.study_args import add_study_arguments, open_from_args, study_folder
from mdsnn_search.errors import ConfigError
from mdsnn_search.outputs import PAGE, check_figure_file, check_output_file
from mdsnn_search.results import FrontSummary, StoredStudy, TrialRecord, summarize_stored
from mdsnn_search.results.terminal import front_table, gain_lines, records_of
from mdsnn_search.tables import counted


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "pareto",
        help="Pareto front, hypervolume and plots (PNG, HTML) of a stored study",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_study_arguments(parser)
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="PNG",
        help="plot file (default pareto.png in the study's folder)",
    )
    parser.add_argument(
        "--html",
        type=Path,
        metavar="HTML",
        help="page file (default pareto.html in the study's folder)",
    )
    parser.add_argument("--no-files", action="store_true", help="write neither plot nor page")
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite existing plot/page files that mdsnn-search did not write",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the front (values, metrics, students) as JSON"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    stored = open_from_args(args)
    if args.no_files and (args.plot or args.html):
        raise ConfigError("--no-files contradicts --plot/--html")
    targets = None if args.no_files else _file_targets(args, stored)
    trials = stored.study.get_trials(deepcopy=False)
    summary = summarize_stored(stored)
    records = records_of(stored, trials)
    files, skipped = _write_files(targets, stored, records, summary)
    if args.json:
        print_json(_document(stored, records, summary, files))
        return 0
    if summary.n_complete == 0:
        console.print(f"study {stored.name}: no complete trials yet, so no front")
        return 0
    console.print(front_table(stored, max_rows=None))
    console.print(
        f"hypervolume {summary.hypervolume:.4f} in the region of interest: "
        f"{summary.region.describe()}"
    )
    for line in gain_lines(summary):
        console.print(line)
    if summary.constrained:
        console.print(
            f"front of feasible trials only: {counted(summary.n_infeasible, 'complete trial')} "
            + ("violates" if summary.n_infeasible == 1 else "violate")
            + " a constraint"
        )
    for note in skipped:
        console.print(note)
    for kind, path in files.items():
        console.print(f"{kind}: {path}")
    return 0


def _file_targets(args: argparse.Namespace, stored: StoredStudy) -> tuple[Path, Path]:
    """Plot and page paths, checked before any computing (see :mod:`mdsnn_search.outputs`)."""
    png = args.plot or study_folder(stored) / "pareto.png"
    html = args.html or study_folder(stored) / "pareto.html"
    check_figure_file(
        png,
        where="--plot" if args.plot else "plot",
        force=args.force,
        create_folder=args.plot is None,
    )
    check_output_file(
        html,
        PAGE,
        where="--html" if args.html else "page",
        force=args.force,
        create_folder=args.html is None,
    )
    return png, html


def _write_files(
    targets: tuple[Path, Path] | None,
    stored: StoredStudy,
    records: list[TrialRecord],
    summary: FrontSummary,
) -> tuple[dict[str, str], list[str]]:
    if targets is None:
        return {}, []
    if len(stored.objectives) < 2:
        return {}, ["one objective: no front to plot"]
    if summary.n_complete == 0:
        return {}, ["no complete trials yet: nothing to plot"]
    from mdsnn_search.results.plot import save_pareto_png
    from mdsnn_search.results.plotdata import plot_data
    from mdsnn_search.results.report import pareto_report, save_report
    from mdsnn_search.results.tables import front_rows

    notes = (
        [f"{len(stored.objectives)} objectives: the plots show the first two"]
        if len(stored.objectives) > 2
        else []
    )
    data = plot_data(stored, records, summary)
    png = save_pareto_png(data, targets[0])
    on_front = {t.number for t in summary.front}
    front = front_rows(stored, [r for r in records if r.number in on_front])
    html = save_report(pareto_report(stored, records, data, summary, front), targets[1])
    return {"plot": str(png), "html": str(html)}, notes


def _document(
    stored: StoredStudy, records: list[TrialRecord], summary: FrontSummary, files: dict[str, str]
) -> dict[str, Any]:
    on_front = {t.number for t in summary.front}
    return {
        "study": stored.name,
        "storage": stored.storage_url,
        "objectives": stored.objectives,
        "directions": stored.directions,
        "constrained": summary.constrained,
        "n_complete": summary.n_complete,
        "n_infeasible": summary.n_infeasible,
        **summary.to_dict(),
        "front": [r.to_dict() for r in records if r.number in on_front],
        "files": files,
    }
