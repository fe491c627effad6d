"""Rich tables of a stored study, shared by ``status``, ``pareto`` and the live progress of ``run``."""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from rich.table import Table

from mdsnn_search.cli.render import table
from mdsnn_search.search.results import StoredStudy, TrialRecord, summarize_front, trial_counts
from mdsnn_search.search.results.tables import failure_rows, front_rows, status_rows

TEXT_COLUMNS = frozenset({"state", "baseline", "student", "reason", "feasible"})


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    """``render.table`` with the text columns left-aligned."""
    t = table(title, columns, rows)
    for column in t.columns:
        if column.header in TEXT_COLUMNS:
            column.justify = "left"
    return t


def records_of(stored: StoredStudy, trials: Sequence[optuna.trial.FrozenTrial] | None = None) -> list[TrialRecord]:
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
    return _table(f"study {stored.name}: trials", columns, rows)


def failures_table(records: Sequence[TrialRecord]) -> Table | None:
    columns, rows = failure_rows(records)
    return _table("failed trials", columns, rows) if rows else None


def front_table(study: optuna.Study | StoredStudy, *, max_rows: int | None = 10) -> Table:
    """Compact front of a study (live or stored): title with counts and hypervolume, best rows first."""
    stored = study if isinstance(study, StoredStudy) else StoredStudy(study=study, storage_url="")
    trials = stored.study.get_trials(deepcopy=False)
    summary = summarize_front(trials, stored.objectives, stored.directions)
    front = {t.number for t in summary.front}
    records = [TrialRecord.from_trial(t, stored.objectives) for t in trials if t.number in front]
    columns, rows = front_rows(stored, records)
    title = (
        f"Pareto front: {len(summary.front)} trials ({counts_line(trial_counts(trials))}); "
        f"hypervolume {summary.normalized_hypervolume:.4f}" + (" (feasible only)" if summary.constrained else "")
    )
    if max_rows is not None and len(rows) > max_rows:
        title += f"; first {max_rows} shown"
        rows = rows[:max_rows]
    return _table(title, columns, rows)
