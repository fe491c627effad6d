"""Columns and rows of the results tables, as plain values.

The terminal (rich) and the HTML page render the same rows, so they cannot disagree. Accuracy is
shown in percent; the other objectives and metrics in their stored units. The accuracy objective
is the validation split's, which trials are chosen by; the test split's, which is what a front
reports, stands beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mdsnn_search.metrics import TEST_ACCURACY
from mdsnn_search.results.records import TrialRecord
from mdsnn_search.results.storage import StoredStudy
from mdsnn_search.spec.objectives import OBJECTIVES

TEST_ACCURACY_COLUMN = "test accuracy (%)"
FEASIBILITY_COLUMN = "feasibility"

EXTRA_METRICS: dict[str, str] = {
    "energy_pj": "energy (pJ)",
    "latency_ns": "latency (ns)",
    "spikes_per_sample": "spikes/sample",
}
"""Metrics shown next to the objectives (those not already an objective)."""

Rows = tuple[list[str], list[list[Any]]]


def objective_columns(stored: StoredStudy) -> list[str]:
    columns = [
        "val accuracy (%)" if name == "accuracy" else stored.label(name)
        for name in stored.objectives
    ]
    return columns + ([TEST_ACCURACY_COLUMN] if "accuracy" in stored.objectives else [])


def objective_cells(stored: StoredStudy, record: TrialRecord) -> list[Any]:
    cells: list[Any] = []
    for name in stored.objectives:
        value = record.values.get(name)
        cells.append(value * 100.0 if name == "accuracy" and value is not None else value)
    if "accuracy" in stored.objectives:
        test = record.metrics.get(TEST_ACCURACY)
        cells.append(test * 100.0 if isinstance(test, (int, float)) else None)
    return cells


def extra_metrics(stored: StoredStudy) -> dict[str, str]:
    shown = {OBJECTIVES[n].metric for n in stored.objectives if n in OBJECTIVES}
    return {key: label for key, label in EXTRA_METRICS.items() if key not in shown}


def status_rows(stored: StoredStudy, records: Sequence[TrialRecord]) -> Rows:
    """Trials: number, state, baseline, objectives, key metrics, [feasible], duration, student."""
    extra = extra_metrics(stored)
    with_feasibility = any(r.constrained for r in records)
    columns = ["#", "state", "baseline", *objective_columns(stored), *extra.values()]
    columns += [FEASIBILITY_COLUMN] if with_feasibility else []
    columns += ["duration", "student"]
    rows = []
    for r in records:
        row = [
            r.number,
            r.state,
            r.baseline,
            *objective_cells(stored, r),
            *(r.metrics.get(k) for k in extra),
        ]
        row += [r.feasibility] if with_feasibility else []
        row += [format_duration(r.duration_s), r.student_summary if r.student else None]
        rows.append(row)
    return columns, rows


def front_rows(stored: StoredStudy, records: Sequence[TrialRecord]) -> Rows:
    """Front trials (``records`` already chosen), best first in the first objective; their
    feasibility when constraints were evaluated (a constrained front holds feasible ones only)."""
    extra = extra_metrics(stored)
    with_feasibility = any(r.constrained for r in records)
    columns = ["#", "baseline", *objective_columns(stored), *extra.values()]
    columns += [FEASIBILITY_COLUMN] if with_feasibility else []
    columns += ["student"]
    first, direction = stored.objectives[0], stored.directions[0]
    ordered = sorted(
        records, key=lambda r: r.values.get(first, 0.0), reverse=direction == "maximize"
    )
    rows = [
        [
            r.number,
            r.baseline,
            *objective_cells(stored, r),
            *(r.metrics.get(k) for k in extra),
            *([r.feasibility] if with_feasibility else []),
            r.student_summary,
        ]
        for r in ordered
    ]
    return columns, rows


def failure_rows(records: Sequence[TrialRecord]) -> Rows:
    rows = [
        [r.number, r.fail_reason or "(no reason stored)"] for r in records if r.state == "failed"
    ]
    return ["#", "reason"], rows


def format_duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
