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
import tempfile
from pathlib import Path
from typing import Any

import torch

from mdsnn_search.checkpoint import load_checkpoint, save_checkpoint
from mdsnn_search.checksums import checksum_path, verify
from mdsnn_search.data import DataConfig, DatasetBundle, load_search_dataset
from mdsnn_search.distill import TeacherOutputCache
from mdsnn_search.execution.protocol import (
    TrialContext,
    TrialOutcome,
    TrialRequest,
    report_epoch,
)
from mdsnn_search.job import CrossbarCost, TrainSpec, evaluate_splits, network_cost, run_job
from mdsnn_search.search.strategy import get_strategy
from mdsnn_search.snn.models import SpikingNetwork
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.spec.space import StudentConfig, is_full_precision_student
from mdsnn_search.study.students import StudentsTarget, student_file


def run_trial(context: TrialContext, request: TrialRequest) -> TrialOutcome:
    """Train and cost one student; never raises for a failing configuration."""
    try:
        spec = context.spec
        torch.set_num_threads(max(1, int(spec.execution.cpus_per_trial)))
        model, metrics = _train_and_cost(spec, context, request)
        if context.students is None:
            return TrialOutcome.ok(metrics)
        return _keep_student(context.students, model, spec, request, metrics)
    # A trial's failure is a result: recorded FAIL (the driver logs it), and the study goes on.
    except Exception as exc:
        return TrialOutcome.from_exception(exc)


def _keep_student(
    target: StudentsTarget,
    model: SpikingNetwork,
    spec: StudySpec,
    request: TrialRequest,
    metrics: dict[str, Any],
) -> TrialOutcome:
    """The outcome with the trained student kept: written into the driver's students folder when
    this node sees it, else carried back as bytes for the driver to write."""
    metadata = {
        "study": spec.study.name,
        "trial": request.number,
        "student": request.student.model_dump(mode="json"),
        "data": spec.data.model_dump(mode="json"),
        "metrics": metrics,
    }
    if target.reachable():
        path = save_checkpoint(student_file(target.folder, request.number), model, metadata)
        return TrialOutcome.ok(metrics, student_checkpoint=str(path))
    with tempfile.TemporaryDirectory() as tmp:
        local = save_checkpoint(Path(tmp) / "student.pt", model, metadata)
        return TrialOutcome.ok(metrics, student_bytes=local.read_bytes())


def _train_and_cost(
    spec: StudySpec, context: TrialContext, request: TrialRequest
) -> tuple[SpikingNetwork, dict[str, Any]]:
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
        if context.strategy_state is not None and request.baseline is None:
            initial = get_strategy(spec.study.strategy).initial_student(
                context.strategy_state, spec, context.teacher_checkpoint, student
            )
        result = run_job(
            job,
            teacher=teacher,
            bundle=bundle,
            teacher_outputs=cache,
            progress=False,
            save=False,
            student=initial,
            on_epoch=report_epoch,
        )
        model, metrics = result.model, result.metrics
    metrics.update(cost_metrics(spec, model, student, metrics))
    plain: dict[str, Any] = json.loads(json.dumps(metrics))  # plain JSON types for the storage
    return model, plain


def cost_metrics(
    spec: StudySpec, model: SpikingNetwork, student: StudentConfig, metrics: dict[str, Any]
) -> dict[str, Any]:
    """Crossbar cost of ``model`` at the student's precision, with its activity measured on the
    validation split (the test split is only reported), at the student's ADC resolution when
    it searches one: :func:`~mdsnn_search.job.network_cost`."""
    hardware = CrossbarCost(
        preset=spec.hardware.preset,
        use_measured_activity=spec.hardware.use_measured_activity,
        adc_bits=student.adc_bits,
    )
    return network_cost(model, student.precision, hardware, spec.data.timesteps, metrics)


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
    """A cached teacher is checked against its checksum (a given one has none)."""
    if checksum_path(Path(path)).exists():
        verify(Path(path), "teacher checkpoint")
    teacher = load_checkpoint(path).model
    teacher.eval()
    return teacher
