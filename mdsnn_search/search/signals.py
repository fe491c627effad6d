"""SIGINT and SIGTERM stop a run the same way: an exception in the main thread, so cleanup runs.

Left alone, Ray Tune turns Ctrl-C into a normal end of ``Tuner.fit`` (the run then reports
success) and Ray's own SIGTERM handler exits mid-flight. Inside :class:`StopOnSignals` both
signals raise :class:`RunInterrupted` instead; the runner marks its open trials interrupted, Ray
is shut down on the way out, and the CLI exits with 128 + the signal number (130, 143). A second
signal during that cleanup gets the handler that was there before.
"""

from __future__ import annotations

import signal
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal; ``requeued`` trials were marked interrupted and queued again."""

    def __init__(self, signum: int, requeued: int = 0) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.requeued = requeued

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class StopOnSignals:
    """Within it, SIGINT or SIGTERM raise :class:`RunInterrupted` (main thread only, as signals
    require). :attr:`received` keeps the signal: code between the handler and the runner (Ray's
    blocking calls) may turn the exception into a plain KeyboardInterrupt on its way up."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> StopOnSignals:
        self._previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._restore()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._restore()
        self.received = signum
        raise RunInterrupted(signum)

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
