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
from mdsnn_search.results.records import TrialRecord, student_summary, trial_counts
from mdsnn_search.results.storage import (
    StoredStudy,
    open_stored_study,
    read_only_storage,
    sqlite_path,
)

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
    "read_only_storage",
    "region_of_interest",
    "sqlite_path",
    "student_summary",
    "summarize_front",
    "summarize_stored",
    "train_spec_yaml",
    "trial_counts",
    "trial_train_spec",
]
