"""``mdsnn-search status SPEC``: every trial of a stored study, counts and failure reasons."""

from __future__ import annotations

import argparse

from mdsnn_search.cli.render import console, print_json
from mdsnn_search.cli.study_args import add_study_arguments, open_from_args
from mdsnn_search.results import trial_counts
from mdsnn_search.results.terminal import (
    counts_line,
    failures_table,
    records_of,
    trials_table,
)
from mdsnn_search.study.students import ATTR_STUDENT_CHECKPOINT, kept_students


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="trials of a stored study: state, objectives, metrics, failures",
        description="Show every trial of a stored study (read-only): state, baseline tag, "
        "objective values, key metrics, duration and a short student summary, then counts and "
        "failure reasons.",
    )
    add_study_arguments(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (all metrics and student configs)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    stored = open_from_args(args)
    trials = stored.study.get_trials(deepcopy=False)
    records = records_of(stored, trials)
    counts = trial_counts(trials)
    kept = kept_students(
        [p for t in trials if isinstance(p := t.user_attrs.get(ATTR_STUDENT_CHECKPOINT), str)]
    )
    if args.json:
        print_json(
            {
                "study": stored.name,
                "storage": stored.storage_url,
                "objectives": stored.objectives,
                "directions": stored.directions,
                "counts": counts,
                "kept_students": {"count": kept.count, "bytes": kept.bytes},
                "trials": [r.to_dict() for r in records],
                "failures": [
                    {"number": r.number, "reason": r.fail_reason}
                    for r in records
                    if r.state == "failed"
                ],
            }
        )
        return 0
    if records:
        console.print(trials_table(stored, records))
    console.print(f"study {stored.name} ({stored.storage_url}): {counts_line(counts)}")
    console.print(kept.line())
    failures = failures_table(records)
    if failures is not None:
        console.print(failures)
    return 0
