"""``mdsnn-search run SPEC``: run (or resume, or join) a study until it has its trial count."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mdsnn_search.cli.render import console, print_json

EXIT_ALL_FAILED = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run, resume or join a study",
        description="Run the study a spec describes, as Ray Tune trials, until it holds "
        "study.n_trials finished trials. Rerunning the same command resumes it; running it on "
        "several machines (one storage) shares the trials. SIGINT/SIGTERM stop it cleanly "
        "(exit 130/143); exit 1 when every trial this run ran failed.",
    )
    parser.add_argument("spec", type=Path, help="study spec (YAML), e.g. search_spaces/digits.yaml")
    parser.add_argument(
        "--storage", help="SQLAlchemy URL of the study storage (overrides study.storage)"
    )
    parser.add_argument(
        "--n-trials", type=int, help="finished trials wanted (overrides study.n_trials)"
    )
    parser.add_argument(
        "--address", help="address of a Ray cluster to join (overrides execution.address)"
    )
    parser.add_argument(
        "--accept-spec-change",
        action="store_true",
        help="resume even though the spec's trial-determining sections changed; "
        "new trials record their own spec",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the summary and the whole front (values, metrics, students) as JSON",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mdsnn_search.errors import ConfigError
    from mdsnn_search.results.terminal import front_document, front_table
    from mdsnn_search.search.run import run_study
    from mdsnn_search.spec.schema import load_spec
    from mdsnn_search.tables import counted, percent

    spec = load_spec(args.spec)
    if args.n_trials is not None and args.n_trials < 1:
        raise ConfigError(f"--n-trials must be >= 1, but got {args.n_trials}")
    summary = run_study(
        spec,
        source=args.spec,
        storage_url=args.storage,
        n_trials=args.n_trials,
        address=args.address,
        accept_spec_change=args.accept_spec_change,
        progress=not args.json,
    )
    if args.json:
        print_json({**summary.to_json(), **front_document(summary.stored())})
    else:
        console.print(
            f"study {summary.study_name} ({summary.storage_url}): "
            f"{summary.finished}/{counted(summary.total, 'trial')} finished, "
            f"{summary.ran_now} run now ({summary.failed_now} failed); "
            f"teacher accuracy {percent(summary.teacher_accuracy)} (validation), "
            f"{percent(summary.teacher_test_accuracy)} (test)"
        )
        console.print(front_table(summary.stored()))
    if summary.all_failed:
        print(
            f"mdsnn-search run: error: every trial this run ran failed ({summary.failed_now}); "
            "see the reasons with mdsnn-search status",
            file=sys.stderr,
        )
        return EXIT_ALL_FAILED
    return 0
