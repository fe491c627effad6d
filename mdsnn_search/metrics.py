"""The keys of a trial's metrics, defined once (torch-free, so every reader can import them).

A trial's metrics are one JSON document: the student's evaluation on the split it is chosen by
(:func:`mdsnn_search.distill.evaluate_student`), both splits' accuracy and the test split's whole
evaluation (:func:`mdsnn_search.job.evaluate_splits`), and its crossbar cost
(:func:`mdsnn_search.search.trial.cost_metrics`). Objectives name these keys
(:data:`mdsnn_search.spec.objectives.OBJECTIVES`); tables, plots and export read them.
"""

from __future__ import annotations

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
