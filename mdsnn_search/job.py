"""One training job: a :class:`TrainSpec` in, a trained network and its metrics out.

``mdsnn-search train`` runs one job from a YAML file; every search trial runs one job with the
student config its sampler chose; ``export`` writes a trial back out as a TrainSpec. The three can
therefore never disagree on what a configuration means.

Data is loaded at ``data.timesteps`` (the teacher's T); a model with fewer ``timesteps`` maps the
frames onto its own (:mod:`mdsnn_search.snn.timesteps`). A model with channel pruning is pruned
once, after it is converted from the teacher and before training (:mod:`mdsnn_search.snn.pruning`);
a student handed in already initialised keeps the masks it comes with.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch.utils.data import Dataset

from mdsnn_search.checkpoint import load_checkpoint, save_checkpoint
from mdsnn_search.data import DataConfig, DatasetBundle, load_dataset, make_loader
from mdsnn_search.distill import (
    DistillConfig,
    TeacherOutputCache,
    evaluate_student,
    make_distill_step,
)
from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware import DEFAULT_PRESET, estimate_cost, load_preset
from mdsnn_search.hardware.preset import with_adc_bits
from mdsnn_search.metrics import (
    COST_METRICS,
    CROSSBAR_LAYERS,
    KEPT_CHANNELS,
    TEACHER_OUTPUTS,
    TEST,
    TEST_ACCURACY,
    VAL_ACCURACY,
)
from mdsnn_search.outputs import PlainName
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn.bn_recalibration import recalibrate_bn_
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.in_the_loop import CrossbarLoopConfig, put_crossbar_in_loop_for
from mdsnn_search.snn.models import SpikingNetwork, build_model, layer_table, student_from_teacher
from mdsnn_search.snn.monitor import layer_activity
from mdsnn_search.snn.neuron import compile_neurons_
from mdsnn_search.snn.pruning import (
    kept_channel_activity,
    kept_counts,
    kept_fractions,
    prune_channels_,
)
from mdsnn_search.snn.timesteps import check_student_timesteps
from mdsnn_search.training_loop import (
    EpochLog,
    TrainConfig,
    deterministic_kernels,
    evaluate,
    fit,
    resolve_device,
    seed_everything,
)

EpochReport = Callable[[int, float], None]
"""``(epoch, accuracy)`` after each epoch: the learning curve :func:`run_job` reports."""


class CrossbarCost(BaseModel):
    """The crossbar a trained network is costed on (a study's ``hardware`` section)."""

    model_config = ConfigDict(extra="forbid")

    preset: str = Field(DEFAULT_PRESET, description="preset name under simulators/ or a file")
    use_measured_activity: bool = Field(
        True, description="cost with the network's measured spike rates (event mode)"
    )
    adc_bits: int | None = Field(
        None, ge=1, le=16, description="the ADC resolution costed; None: the preset's"
    )


class TrainSpec(BaseModel):
    """The document ``mdsnn-search train`` reads: data, model, training, optional teacher."""

    model_config = ConfigDict(extra="forbid")

    name: PlainName = Field("model", description="names the output checkpoint")
    data: DataConfig
    model: ModelConfig
    training: TrainConfig = TrainConfig()
    teacher: Path | None = Field(None, description="checkpoint of the full-precision teacher")
    distill: DistillConfig | None = Field(
        None, description="distillation from the teacher (needs teacher)"
    )
    output: Path | None = Field(
        None, description="where to save the checkpoint (default studies/runs/NAME.pt)"
    )
    hardware: CrossbarCost = Field(
        CrossbarCost(), description="the crossbar the trained network's EDAP is reported on"
    )
    crossbar: CrossbarLoopConfig | None = Field(
        None,
        description="train and evaluate with the crossbar in the loop (the ADC of each mapped "
        "layer); None: ideal arithmetic",
    )

    @model_validator(mode="after")
    def _distill_needs_teacher(self) -> TrainSpec:
        if self.distill is not None and self.teacher is None:
            raise ValueError("distill: needs a teacher checkpoint (set teacher)")
        return self

    @model_validator(mode="after")
    def _student_timesteps_fit_data(self) -> TrainSpec:
        if self.model.timesteps is not None:
            try:
                check_student_timesteps(
                    self.model.timesteps, self.data.timesteps, self.model.frame_merge
                )
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self

    def output_path(self) -> Path:
        return (
            self.output if self.output is not None else Path("studies") / "runs" / f"{self.name}.pt"
        )


@dataclass
class JobResult:
    model: SpikingNetwork
    metrics: dict[str, Any]
    checkpoint: Path | None


def load_teacher(
    path: Path, model: ModelConfig, data: DataConfig, bundle: DatasetBundle
) -> SpikingNetwork:
    """Load a teacher checkpoint and check it fits the student's network and the dataset."""
    teacher = load_checkpoint(path).model
    check_teacher_fits(teacher, path, model, data, bundle)
    return teacher


def check_teacher_fits(
    teacher: SpikingNetwork, path: Path, model: ModelConfig, data: DataConfig, bundle: DatasetBundle
) -> None:
    """ConfigError unless ``teacher`` is ``model``'s network for ``data``'s input and classes.

    The student is converted from a copy of the teacher and distils its layers by name, so both
    must be the same full-precision network; a teacher of another network would fail every trial.
    """
    built = teacher.config
    if built.network() != model.network():
        raise ConfigError(
            f"teacher {path}: is {built.label} at width {built.width:g}, "
            f"but the model is {model.label} at width {model.width:g}; "
            "a teacher must be the student's architecture, width and neurons"
        )
    if teacher.input_shape != bundle.input_shape or teacher.num_classes != bundle.num_classes:
        raise ConfigError(
            f"teacher {path}: built for input {teacher.input_shape} and {teacher.num_classes} "
            f"classes, but {data.name} gives {bundle.input_shape} and {bundle.num_classes}"
        )


def run_job(
    spec: TrainSpec,
    *,
    teacher: SpikingNetwork | None = None,
    bundle: DatasetBundle | None = None,
    teacher_outputs: TeacherOutputCache | None = None,
    progress: bool = True,
    save: bool = True,
    student: SpikingNetwork | None = None,
    on_epoch: EpochReport | None = None,
) -> JobResult:
    """Train ``spec.model`` on ``spec.data``; distil from the teacher when the spec says so.

    With ``on_epoch``, the model is evaluated after every epoch on the split results are chosen
    by (validation when the bundle has one, else test) and ``on_epoch(epoch, accuracy)`` is
    called: a search trial's learning curve.

    ``teacher`` and ``bundle`` may be passed in by a caller that already holds them (a search
    runs many jobs against one cached teacher and dataset), and so may ``teacher_outputs``, the
    teacher's outputs on ``bundle.train`` (a study computes them once); the step reads them
    instead of running the teacher when they hold what it distils. ``student``, a network of
    ``spec.model`` already initialised elsewhere (a oneshot study's supernet at the student's
    precision), is trained in place of one converted from the teacher, with the channel masks it
    has (it is not pruned again). The metrics are those of
    the split a caller chooses by: the test split's, or, for a bundle with a validation split (a
    search's), the validation split's, with the test split's under :data:`TEST`
    (docs/design/methods.md section 7). Seeded and on deterministic kernels, a job repeats bit for
    bit on one machine.
    """
    with deterministic_kernels():
        return _train(spec, teacher, bundle, teacher_outputs, progress, save, student, on_epoch)


def _train(
    spec: TrainSpec,
    teacher: SpikingNetwork | None,
    bundle: DatasetBundle | None,
    teacher_outputs: TeacherOutputCache | None,
    progress: bool,
    save: bool,
    student: SpikingNetwork | None,
    on_epoch: EpochReport | None = None,
) -> JobResult:
    resolve_device(spec.training.device)  # a missing CUDA device is an error before any work
    seed_everything(spec.training.seed)
    bundle = bundle or load_dataset(spec.data)
    if teacher is None and spec.teacher is not None:
        teacher = load_teacher(spec.teacher, spec.model, spec.data, bundle)
    copied = student is not None
    if student is not None:
        model = student
    elif teacher is not None and spec.distill is not None and spec.distill.init_from_teacher:
        model = student_from_teacher(teacher, spec.model)
        copied = True
    else:
        model = build_model(spec.model, bundle.input_shape, bundle.num_classes)
    step_loss = None
    if teacher is not None and spec.distill is not None:
        step_loss = make_distill_step(
            teacher,
            spec.distill,
            per_timestep_ce=spec.training.per_timestep_ce,
            cache=teacher_outputs,
        )
        if spec.training.compile and step_loss.inference is not None:
            compile_neurons_(step_loss.inference)
    cache = step_loss.cache if step_loss is not None else None
    if cache is not None:
        cache.require_samples(len(bundle.train))  # type: ignore[arg-type]
    kept = None
    if spec.model.pruning.active:
        # A given student's masks were chosen where it was initialised (a supernet's channel
        # order): scoring its channels again would train another network than the one handed in.
        kept = kept_counts(model) if student is not None else prune(model, bundle, spec)
    mapped = None
    if spec.crossbar is not None:
        mapped = put_crossbar_in_loop_for(model, layer_table(model), spec.crossbar)
    if spec.training.precise_bn and (copied or kept is not None):
        # The copied or pruned student's BN statistics are the teacher's or the unpruned
        # network's: re-estimate them on what this student computes before it trains
        # (docs/ptq.md: W2/U2 students copied from a digits teacher, 89 % -> 97 %).
        recalibration = make_loader(
            bundle.train, spec.training.batch_size, shuffle=True, seed=spec.training.seed
        )
        recalibrate_bn_(model, recalibration, max_batches=spec.training.precise_bn_batches)
    train_loader = make_loader(
        bundle.train,
        spec.training.batch_size,
        shuffle=True,
        seed=spec.training.seed,
        with_index=cache is not None,
    )
    eval_loader = None
    eval_split = "validation" if bundle.validation is not None else "test"
    if on_epoch is not None:
        chosen_by = bundle.validation if bundle.validation is not None else bundle.test
        eval_loader = make_loader(chosen_by, max(spec.training.batch_size, 256), shuffle=False)
    history = fit(
        model,
        train_loader,
        spec.training,
        step_loss=step_loss,
        progress=progress,
        description=spec.name,
        eval_loader=eval_loader,
        on_epoch=None if on_epoch is None else _epoch_accuracy(on_epoch),
        eval_split=eval_split,
    )
    metrics = evaluate_splits(model, teacher, bundle, max(spec.training.batch_size, 256))
    metrics["train_loss"] = history.history[-1].train_loss
    if step_loss is not None:
        metrics[TEACHER_OUTPUTS] = step_loss.teacher_path
    if kept is not None:
        metrics[KEPT_CHANNELS] = kept
    if mapped is not None:
        metrics[CROSSBAR_LAYERS] = mapped
    checkpoint = None
    if save:
        checkpoint = save_checkpoint(
            spec.output_path(), model, {"spec": spec.model_dump(mode="json"), "metrics": metrics}
        )
    return JobResult(model=model, metrics=metrics, checkpoint=checkpoint)


def network_cost(
    model: SpikingNetwork,
    precision: PrecisionConfig,
    hardware: CrossbarCost,
    data_timesteps: int,
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """Crossbar cost totals (:data:`~mdsnn_search.metrics.COST_METRICS`) of ``model`` at
    ``precision``, with its activity as measured in ``metrics`` (the split it was chosen by; a
    search's validation split).

    Membrane bits are each layer's stored word (``u_bits``, derived for integer membranes), the
    kept channels those of the model's masks, the timesteps those the network runs (T_s).
    """
    table = layer_table(model)
    keep_fraction = kept_fractions(model)
    activity = None
    if hardware.use_measured_activity:
        measured = layer_activity(metrics["layer_input_rates"], metrics["layer_firing_rates"])
        activity = kept_channel_activity(table, measured, keep_fraction)
    preset = load_preset(hardware.preset)
    if hardware.adc_bits is not None:
        preset = with_adc_bits(preset, hardware.adc_bits)
    report = estimate_cost(
        table,
        preset,
        timesteps=model.run_timesteps(data_timesteps),
        precision=precision.resolve([row.name for row in table]),
        keep_fraction=keep_fraction,
        activity=activity,
    )
    totals = report.to_dict()
    return {key: totals[key] for key in COST_METRICS}


def _epoch_accuracy(report: EpochReport) -> Callable[[EpochLog], None]:
    def on_epoch(log: EpochLog) -> None:
        if log.eval_accuracy is not None:
            report(log.epoch, log.eval_accuracy)

    return on_epoch


def evaluate_splits(
    model: SpikingNetwork,
    teacher: SpikingNetwork | None,
    bundle: DatasetBundle,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Accuracy and activity (and the membrane mismatch, with a teacher) on the split results
    are chosen by, as :func:`run_job` reports them: the validation split when the bundle has one,
    the test split otherwise; :data:`TEST_ACCURACY` always."""

    def measure(split: Dataset[Any]) -> dict[str, Any]:
        loader = make_loader(split, batch_size, shuffle=False)
        return (
            evaluate_student(model, teacher, loader)
            if teacher is not None
            else evaluate(model, loader).to_dict()
        )

    test = measure(bundle.test)
    if bundle.validation is None:
        return {**test, TEST_ACCURACY: test["accuracy"]}
    validation = measure(bundle.validation)
    return {
        **validation,
        VAL_ACCURACY: validation["accuracy"],
        TEST_ACCURACY: test["accuracy"],
        TEST: test,
    }


def prune(model: SpikingNetwork, bundle: DatasetBundle, spec: TrainSpec) -> dict[str, int]:
    """Mask ``model``'s weakest channels, scored on the first ``pruning.score_batches`` training
    batches."""
    device = resolve_device(spec.training.device)
    model.to(device)
    loader = make_loader(
        bundle.train, spec.training.batch_size, shuffle=True, seed=spec.training.seed
    )
    limit = spec.model.pruning.score_batches
    batches = (x.to(device) for x, _ in itertools.islice(loader, limit))
    return prune_channels_(model, batches)
