"""Membrane-potential distillation, heterogeneous-temperature KD and the spike regulariser.

A quantized student learns its full-precision teacher's pre-spike membrane potentials (MD-SNN)
and, optionally, its softened logits, with separate teacher and student temperatures (Lee et al.,
arXiv 2106.07172). ``make_distill_step`` gives the ``step_loss`` for
:func:`mdsnn_search.training_loop.fit`; ``evaluate_student`` the metrics a study stores. The
teacher's side runs as inference (``inference_teacher``) or comes from a study's cache of its
outputs (``TeacherOutputCache``).
Equations and choices: docs/distillation.md.
"""

from mdsnn_search.distill.alignment import (
    StudentTimeAlignment,
    alignment_for,
    student_time_alignment,
)
from mdsnn_search.distill.cache import (
    CACHE_FORMAT,
    TeacherOutputCache,
    cache_nbytes,
    compute_teacher_outputs,
)
from mdsnn_search.distill.config import ALL_LAYERS, DistillConfig, MembraneNorm, TeacherBatchNorm
from mdsnn_search.distill.evaluate import (
    STUDENT_METRICS,
    MembraneComparison,
    evaluate_student,
    membrane_mismatch,
)
from mdsnn_search.distill.losses import (
    TimeAlignment,
    heterogeneous_kd,
    membrane_loss,
    membrane_scale,
    same_timesteps,
    spike_rate_loss,
)
from mdsnn_search.distill.pair import check_pair, freeze_teacher
from mdsnn_search.distill.step import DistillStep, TeacherPath, make_distill_step
from mdsnn_search.distill.teacher import TeacherOutputs, inference_teacher, run_teacher
from mdsnn_search.metrics import (
    ACCURACY,
    LAYER_FIRING_RATES,
    LAYER_INPUT_RATES,
    LOSS,
    MEMBRANE_MISMATCH,
    MEMBRANE_MISMATCH_MEAN,
    SAMPLES,
    SPIKES_PER_SAMPLE,
)

__all__ = [
    "ACCURACY",
    "CACHE_FORMAT",
    "ALL_LAYERS",
    "LAYER_FIRING_RATES",
    "LAYER_INPUT_RATES",
    "LOSS",
    "MEMBRANE_MISMATCH",
    "MEMBRANE_MISMATCH_MEAN",
    "SAMPLES",
    "SPIKES_PER_SAMPLE",
    "STUDENT_METRICS",
    "StudentTimeAlignment",
    "TeacherBatchNorm",
    "TeacherOutputCache",
    "TeacherOutputs",
    "TeacherPath",
    "DistillConfig",
    "DistillStep",
    "MembraneComparison",
    "MembraneNorm",
    "TimeAlignment",
    "alignment_for",
    "cache_nbytes",
    "check_pair",
    "compute_teacher_outputs",
    "evaluate_student",
    "freeze_teacher",
    "heterogeneous_kd",
    "inference_teacher",
    "make_distill_step",
    "membrane_loss",
    "membrane_mismatch",
    "membrane_scale",
    "run_teacher",
    "same_timesteps",
    "spike_rate_loss",
    "student_time_alignment",
]
