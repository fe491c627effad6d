"""One trial: train the sampled student against the study's teacher, then cost it on the crossbar.

Runs wherever the executor puts it (a Ray worker, or this process). Everything it needs arrives
as plain data (:class:`~mdsnn_search.execution.protocol.TrialContext` and the
:class:`~mdsnn_search.execution.protocol.TrialRequest`), so it pickles; it never touches the study
storage. It returns a :class:`~mdsnn_search.execution.protocol.TrialOutcome`; a failure is an
outcome too, with its reason.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import torch

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.data import DataConfig, DatasetBundle, load_search_dataset
from mdsnn_search.distill import TeacherOutputCache
from mdsnn_search.execution.protocol import TrialContext, TrialOutcome, TrialRequest
from mdsnn_search.hardware import estimate_cost, load_preset
from mdsnn_search.hardware.preset import with_adc_bits
from mdsnn_search.job import TrainSpec, evaluate_splits, run_job
from mdsnn_search.snn.models import SpikingNetwork, layer_table
from mdsnn_search.snn.monitor import layer_activity
from mdsnn_search.snn.pruning import kept_channel_activity, kept_fractions
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.spec.space import StudentConfig, is_full_precision_student
from mdsnn_search.strategies.oneshot.supernet import Supernet
from mdsnn_search.strategies.oneshot.supernet_training import load_supernet


def run_trial(context: TrialContext, request: TrialRequest) -> TrialOutcome:
    """Train and cost one student; never raises for a failing configuration."""
    try:
        spec = StudySpec.model_validate(context.spec)
        torch.set_num_threads(max(1, int(spec.execution.cpus_per_trial)))
        return TrialOutcome.ok(_train_and_cost(spec, context, request))
    # A trial's failure is a result: recorded FAIL (the driver logs it), and the study goes on.
    except Exception as exc:
        return TrialOutcome.from_exception(exc)


def _train_and_cost(
    spec: StudySpec, context: TrialContext, request: TrialRequest
) -> dict[str, Any]:
    student, number = request.student, request.number
    bundle = _dataset(spec.data.model_dump_json())
    teacher = _teacher(context.teacher_checkpoint)
    layer_names = list(teacher.weight_layers())
    if is_full_precision_student(student, layer_names):
        # Nothing to quantize: the student is the teacher itself (a copy, as students are).
        model: SpikingNetwork = copy.deepcopy(teacher)
        metrics = evaluate_splits(model, teacher, bundle)
    else:
        job = TrainSpec(
            name=f"trial-{number}",
            data=spec.data,
            model=student.model_for(spec.model, spec.data),
            training=spec.training,
            distill=student.distill,
            teacher=Path(context.teacher_checkpoint),
            crossbar=student.crossbar_for(spec.hardware),
        )
        outputs = context.teacher_outputs
        # A node that cannot see the driver's file runs the teacher per batch (the trial records
        # which).
        cache = (
            _teacher_outputs(outputs) if outputs is not None and os.path.isfile(outputs) else None
        )
        initial = None
        if context.supernet is not None and request.baseline is None:
            initial = _supernet_student(context.supernet, spec, context.teacher_checkpoint, student)
        result = run_job(
            job,
            teacher=teacher,
            bundle=bundle,
            teacher_outputs=cache,
            progress=False,
            save=False,
            student=initial,
        )
        model, metrics = result.model, result.metrics
    metrics.update(cost_metrics(spec, model, student, metrics))
    plain: dict[str, Any] = json.loads(json.dumps(metrics))  # plain JSON types for the storage
    return plain


def cost_metrics(
    spec: StudySpec, model: SpikingNetwork, student: StudentConfig, metrics: dict[str, Any]
) -> dict[str, Any]:
    """Crossbar cost of ``model`` at the student's precision, with its activity measured on the
    validation split (the test split is only reported).

    Membrane bits are each layer's stored word (``u_bits``, derived for integer membranes), the
    kept channels those of the model's masks, the timesteps those the student runs (T_s).
    """
    table = layer_table(model)
    keep_fraction = kept_fractions(model)
    activity = None
    if spec.hardware.use_measured_activity:
        measured = layer_activity(metrics["layer_input_rates"], metrics["layer_firing_rates"])
        activity = kept_channel_activity(table, measured, keep_fraction)
    preset = load_preset(spec.hardware.preset)
    if student.adc_bits is not None:
        preset = with_adc_bits(preset, student.adc_bits)
    report = estimate_cost(
        table,
        preset,
        timesteps=model.run_timesteps(spec.data.timesteps),
        precision=student.precision.resolve([row.name for row in table]),
        keep_fraction=keep_fraction,
        activity=activity,
    )
    totals = report.to_dict()
    keys = (
        "energy_pj",
        "latency_ns",
        "area_um2",
        "edp",
        "edap",
        "ops",
        "synops",
        "tops_per_w",
        "tops_per_mm2",
    )
    return {key: totals[key] for key in keys}


def _supernet_student(
    path: str, spec: StudySpec, teacher_checkpoint: str, student: StudentConfig
) -> SpikingNetwork:
    """The supernet at the student's precision, as a standalone network to fine-tune."""
    supernet = _supernet(path, spec.model_dump_json(), teacher_checkpoint)
    network = supernet.student(student.precision.resolve(list(supernet.network.weight_layers())))
    network.config = student.model_for(spec.model, spec.data)
    return network


@functools.lru_cache(maxsize=1)
def _supernet(path: str, spec_json: str, teacher_checkpoint: str) -> Supernet:
    """Loaded once per worker process."""
    spec = StudySpec.model_validate_json(spec_json)
    return load_supernet(path, spec, _teacher(teacher_checkpoint))[0]


@functools.lru_cache(maxsize=2)
def _dataset(data_json: str) -> DatasetBundle:
    """Loaded once per worker process (Ray may run several trials in one), with the validation
    split every trial is chosen by (the rest trains)."""
    return load_search_dataset(DataConfig.model_validate_json(data_json))


@functools.lru_cache(maxsize=2)
def _teacher_outputs(path: str) -> TeacherOutputCache:
    """Memory-mapped once per worker process; the machine's trials share its pages."""
    return TeacherOutputCache.load(path)


@functools.lru_cache(maxsize=2)
def _teacher(path: str) -> SpikingNetwork:
    teacher = load_checkpoint(path).model
    teacher.eval()
    return teacher
