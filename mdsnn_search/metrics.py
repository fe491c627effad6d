"""The keys of a trial's metrics, defined once (torch-free, so every reader can import them).

A trial's metrics are one JSON document: the student's evaluation on the split it is chosen by
(:func:`mdsnn_search.distill.evaluate_student`), both splits' accuracy and the test split's whole
evaluation (:func:`mdsnn_search.job.evaluate_splits`), and its crossbar cost
(:func:`mdsnn_search.search.trial.cost_metrics`). Objectives name these keys
(:data:`mdsnn_search.spec.objectives.OBJECTIVES`); tables, plots and export read them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# The student's evaluation on one split.
ACCURACY = "accuracy"
LOSS = "loss"
SPIKES_PER_SAMPLE = "spikes_per_sample"
LAYER_FIRING_RATES = "layer_firing_rates"
LAYER_INPUT_RATES = "layer_input_rates"
SAMPLES = "samples"
MEMBRANE_MISMATCH = "membrane_mismatch"
MEMBRANE_MISMATCH_MEAN = "membrane_mismatch_mean"

# The splits.
VAL_ACCURACY = "val_accuracy"
"""The validation split's accuracy: what trials are chosen by."""
TEST_ACCURACY = "test_accuracy"
"""The test split's accuracy: what results report."""
TEST = "test"
"""With a validation split, all of the test split's evaluation."""

# How the student was trained.
KEPT_CHANNELS = "kept_channels"
"""A pruned model's kept output channels per pruned layer."""
TEACHER_OUTPUTS = "teacher_outputs"
"""Where a distilled model's steps took the teacher's outputs from (cached, per_batch or none)."""
CROSSBAR_LAYERS = "crossbar_layers"
"""With the crossbar in the loop: the layers computed as mapped."""

# The crossbar cost (:class:`mdsnn_search.hardware.CostReport`'s totals).
ENERGY_PJ = "energy_pj"
LATENCY_NS = "latency_ns"
AREA_UM2 = "area_um2"
EDP = "edp"
EDAP = "edap"
OPS = "ops"
SYNOPS = "synops"
TOPS_PER_W = "tops_per_w"
TOPS_PER_MM2 = "tops_per_mm2"
COST_METRICS: tuple[str, ...] = (
    ENERGY_PJ,
    LATENCY_NS,
    AREA_UM2,
    EDP,
    EDAP,
    OPS,
    SYNOPS,
    TOPS_PER_W,
    TOPS_PER_MM2,
)
"""The cost totals a trial stores."""


class TrialMetrics(BaseModel):
    """A trial's metrics, typed: each field is one of the keys above (a test holds them equal).

    Trials may report more (a stand-in trial in a test, a strategy's own figures): extra keys are
    kept as given. Non-finite values are kept too; the driver refuses them as objectives.
    """

    model_config = ConfigDict(frozen=True, extra="allow", ser_json_inf_nan="constants")

    accuracy: float | None = None
    loss: float | None = None
    spikes_per_sample: float | None = None
    layer_firing_rates: dict[str, Any] | None = None
    layer_input_rates: dict[str, Any] | None = None
    samples: int | None = None
    membrane_mismatch: dict[str, Any] | None = None
    membrane_mismatch_mean: float | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    test: dict[str, Any] | None = None
    kept_channels: dict[str, Any] | None = None
    teacher_outputs: str | None = None
    crossbar_layers: list[str] | None = None
    energy_pj: float | None = None
    latency_ns: float | None = None
    area_um2: float | None = None
    edp: float | None = None
    edap: float | None = None
    ops: float | None = None
    synops: float | None = None
    tops_per_w: float | None = None
    tops_per_mm2: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The metrics a trial reported, as the study stores them (unset keys left out)."""
        return self.model_dump(exclude_unset=True)
