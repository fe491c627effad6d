"""The heartbeats of a driver's open trials, recorded in the study storage by one background thread.

Optuna records heartbeats only inside ``study.optimize``; this driver asks and tells by itself
(trials run on Ray or inline), so it records them with the storage's own ``record_heartbeat``.
A trial whose heartbeat is older than the storage's grace period belongs to a run that stopped,
and any driver may fail it and queue it again (``optuna.storages.fail_stale_trials``).
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

import optuna

logger = logging.getLogger(__name__)


class Heartbeat:
    """Records a heartbeat for every trial in :attr:`trial_ids` every ``interval_s`` seconds."""

    def __init__(self, storage: optuna.storages.RDBStorage, interval_s: float) -> None:
        self._storage = storage
        self._interval_s = interval_s
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="mdsnn-heartbeat", daemon=True)

    def add(self, trial_id: int) -> None:
        with self._lock:
            self._ids.add(trial_id)

    def discard(self, trial_id: int) -> None:
        with self._lock:
            self._ids.discard(trial_id)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval_s):
            with self._lock:
                ids = sorted(self._ids)
            for trial_id in ids:
                try:
                    self._storage.record_heartbeat(trial_id)
                except Exception as exc:  # a storage hiccup: the next beat tries again
                    logger.warning(
                        "could not record the heartbeat of trial id %d: %s", trial_id, exc
                    )
