"""Output that fits where it goes: a terminal, or a log (CI, ``| tee``, nohup).

On a terminal rich fits tables to the window (``COLUMNS`` overrides its width, as rich reads it)
and long phases show a progress bar. Off a terminal nobody resizes a window or watches a bar
redraw: rich would cut every table at 80 columns ("2.091e-…") and print a bar only once it is
full, so there lines are as wide as what they hold and a long phase prints one line per epoch or
step. Every console of the package comes from :func:`console`.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, ConsoleDimensions
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LOG_WIDTH = 10_000
"""Width off a terminal: wider than any table or line printed, so none is wrapped or cut."""


class FittingConsole(Console):
    """A rich console whose width is the terminal's on a TTY and :data:`LOG_WIDTH` elsewhere,
    decided at each print (a test's captured stdout, a pipe, a redirected file)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if self.is_terminal else ConsoleDimensions(LOG_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


def console(*, stderr: bool = False) -> FittingConsole:
    """The console for stdout (tables, results) or stderr (progress). Text prints as written:
    no rich markup, so a failure reason's ``[conv1]`` is not taken for a style and dropped."""
    return FittingConsole(stderr=stderr, markup=False)


class PhaseProgress:
    """A long phase (training epochs, caching batches) on stderr: a rich bar on a terminal,
    elsewhere one line ``description: status, N s`` per :meth:`report` (call it once per epoch,
    not per step, so logs stay short). Disabled, it shows nothing."""

    def __init__(self, description: str, total: int | None, *, enabled: bool = True) -> None:
        self.description = description
        self.console = console(stderr=True)
        self.enabled = enabled
        self.live = enabled and self.console.is_terminal
        self._start = time.monotonic()
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            disable=not self.live,
        )
        self._task = self._bar.add_task(description, total=total, status="")

    def __enter__(self) -> PhaseProgress:
        self._bar.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.__exit__(exc_type, exc, tb)

    def advance(self, steps: int = 1) -> None:
        self._bar.advance(self._task, steps)

    def report(self, status: str) -> None:
        """The bar's status on a terminal; one plain line elsewhere."""
        if self.live:
            self._bar.update(self._task, status=status)
        elif self.enabled:
            elapsed = time.monotonic() - self._start
            self.console.print(f"{self.description}: {status}, {elapsed:.0f} s", highlight=False)
