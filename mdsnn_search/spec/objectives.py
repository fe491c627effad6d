"""The objectives a study can optimise, and the names results are stored under.

Every key a trial writes into the study is defined here once, so the runner, the status and
Pareto views, and the export agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mdsnn_search.metrics import (
    AREA_UM2,
    EDAP,
    ENERGY_PJ,
    LATENCY_NS,
    SPIKES_PER_SAMPLE,
    VAL_ACCURACY,
)

ObjectiveName = Literal["accuracy", "edap", "energy", "latency", "area", "spikes"]
Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class Objective:
    name: ObjectiveName
    metric: str
    """Key of the value in a trial's metrics."""
    direction: Direction
    label: str
    """Axis label for tables and plots, with the unit."""


OBJECTIVES: dict[ObjectiveName, Objective] = {
    # Chosen on the validation split; the test split's accuracy is stored beside it and reported.
    "accuracy": Objective("accuracy", VAL_ACCURACY, "maximize", "validation accuracy"),
    "edap": Objective("edap", EDAP, "minimize", "EDAP (J s mm2)"),
    "energy": Objective("energy", ENERGY_PJ, "minimize", "energy (pJ)"),
    "latency": Objective("latency", LATENCY_NS, "minimize", "latency (ns)"),
    "area": Objective("area", AREA_UM2, "minimize", "area (um2)"),
    "spikes": Objective("spikes", SPIKES_PER_SAMPLE, "minimize", "spikes per sample"),
}


def find_objective(name: str) -> Objective | None:
    """The objective called ``name``, or None: a stored study may name one this version lacks."""
    return next((o for o in OBJECTIVES.values() if o.name == name), None)


# Trial attributes. ``metrics``, ``student``, ``traceback`` and ``spec`` are documents, stored whole
# where optuna-dashboard does not cut them (:mod:`mdsnn_search.study.documents`); the others are
# short user attributes, with those of :mod:`mdsnn_search.study.trial_attrs`.
ATTR_METRICS = "metrics"
"""All measured values: accuracy, cost totals, spikes, per-layer rates and membrane mismatch."""
ATTR_STUDENT = "student"
"""The decoded student: ``{"precision": PrecisionConfig, "distill": DistillConfig}`` as JSON."""
ATTR_TRIAL_DIR = "ray_trial_dir"
ATTR_FAIL_REASON = "fail_reason"
ATTR_TRACEBACK = "traceback"
"""The failing trial's Python traceback (its last lines when long)."""
ATTR_SPEC = "spec"
"""The full StudySpec this trial ran with (JSON, storage password masked); export reads it."""
ATTR_TEACHER = "teacher"
"""``{"checkpoint", "accuracy"}`` of the teacher this trial was distilled from and judged
against."""
ATTR_BASELINE = "baseline"
"""Name of the uniform baseline a trial evaluates (``fp32``, ``w8u8``, ``w4u4``, ``w2u2``), absent
for searched ones."""
ATTR_FEASIBLE = "feasible"
"""Whether every constraint holds (a boolean; Optuna holds the values themselves)."""
ATTR_CONSTRAINTS = "constraints"
"""Constraint values by name (<= 0 is feasible), in the order Optuna holds them unnamed."""

# Study attributes (``spec`` a document, as above).
STUDY_SPEC = "spec"
"""The StudySpec of the study's latest accepted spec, as written (JSON, storage password masked)."""
STUDY_SPEC_HASH = "spec_hash"
"""Hash of that spec's trial-determining sections (:mod:`mdsnn_search.study.drift`)."""
STUDY_TEACHER = "teacher"
"""``{"checkpoint": path, "accuracy": float, ...}`` of the study's teacher."""
STUDY_REFERENCE = "reference"
"""The full-precision reference and the space's cost range, measured once by the runner:
``{"accuracy", "test_accuracy"}`` of the teacher, ``"fp32"``: its cost totals (``edap``,
``energy_pj``, ...) and ``"cheapest"``: those of the space's cheapest configuration (cost model
only, the teacher's activity), which bounds the front measure's cost axes
(:mod:`mdsnn_search.results.front`)."""
