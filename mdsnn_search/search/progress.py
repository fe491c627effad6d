"""Live progress of a running study: trials done, running, pending and failed, and the best front so
far.

A trial this run claimed is pending until its executor starts it (Ray waits for free resources),
then running. Trials other runs of the same study are running show apart. On a terminal it is a
rich live panel on stderr; otherwise (CI, a pipe) one line whenever a count changes, so logs stay
readable.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Group
from rich.live import Live
from rich.text import Text

from mdsnn_search.results.storage import StoredStudy
from mdsnn_search.results.terminal import front_table
from mdsnn_search.search.driver import StudyDriver
from mdsnn_search.tables import counted
from mdsnn_search.terminal import console


class LiveProgress:
    def __init__(self, *, enabled: bool = True) -> None:
        self.console = console(stderr=True)
        self.enabled = enabled
        self._live: Live | None = None
        self._start = time.monotonic()
        self._last_reported: tuple[int, ...] = ()

    def __enter__(self) -> LiveProgress:
        if self.enabled and self.console.is_terminal:
            self._live = Live(Text("starting..."), console=self.console, refresh_per_second=2)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)

    def __call__(self, driver: StudyDriver) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self._live.update(
                Group(
                    Text(self._headline(driver)),
                    front_table(StoredStudy(driver.study, "", storage=driver.storage)),
                )
            )
            return
        counts = (
            driver.budget.finished,
            driver.completed,
            driver.failed,
            len(driver.running),
            driver.pending,
            driver.elsewhere,
        )
        if counts != self._last_reported:
            self._last_reported = counts
            self.console.print(self._headline(driver))

    def _headline(self, driver: StudyDriver) -> str:
        elapsed = time.monotonic() - self._start
        return headline(driver, elapsed)


def headline(driver: StudyDriver, elapsed_s: float) -> str:
    """``digits: 7/16 trials done (5 complete, 1 failed this run), 2 running, 0 pending, 40 s``:
    every count from the driver's one look at the study and its own trials."""
    budget = driver.budget
    elsewhere = f", {driver.elsewhere} running in other runs" if driver.elsewhere else ""
    return (
        f"{driver.study.study_name}: {budget.finished}/{counted(budget.n_trials, 'trial')} "
        f"done ({driver.completed} complete, {driver.failed} failed this run), "
        f"{len(driver.running)} running, "
        f"{driver.pending} pending{elsewhere}, {elapsed_s:.0f} s"
    )
