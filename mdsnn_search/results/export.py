"""A stored trial written back out as a :class:`~mdsnn_search.job.TrainSpec` YAML.

The exported file is self-contained (every setting written out, no reference to the study) and is
exactly what ``mdsnn-search train FILE`` reads: the data, model and training sections of the spec
the trial ran with (stored per trial, so a study resumed with an accepted spec change exports each
trial as it ran), the trial's precision and distillation, and its teacher checkpoint. ``epochs``
overrides the training budget for a full-length retraining; everything else reproduces the trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from optuna.trial import FrozenTrial, TrialState

from mdsnn_search.errors import StudyError
from mdsnn_search.results.records import STATE_NAMES
from mdsnn_search.results.storage import StoredStudy
from mdsnn_search.spec.objectives import ATTR_SPEC, ATTR_STUDENT, ATTR_TEACHER, STUDY_TEACHER
from mdsnn_search.study.documents import trial_document

if TYPE_CHECKING:
    from mdsnn_search.job import TrainSpec
    from mdsnn_search.spec.schema import StudySpec
    from mdsnn_search.spec.space import StudentConfig

STUDENT_KEYS = frozenset(
    {"precision", "distill", "pruning", "timesteps", "learnable_threshold", "adc_bits"}
)
"""Keys of ATTR_STUDENT this export knows how to write; any other key is refused, not dropped."""


def export_name(study_name: str, number: int) -> str:
    return f"{study_name}-trial{number}"


def find_trials(stored: StoredStudy, numbers: Sequence[int]) -> list[FrozenTrial]:
    """The complete trials with these numbers; StudyError for an unknown or unfinished one."""
    by_number = {t.number: t for t in stored.study.get_trials(deepcopy=False)}
    chosen = []
    for number in numbers:
        trial = by_number.get(number)
        if trial is None:
            last = max(by_number, default=-1)
            raise StudyError(
                f"study {stored.name!r} has no trial {number} (trials are numbered 0..{last})"
            )
        if trial.state != TrialState.COMPLETE:
            state = STATE_NAMES.get(trial.state, trial.state.name.lower())
            raise StudyError(
                f"trial {number} of study {stored.name!r} is {state}; "
                "only complete trials can be exported"
            )
        chosen.append(trial)
    return chosen


def trial_train_spec(
    stored: StoredStudy, trial: FrozenTrial, *, out_dir: Path, epochs: int | None = None
) -> TrainSpec:
    """The TrainSpec that retrains ``trial``; its checkpoint goes to ``out_dir/NAME.pt``."""
    from mdsnn_search.files import validate_mapping
    from mdsnn_search.job import TrainSpec

    where = f"trial {trial.number} of study {stored.name!r}"
    spec = trial_spec(stored, trial, where)
    student = trial_document(trial, ATTR_STUDENT)
    if not isinstance(student, dict) or "precision" not in student:
        raise StudyError(
            f"{where} stores no student config (user attribute {ATTR_STUDENT!r} with 'precision')"
        )
    unknown = sorted(set(student) - STUDENT_KEYS)
    if unknown:
        raise StudyError(
            f"{where}: student keys {unknown} are not known to export; refusing to drop them"
        )
    training: dict[str, Any] = spec.training.model_dump(mode="json")
    if epochs is not None:
        training["epochs"] = epochs
    name = export_name(stored.name, trial.number)
    document = {
        "name": name,
        "data": spec.data.model_dump(mode="json"),
        "model": _student_model(spec, student, where),
        "crossbar": _student_crossbar(spec, student, where),
        "training": training,
        "teacher": _teacher_checkpoint(stored, trial),
        "distill": student.get("distill"),
        "output": str(out_dir / f"{name}.pt"),
        "hardware": {
            "preset": spec.hardware.preset,
            "use_measured_activity": spec.hardware.use_measured_activity,
            "adc_bits": student.get("adc_bits"),
        },
    }
    return validate_mapping(TrainSpec, document, where)


def trial_spec(stored: StoredStudy, trial: FrozenTrial, where: str) -> StudySpec:
    """The spec the trial ran with (stored per trial), else the study's (older studies)."""
    document = trial_document(trial, ATTR_SPEC)
    if not isinstance(document, dict):
        return stored.spec()
    from mdsnn_search.files import validate_mapping
    from mdsnn_search.spec.schema import StudySpec

    return validate_mapping(StudySpec, document, f"{where} (stored spec)")


def _student_config(student: dict[str, Any], where: str) -> StudentConfig:
    from pydantic import ValidationError

    from mdsnn_search.spec.space import StudentConfig

    try:
        return StudentConfig.model_validate({**student, "distill": student.get("distill") or {}})
    except ValidationError as exc:
        raise StudyError(f"{where}: stored student config is invalid: {exc}") from None


def _student_model(spec: StudySpec, student: dict[str, Any], where: str) -> dict[str, Any]:
    """The study's model section as the trial's student (precision, pruning, threshold, T_s)."""
    settings = _student_config(student, where)
    return settings.model_for(spec.model, spec.data).model_dump(mode="json")


def _student_crossbar(
    spec: StudySpec, student: dict[str, Any], where: str
) -> dict[str, Any] | None:
    """The trial's crossbar in the loop (None when the study ran ideal arithmetic)."""
    crossbar = _student_config(student, where).crossbar_for(spec.hardware)
    return None if crossbar is None else crossbar.model_dump(mode="json")


def train_spec_yaml(train_spec: TrainSpec, header: str = "") -> str:
    """YAML of ``train_spec`` (every field written, in schema order), after a comment header."""
    body = str(
        yaml.safe_dump(
            train_spec.model_dump(mode="json"), sort_keys=False, default_flow_style=False
        )
    )
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + body


def export_header(stored: StoredStudy, trial: FrozenTrial, epochs: int | None) -> str:
    values = ", ".join(
        f"{n}={v:.6g}" for n, v in zip(stored.objectives, trial.values or [], strict=False)
    )
    budget = (
        f"training.epochs set to {epochs} for retraining"
        if epochs is not None
        else "training as in the search"
    )
    return (
        f"Exported from study {stored.name!r} ({stored.storage_url}), "
        f"trial {trial.number}: {values}.\n"
        f"{budget}. Run: mdsnn-search train THIS_FILE"
    )


def _teacher_checkpoint(stored: StoredStudy, trial: FrozenTrial) -> str:
    """The teacher the trial was distilled from (stored per trial), else the study's."""
    own = trial.user_attrs.get(ATTR_TEACHER)
    checkpoint = (
        own.get("checkpoint") if isinstance(own, dict) else stored.teacher.get("checkpoint")
    )
    if checkpoint is None and stored.spec().teacher.checkpoint is not None:
        checkpoint = stored.spec().teacher.checkpoint
    if checkpoint is None:
        raise StudyError(
            f"study {stored.name!r} stores no teacher checkpoint (user attribute {STUDY_TEACHER!r})"
        )
    return str(checkpoint)
