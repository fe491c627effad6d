"""The study's full-precision reference and the cost range of its space, measured once.

The FP32 teacher is no trial: its accuracy (validation and test) and its crossbar cost at full
precision are measured when the study starts and stored on the study
(:data:`~mdsnn_search.spec.objectives.STUDY_REFERENCE`), with the cost of the cheapest
configuration the space holds. That cheapest cost bounds the front measure's cost axis
(:mod:`mdsnn_search.results.front`); it is the cost model's alone, with the teacher's spike
rates (the cheapest student's own rates are only known after training it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.data import DatasetBundle
from mdsnn_search.distill import DistillConfig
from mdsnn_search.hardware import estimate_cost, load_preset
from mdsnn_search.hardware.layers import LayerActivity, LayerSpec
from mdsnn_search.job import evaluate_splits
from mdsnn_search.metrics import TEST_ACCURACY
from mdsnn_search.precision import (
    FULL_PRECISION_BITS,
    LayerPrecisionOverride,
    PrecisionConfig,
    integer_membrane_bits,
)
from mdsnn_search.snn.models import layer_table
from mdsnn_search.snn.monitor import layer_activity
from mdsnn_search.snn.pruning import PruningConfig, kept_count
from mdsnn_search.spec.objectives import STUDY_REFERENCE
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.spec.space import (
    BASELINE_BN_BITS,
    LayerRoles,
    StudentConfig,
    UniformBaseline,
    baseline_queue,
    parse_baseline,
    pinned_fields,
    search_distributions,
    suggest_student,
)

COST_KEYS = ("energy_pj", "latency_ns", "area_um2", "edp", "edap")


def student_of(params: Mapping[str, Any], spec: StudySpec, roles: LayerRoles) -> StudentConfig:
    """The student a trial with ``params`` trains (the space's own decoding)."""
    return suggest_student(optuna.trial.FixedTrial(dict(params)), spec.search_space, roles)


def cheapest_params(spec: StudySpec, roles: LayerRoles) -> dict[str, Any]:
    """The space's cheapest point: fewest bits, fewest kept channels, fewest timesteps in every
    layer (the cost model's cost rises with each); loss weights at their lowest."""
    return {
        name: _cheapest(distribution)
        for name, distribution in search_distributions(spec.search_space, roles).items()
    }


def _cheapest(distribution: BaseDistribution) -> Any:
    if isinstance(distribution, FloatDistribution):
        return distribution.low
    assert isinstance(distribution, CategoricalDistribution)
    return min(distribution.choices, key=_choice_cost)


def _choice_cost(choice: Any) -> float:
    if isinstance(choice, str) and choice.startswith("int"):  # integer membrane levels
        return integer_membrane_bits(int(choice.removeprefix("int")))
    if isinstance(choice, str):  # uniform membrane bits, "u4"
        return float(choice.removeprefix("u"))
    return float(choice)


def student_cost(
    spec: StudySpec,
    table: list[LayerSpec],
    student: StudentConfig,
    activity: Mapping[str, LayerActivity] | None,
) -> dict[str, float]:
    """Cost totals of ``student`` on the study's preset: the cost model only, no network."""
    names = [row.name for row in table]
    keep = {
        row.name: kept_count(ratio, row.c_out) / row.c_out
        for row in table
        if (ratio := _keep_ratio(student, row.name)) < 1.0
    }
    report = estimate_cost(
        table,
        load_preset(spec.hardware.preset),
        timesteps=student.timesteps or spec.data.timesteps,
        precision=student.precision.resolve(names),
        keep_fraction=keep,
        activity=activity,
    )
    totals = report.to_dict()
    return {key: float(totals[key]) for key in COST_KEYS}


def _keep_ratio(student: StudentConfig, layer: str) -> float:
    return float(student.pruning.layers.get(layer, student.pruning.keep_ratio))


def measure_reference(
    spec: StudySpec, roles: LayerRoles, bundle: DatasetBundle, teacher_checkpoint: str
) -> dict[str, Any]:
    """The teacher's accuracy and FP32 cost, and the space's cheapest cost, with the teacher's
    spike rates on the validation split."""
    teacher = load_checkpoint(teacher_checkpoint).model
    teacher.eval()
    metrics = evaluate_splits(teacher, None, bundle)
    table = layer_table(teacher)
    activity = None
    if spec.hardware.use_measured_activity:
        activity = layer_activity(metrics["layer_input_rates"], metrics["layer_firing_rates"])
    fp32 = StudentConfig(
        precision=PrecisionConfig.uniform(
            FULL_PRECISION_BITS, FULL_PRECISION_BITS, FULL_PRECISION_BITS
        ),
        distill=DistillConfig(),
    )
    cheapest = student_of(cheapest_params(spec, roles), spec, roles)
    return {
        "accuracy": float(metrics["accuracy"]),
        TEST_ACCURACY: float(metrics[TEST_ACCURACY]),
        "fp32": student_cost(spec, table, fp32, activity),
        "cheapest": student_cost(spec, table, cheapest, activity),
    }


def ensure_reference(
    study: optuna.Study,
    spec: StudySpec,
    roles: LayerRoles,
    bundle: DatasetBundle,
    teacher_checkpoint: str,
) -> None:
    """Measure and store the reference unless the study holds one."""
    if STUDY_REFERENCE not in study.user_attrs:
        study.set_user_attr(
            STUDY_REFERENCE, measure_reference(spec, roles, bundle, teacher_checkpoint)
        )


def uniform_student(baseline: UniformBaseline, spec: StudySpec, roles: LayerRoles) -> StudentConfig:
    """The baseline's configuration as a student whether or not the space holds it (for its
    cost): its bits on the knobs each layer has (as :func:`suggest_student` sets them),
    ``fixed_layers`` pinned, its keep ratio and timesteps."""
    bits = {"w_bits": baseline.w_bits, "u_bits": baseline.u_bits, "bn_bits": BASELINE_BN_BITS}
    layers = {
        name: LayerPrecisionOverride(
            **{
                **{knob: bits[knob] for knob in roles.knobs(name)},
                **pinned_fields(name, spec.search_space),
            }
        )
        for name in roles.layers
    }
    return StudentConfig(
        precision=PrecisionConfig(layers=layers),
        distill=DistillConfig(),
        pruning=PruningConfig(
            layers={n: baseline.keep_ratio for n in roles.spiking if baseline.keep_ratio < 1.0}
        ),
        timesteps=baseline.timesteps,
    )


def cost_warnings(spec: StudySpec, table: list[LayerSpec], roles: LayerRoles) -> list[str]:
    """What ``validate`` warns about (cost model, default activity): baselines the space cannot
    express, and a space whose cheapest point costs more than a listed baseline (the search
    cannot reach below it)."""
    _, notes = baseline_queue(
        spec.search_space, roles, list(spec.study.baselines), spec.data.timesteps
    )
    cheapest = student_cost(
        spec, table, student_of(cheapest_params(spec, roles), spec, roles), None
    )["edap"]
    for name in spec.study.baselines:
        baseline = parse_baseline(name)
        if baseline is None:
            continue
        edap = student_cost(spec, table, uniform_student(baseline, spec, roles), None)["edap"]
        if cheapest > edap * (1 + 1e-9):
            notes.append(
                f"search_space: its cheapest point (EDAP {cheapest:.3g}) costs more than baseline "
                f"{name} ({edap:.3g}): the search cannot reach below that baseline"
            )
    return notes
