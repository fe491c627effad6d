"""The Python API: what the ``mdsnn-search`` commands do, as plain functions for a notebook.

Each function runs the same code as its command (docs/python-api.md walks through a session) and
raises the same typed errors (:mod:`mdsnn_search.errors`) with the one-line messages the command
prints. What comes back is the standard object where one exists: :func:`run` and
:func:`open_study` return the ``optuna.Study``, so ``study.best_trials``,
``study.trials_dataframe()`` and ``optuna.visualization.plot_pareto_front(study,
target_names=...)`` work on it as on any Optuna study.

Heavy dependencies (torch, ray, optuna) are imported inside the functions: ``import
mdsnn_search`` stays light.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdsnn_search.errors import ConfigError, MdsnnError

if TYPE_CHECKING:
    import optuna

    from mdsnn_search.cli.export import Exported
    from mdsnn_search.hardware.report import CostReport
    from mdsnn_search.job import JobResult, TrainSpec
    from mdsnn_search.results.storage import StoredStudy
    from mdsnn_search.snn.config import ModelConfig
    from mdsnn_search.spec.schema import StudySpec


@contextmanager
def _user_errors() -> Iterator[None]:
    """Storage failures become the same StudyError the command prints (password redacted)."""
    from mdsnn_search.study.storage_errors import storage_errors_as_user_errors
    from mdsnn_search.study.storage_url import redact

    try:
        with storage_errors_as_user_errors():
            yield
    except MdsnnError as exc:
        message = redact(str(exc))
        if message == str(exc):
            raise
        raise type(exc)(message) from None


def load_spec(spec: str | Path | Mapping[str, Any] | StudySpec) -> StudySpec:
    """A validated study spec from a YAML/JSON file, a mapping (as the YAML would hold) or a spec
    already validated; ConfigError names the file and every bad field, as ``validate`` does."""
    from mdsnn_search.files import validate_mapping
    from mdsnn_search.spec import schema

    if isinstance(spec, schema.StudySpec):
        return spec
    if isinstance(spec, Mapping):
        return validate_mapping(schema.StudySpec, dict(spec), "spec")
    return schema.load_spec(spec)


def run(
    spec: str | Path | Mapping[str, Any] | StudySpec,
    *,
    n_trials: int | None = None,
    storage: str | None = None,
    accept_spec_change: bool = False,
    progress: bool = False,
) -> optuna.Study:
    """Run the study until it holds its ``n_trials`` finished trials (``mdsnn-search run``);
    rerunning resumes it. Returns the study as Optuna holds it."""
    from mdsnn_search.search.run import run_study

    validated = load_spec(spec)
    if n_trials is not None and n_trials < 1:
        raise ConfigError(f"n_trials must be >= 1, but got {n_trials}")
    source = spec if isinstance(spec, str | Path) else "spec"
    with _user_errors():
        summary = run_study(
            validated,
            source=source,
            storage_url=storage,
            n_trials=n_trials,
            accept_spec_change=accept_spec_change,
            progress=progress,
        )
    return summary.study


def open_study(
    spec: str | Path | Mapping[str, Any] | StudySpec | None = None,
    *,
    storage: str | None = None,
    name: str | None = None,
) -> optuna.Study:
    """A stored study, read-only (``status``/``pareto``'s view): by its spec, or by storage URL
    and name (the name may be left out when the storage holds one study)."""
    return _stored(spec, storage, name).study


def _stored(
    spec: str | Path | Mapping[str, Any] | StudySpec | None, storage: str | None, name: str | None
) -> StoredStudy:
    from mdsnn_search.results import open_stored_study

    with _user_errors():
        if spec is None:
            return open_stored_study(storage=storage, study_name=name)
        validated = load_spec(spec)
        return open_stored_study(
            storage=storage or validated.study.storage_url(),
            study_name=name or validated.study.name,
        )


@dataclass(frozen=True)
class FrontTrial:
    """One trial of a study's front, or a baseline shown beside it."""

    number: int
    values: dict[str, float]
    """Objective values by objective name."""
    on_front: bool
    baseline: str | None
    """The uniform baseline it evaluates (``w4u4``, ``w1u2k50``, ...), None for a searched trial."""
    feasible: bool | None
    student: dict[str, Any] = field(repr=False)
    metrics: dict[str, Any] = field(repr=False)
    student_checkpoint: str | None = None
    """The trial's kept student (``export(..., nir=True)`` reads it), if kept."""


@dataclass(frozen=True)
class Front:
    """A study's front as ``pareto`` shows it (docs/design/methods.md section 8)."""

    trials: list[FrontTrial]
    """The front and the complete baselines beside it, by trial number."""
    reference: dict[str, Any]
    """The full-precision reference, measured once and stored on the study (no trial): the
    teacher's accuracy and the FP32 network's costs; empty for a study stored before it was."""
    hypervolume: float
    """In the region of interest, in [0, 1]."""
    gains: list[dict[str, Any]]
    """The iso-cost gain over each uniform baseline, on validation and on test."""


def front(study: optuna.Study | str | Path | Mapping[str, Any] | StudySpec) -> Front:
    """The study's Pareto front (constraints respected), the baselines beside it, the reference,
    the hypervolume and the iso-cost gains. Given a spec (or its path) the region's accuracy floor
    is the stored spec's, as ``pareto`` uses it; given an ``optuna.Study`` object, whose stored
    spec Optuna's public API does not reach, it is the default, ten points under the teacher."""
    import optuna
    from optuna.trial import TrialState

    from mdsnn_search.results import StoredStudy, TrialRecord, summarize_stored
    from mdsnn_search.spec.objectives import STUDY_REFERENCE
    from mdsnn_search.study.students import ATTR_STUDENT_CHECKPOINT

    if isinstance(study, optuna.Study):
        stored = StoredStudy(study=study, storage_url="")
    else:
        stored = _stored(study, None, None)
    with _user_errors():
        summary = summarize_stored(stored)
        on_front = {t.number for t in summary.front}
        trials = stored.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    shown = []
    for trial in trials:
        record = TrialRecord.from_trial(trial, stored.objectives)
        if trial.number not in on_front and record.baseline is None:
            continue
        kept = trial.user_attrs.get(ATTR_STUDENT_CHECKPOINT)
        shown.append(
            FrontTrial(
                number=trial.number,
                values=record.values,
                on_front=trial.number in on_front,
                baseline=record.baseline,
                feasible=record.feasible,
                student=record.student,
                metrics=record.metrics,
                student_checkpoint=kept if isinstance(kept, str) else None,
            )
        )
    reference = stored.study.user_attrs.get(STUDY_REFERENCE)
    return Front(
        trials=shown,
        reference=dict(reference) if isinstance(reference, dict) else {},
        hypervolume=summary.hypervolume,
        gains=[g.to_dict() for g in summary.gains],
    )


def export(
    spec: str | Path | Mapping[str, Any] | StudySpec,
    trials: Sequence[int] | None = None,
    *,
    out: str | Path | None = None,
    nir: bool = False,
    epochs: int | None = None,
    force: bool = False,
    storage: str | None = None,
) -> list[Path]:
    """Write trials (None: the whole front) as train configs, or with ``nir`` their trained
    students as NIR files (``mdsnn-search export``); returns the written files."""
    return [e.file for e in _exported(spec, trials, out, nir, epochs, force, storage)]


def _exported(
    spec: str | Path | Mapping[str, Any] | StudySpec,
    trials: Sequence[int] | None,
    out: str | Path | None,
    nir: bool,
    epochs: int | None,
    force: bool,
    storage: str | None,
) -> list[Exported]:
    """:func:`export`'s files with what the command prints of each."""
    from mdsnn_search.cli.export import export_trials

    stored = _stored(spec, storage, None)
    with _user_errors():
        return export_trials(
            stored,
            None if trials is None else list(trials),
            out=None if out is None else Path(out),
            epochs=epochs,
            force=force,
            nir=nir,
        )


def train(
    config: str | Path | Mapping[str, Any] | TrainSpec,
    *,
    output: str | Path | None = None,
    epochs: int | None = None,
    force: bool = False,
    progress: bool = False,
) -> JobResult:
    """Train one model from a train config, e.g. an exported trial (``mdsnn-search train``):
    the trained network, its metrics and the checkpoint written."""
    from mdsnn_search.cli.retrain import check_before_training, with_overrides
    from mdsnn_search.files import load_config, validate_mapping
    from mdsnn_search.job import TrainSpec, run_job

    path: Path | None = None
    if isinstance(config, TrainSpec):
        spec = config
    elif isinstance(config, Mapping):
        spec = validate_mapping(TrainSpec, dict(config), "train config")
    else:
        path = Path(config)
        spec = load_config(TrainSpec, path)
    spec = with_overrides(spec, None if output is None else Path(output), epochs)
    check_before_training(spec, path, output_given=output is not None, force=force)
    return run_job(spec, progress=progress)


def cost(
    model: ModelConfig | Mapping[str, Any],
    *,
    input_shape: tuple[int, int, int],
    num_classes: int,
    timesteps: int,
    hardware: str = "rram_64",
) -> CostReport:
    """The crossbar cost of a model config (architecture, precision, pruning) on a hardware
    preset, as ``mdsnn-search cost`` computes it: pruned layers at their kept channel counts,
    activity at the preset's default rates."""
    from mdsnn_search.files import validate_mapping
    from mdsnn_search.hardware import estimate_cost, load_preset
    from mdsnn_search.snn.config import ModelConfig
    from mdsnn_search.snn.models import model_layer_table
    from mdsnn_search.snn.pruning import kept_count

    config = (
        model
        if isinstance(model, ModelConfig)
        else validate_mapping(ModelConfig, dict(model), "model")
    )
    layers = model_layer_table(config, input_shape, num_classes)
    names = [layer.name for layer in layers]
    keep = None
    if config.pruning.active:
        keep = {
            layer.name: kept_count(config.pruning.for_layer(layer.name), layer.c_out) / layer.c_out
            for layer in layers
            if layer.spiking
        }
    return estimate_cost(
        layers,
        load_preset(hardware),
        timesteps=timesteps if config.timesteps is None else min(config.timesteps, timesteps),
        precision=config.precision.resolve(names),
        keep_fraction=keep,
    )
