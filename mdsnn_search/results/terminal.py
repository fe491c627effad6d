"""Rich tables of a study for the terminal: ``status``, ``pareto`` and the live progress of ``run``.

Kept in the results package (not in ``cli``) so that the runner's progress display, which lives
in ``search``, can print :func:`front_table` without importing the command-line layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from rich.table import Table

from mdsnn_search import tables
from mdsnn_search.results.front import FrontSummary, summarize_stored
from mdsnn_search.results.records import TrialRecord, trial_counts
from mdsnn_search.results.storage import StoredStudy
from mdsnn_search.results.tables import failure_rows, front_rows, status_rows
from mdsnn_search.tables import counted

TEXT_COLUMNS = frozenset({"state", "baseline", "student", "reason", "feasibility"})
"""Left-aligned columns; numbers are right-aligned."""


def rich_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    return tables.rich_table(title, columns, rows, text_columns=TEXT_COLUMNS)


def records_of(
    stored: StoredStudy, trials: Sequence[optuna.trial.FrozenTrial] | None = None
) -> list[TrialRecord]:
    trials = stored.study.get_trials(deepcopy=False) if trials is None else trials
    return [TrialRecord.from_trial(t, stored.objectives) for t in trials]


def counts_line(counts: dict[str, int]) -> str:
    """``12 complete, 2 running, 1 failed, 0 waiting`` (pruned only when there are any)."""
    shown = [f"{counts[k]} {k}" for k in ("complete", "running", "failed", "waiting")]
    if counts.get("pruned"):
        shown.append(f"{counts['pruned']} pruned")
    return ", ".join(shown)


def trials_table(stored: StoredStudy, records: Sequence[TrialRecord]) -> Table:
    columns, rows = status_rows(stored, records)
    return rich_table(f"study {stored.name}: trials", columns, rows)


def failures_table(records: Sequence[TrialRecord]) -> Table | None:
    columns, rows = failure_rows(records)
    return rich_table("failed trials", columns, rows) if rows else None


def front_table(stored: StoredStudy, *, max_rows: int | None = 10) -> Table:
    """Compact front of a study (a running one too, :meth:`StoredStudy.live`): title with counts
    and hypervolume, best first."""
    summary, records, counts = _front(stored)
    columns, rows = front_rows(stored, records)
    title = (
        f"Pareto front: {counted(len(summary.front), 'trial')} ({counts_line(counts)}); "
        f"hypervolume {summary.hypervolume:.4f}"
        + (" (feasible only)" if summary.constrained else "")
    )
    if max_rows is not None and len(rows) > max_rows:
        title += f"; first {max_rows} shown"
        rows = rows[:max_rows]
    return rich_table(title, columns, rows)


def front_document(stored: StoredStudy) -> dict[str, Any]:
    """What :func:`front_table` shows, every row and digit, for ``--json``."""
    summary, records, counts = _front(stored)
    return {
        "counts": counts,
        "constrained": summary.constrained,
        **summary.to_dict(),
        "front": [r.to_dict() for r in records],
    }


def _front(stored: StoredStudy) -> tuple[FrontSummary, list[TrialRecord], dict[str, int]]:
    trials = stored.study.get_trials(deepcopy=False)
    summary = summarize_stored(stored)
    front = {t.number for t in summary.front}
    records = [TrialRecord.from_trial(t, stored.objectives) for t in trials if t.number in front]
    return summary, records, trial_counts(trials)


def gain_lines(summary: FrontSummary) -> list[str]:
    """One line per uniform baseline: the front's iso-cost gain over it, validation and test."""
    lines = []
    for gain in summary.gains:
        if gain.trial is None:
            lines.append(
                f"vs {gain.baseline}: no searched trial at its EDAP ({gain.cost:.3g}) or less"
            )
            continue
        test = "" if gain.test_gain is None else f", test {gain.test_gain * 100:+.2f}"
        lines.append(
            f"vs {gain.baseline} (EDAP {gain.cost:.3g}): trial {gain.trial} at no more EDAP, "
            f"accuracy validation {(gain.val_gain or 0.0) * 100:+.2f}{test} points"
        )
    return lines
