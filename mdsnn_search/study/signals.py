"""SIGINT and SIGTERM stop a run the same way: an exception in the main thread, so cleanup runs.

Left alone, Ray Tune turns Ctrl-C into a normal end of ``Tuner.fit`` (the run then reports
success) and Ray's own SIGTERM handler exits mid-flight. Inside :class:`StopOnSignals` both
signals raise :class:`RunInterrupted` instead; the runner marks its open trials interrupted, Ray
is shut down on the way out, and the CLI exits with 128 + the signal number (130, 143). A second
signal during that cleanup gets the handler that was there before.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal; ``requeued`` trials were marked interrupted and queued
    again."""

    def __init__(self, signum: int, requeued: int = 0) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.requeued = requeued

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class StopOnSignals:
    """Within it, SIGINT or SIGTERM raise :class:`RunInterrupted` (main thread only, as signals
    require), and :attr:`received` keeps the signal. The exception alone is not enough: Python
    runs the handler wherever the main thread is, and one raised inside a garbage-collection
    callback is dropped (here silently: :attr:`received` has it), while Ray's blocking calls turn
    it into a plain KeyboardInterrupt. So the driver also calls :meth:`check` between trials."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._deferring = 0
        self._previous: dict[signal.Signals, Any] = {}
        self._unraisable = sys.unraisablehook

    def __enter__(self) -> StopOnSignals:
        self._previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)
        self._unraisable = sys.unraisablehook
        sys.unraisablehook = self._drop_own
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._restore()
        sys.unraisablehook = self._unraisable

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Within it a stop signal is only recorded, and raised when the block ends: a step that
        must finish whole (claiming a trial and recording it as this run's) does."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if not self._deferring:  # an enclosing block raises when it ends
            self.check()

    def check(self) -> None:
        """Raise :class:`RunInterrupted` if a stop signal arrived."""
        if self.received is not None:
            raise RunInterrupted(self.received)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._restore()
        self.received = signum
        if not self._deferring:
            raise RunInterrupted(signum)

    def _drop_own(self, unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, RunInterrupted):
            self._unraisable(unraisable)

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
