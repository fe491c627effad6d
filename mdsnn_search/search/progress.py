"""Live progress of a running study: trials done / running / failed and the best front so far.

On a terminal it is a rich live panel on stderr; otherwise (CI, a pipe) one line per finished
trial, so logs stay readable.
"""

from __future__ import annotations

import time
from types import TracebackType

import optuna
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from mdsnn_search.search.driver import StudyDriver
from mdsnn_search.search.objectives import ATTR_BASELINE, ATTR_FEASIBLE, OBJECTIVES


class LiveProgress:
    def __init__(self, total: int, already_done: int, *, enabled: bool = True) -> None:
        self.total = total
        self.already_done = already_done
        self.console = Console(stderr=True)
        self.enabled = enabled
        self._live: Live | None = None
        self._start = time.monotonic()
        self._last_reported = -1

    def __enter__(self) -> LiveProgress:
        if self.enabled and self.console.is_terminal:
            self._live = Live(Text("starting..."), console=self.console, refresh_per_second=2)
            self._live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)

    def __call__(self, driver: StudyDriver) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self._live.update(Group(Text(self._headline(driver)), front_table(driver.study, driver.spec.study.objectives)))
            return
        finished = driver.completed + driver.failed
        if finished != self._last_reported:
            self._last_reported = finished
            self.console.print(self._headline(driver))

    def _headline(self, driver: StudyDriver) -> str:
        done = self.already_done + driver.completed + driver.failed
        elapsed = time.monotonic() - self._start
        return (
            f"{driver.study.study_name}: {done}/{self.total} trials done "
            f"({driver.completed} complete, {driver.failed} failed this run), {driver.running} running, "
            f"{elapsed:.0f} s"
        )


def front_table(study: optuna.Study, objective_names: list[str], limit: int = 10) -> Table:
    """The study's Pareto front (feasible trials), best first by the first objective."""
    objectives = [OBJECTIVES[name] for name in objective_names]
    table = Table(title="Pareto front", title_justify="left")
    table.add_column("trial", justify="right")
    table.add_column("baseline")
    for objective in objectives:
        table.add_column(objective.label, justify="right")
    front = [t for t in study.best_trials if t.user_attrs.get(ATTR_FEASIBLE, True)]
    reverse = objectives[0].direction == "maximize"
    front.sort(key=lambda t: t.values[0], reverse=reverse)
    for trial in front[:limit]:
        table.add_row(
            str(trial.number),
            str(trial.user_attrs.get(ATTR_BASELINE, "")),
            *(f"{v:.4g}" for v in trial.values),
        )
    return table
