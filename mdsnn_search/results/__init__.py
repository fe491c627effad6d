"""Reading a stored study: opening it read-only, the Pareto front and hypervolume, plots, export.

Nothing here writes to a study. The runner's live progress and the sampler benchmark reuse
:func:`open_stored_study` and :func:`summarize_front` (the one front measure).
"""

from mdsnn_search.results.export import (
    export_name,
    find_trials,
    train_spec_yaml,
    trial_train_spec,
)
from mdsnn_search.results.front import (
    FrontSummary,
    IsoCostGain,
    Region,
    iso_cost_gains,
    region_of_interest,
    summarize_front,
    summarize_stored,
)
from mdsnn_search.results.records import TrialRecord, trial_counts
from mdsnn_search.results.storage import StoredStudy, open_stored_study
from mdsnn_search.spec.summary import student_summary

__all__ = [
    "FrontSummary",
    "IsoCostGain",
    "Region",
    "StoredStudy",
    "TrialRecord",
    "export_name",
    "find_trials",
    "iso_cost_gains",
    "open_stored_study",
    "region_of_interest",
    "student_summary",
    "summarize_front",
    "summarize_stored",
    "train_spec_yaml",
    "trial_counts",
    "trial_train_spec",
]
