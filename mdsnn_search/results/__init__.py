"""Reading a stored study: opening it read-only, the Pareto front and hypervolume, plots, export.

Nothing here writes to a study. The runner's live progress and the sampler benchmark reuse
:func:`open_stored_study`, :func:`hypervolume` and :func:`summarize_front`.
"""

from mdsnn_search.results.export import (
    export_name,
    find_trials,
    train_spec_yaml,
    trial_train_spec,
)
from mdsnn_search.results.front import (
    FrontSummary,
    Reference,
    hypervolume,
    reference_point,
    summarize_front,
)
from mdsnn_search.results.records import TrialRecord, trial_counts
from mdsnn_search.results.storage import StoredStudy, open_stored_study
from mdsnn_search.spec.summary import student_summary

__all__ = [
    "FrontSummary",
    "Reference",
    "StoredStudy",
    "TrialRecord",
    "export_name",
    "find_trials",
    "hypervolume",
    "open_stored_study",
    "reference_point",
    "student_summary",
    "summarize_front",
    "train_spec_yaml",
    "trial_counts",
    "trial_train_spec",
]
