"""What a study asks for: the YAML spec (:mod:`.schema`), its search space and baselines
(:mod:`.space`), the objectives and the keys results are stored under (:mod:`.objectives`), and a
student in short (:mod:`.summary`). Pure definitions: nothing here touches a storage.
"""

from mdsnn_search.spec.objectives import OBJECTIVES, Objective
from mdsnn_search.spec.schema import (
    ExecutionConfig,
    HardwareConfig,
    StudyConfig,
    StudySpec,
    absolute_paths,
    load_spec,
)
from mdsnn_search.spec.search_space import SearchSpaceConfig
from mdsnn_search.spec.space import (
    LayerRoles,
    StudentConfig,
    UniformBaseline,
    baseline_queue,
    parse_baseline,
    suggest_student,
)
from mdsnn_search.spec.summary import student_summary

__all__ = [
    "ExecutionConfig",
    "HardwareConfig",
    "LayerRoles",
    "OBJECTIVES",
    "Objective",
    "SearchSpaceConfig",
    "StudentConfig",
    "StudyConfig",
    "StudySpec",
    "absolute_paths",
    "UniformBaseline",
    "baseline_queue",
    "parse_baseline",
    "load_spec",
    "student_summary",
    "suggest_student",
]
