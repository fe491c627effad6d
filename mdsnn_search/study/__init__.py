"""A stored study's persistence and lifecycle: its storage URL (password masked), opening or
creating it (:mod:`.store`), the trial budget queue, heartbeats, signals, spec drift, documents
and the short trial attributes optuna-dashboard shows.
"""

from mdsnn_search.study.budget import Budget, claim, snapshot
from mdsnn_search.study.drift import changed_fields, spec_hash
from mdsnn_search.study.heartbeat import Heartbeat
from mdsnn_search.study.read_only import read_only_storage
from mdsnn_search.study.signals import RunInterrupted, StopOnSignals
from mdsnn_search.study.storage_errors import storage_errors_as_user_errors
from mdsnn_search.study.storage_url import masked, redact
from mdsnn_search.study.store import OpenedStudy, check_existing, connect, open_study

__all__ = [
    "Budget",
    "Heartbeat",
    "OpenedStudy",
    "RunInterrupted",
    "StopOnSignals",
    "changed_fields",
    "check_existing",
    "claim",
    "connect",
    "masked",
    "open_study",
    "read_only_storage",
    "redact",
    "snapshot",
    "spec_hash",
    "storage_errors_as_user_errors",
]
