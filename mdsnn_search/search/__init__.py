"""The search: the samplers, the strategy registry, the driver that claims and tells trials, the
teacher, the trial function, and :func:`run_study`, which puts them together for ``run``.
"""

from mdsnn_search.search.driver import StudyDriver
from mdsnn_search.search.run import RunSummary, check_spec, run_study
from mdsnn_search.search.samplers import SAMPLERS, make_sampler
from mdsnn_search.search.strategy import STRATEGIES, Strategy, StrategySetup, get_strategy
from mdsnn_search.search.teacher import TeacherInfo, ensure_teacher
from mdsnn_search.search.trial import run_trial

__all__ = [
    "RunSummary",
    "SAMPLERS",
    "STRATEGIES",
    "Strategy",
    "StrategySetup",
    "StudyDriver",
    "TeacherInfo",
    "check_spec",
    "ensure_teacher",
    "get_strategy",
    "make_sampler",
    "run_study",
    "run_trial",
]
