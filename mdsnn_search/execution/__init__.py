"""Where trials run: in this process or as Ray Tune trials. The records that cross to an
executor (:mod:`.protocol`), the executors, the cluster's resources. Only :mod:`.ray_tune` imports
ray, and only when a Ray executor is opened.
"""

from mdsnn_search.execution.executors import Executor, open_executor
from mdsnn_search.execution.protocol import (
    TrialContext,
    TrialFn,
    TrialOutcome,
    TrialRequest,
    TrialSource,
    TrialStatus,
)
from mdsnn_search.execution.resources import TrialResources, trial_resources

__all__ = [
    "Executor",
    "TrialContext",
    "TrialFn",
    "TrialOutcome",
    "TrialRequest",
    "TrialResources",
    "TrialSource",
    "TrialStatus",
    "open_executor",
    "trial_resources",
]
