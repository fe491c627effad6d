"""``mdsnn-search run``: validate, get the teacher, open the study, run the missing trials.

Order matters for safety: everything that can fail on user input (spec, data, layer names,
preset, storage URL, a mismatched existing study) is checked before a trial starts, and the stored
study is never modified by a run that fails those checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from mdsnn_search.data import load_dataset
from mdsnn_search.data.config import DOWNLOAD_PAGES
from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware import load_preset
from mdsnn_search.precision import matches_layer
from mdsnn_search.search.driver import StudyDriver
from mdsnn_search.search.executors import TrialFn, run_inline, run_ray
from mdsnn_search.search.objectives import STUDY_TEACHER
from mdsnn_search.search.progress import LiveProgress
from mdsnn_search.search.space import LayerRoles
from mdsnn_search.search.spec import StudySpec
from mdsnn_search.search.store import finished_trials, open_study, recover_interrupted
from mdsnn_search.search.teacher import ensure_teacher, ensure_teacher_outputs
from mdsnn_search.search.trial import TrialContext, run_trial
from mdsnn_search.snn.models import arch_layer_table

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    study_name: str
    storage_url: str
    finished: int
    total: int
    ran_now: int
    failed_now: int
    teacher_accuracy: float


def check_spec(spec: StudySpec, source: str | Path = "spec") -> LayerRoles:
    """Checks beyond the schema, each error naming ``source`` and the field: layer names against
    the architecture, the hardware preset, the data folder."""

    def fail(field: str, message: str) -> ConfigError:
        return ConfigError(f"{source}: {field}: {message}")

    try:
        table = arch_layer_table(spec.model.arch, _input_shape_hint(spec), 10, width=spec.model.width)
    except ConfigError as exc:
        raise fail("model", str(exc)) from None
    names = [row.name for row in table]
    roles = LayerRoles.from_table(table)
    for pattern in spec.search_space.fixed_layers:
        if not any(matches_layer(n, pattern) for n in names):
            raise fail("search_space.fixed_layers", f"{pattern!r} matches no layer of {spec.model.arch} ({', '.join(names)})")
    if isinstance(spec.search_space.distill_layers, list):
        for name in spec.search_space.distill_layers:
            if name not in roles.spiking:
                raise fail("search_space.distill_layers", f"{name!r} is not a spiking layer of {spec.model.arch} ({', '.join(roles.spiking)})")
    try:
        load_preset(spec.hardware.preset)
    except ConfigError as exc:
        raise fail("hardware.preset", str(exc)) from None
    if spec.data.root is not None and not spec.data.root.exists():
        raise fail("data.root", f"{spec.data.root} does not exist; {spec.data.name} comes from {DOWNLOAD_PAGES[spec.data.name]}")
    return roles


def _input_shape_hint(spec: StudySpec) -> tuple[int, int, int]:
    """A shape good enough for layer names (names do not depend on the input size)."""
    side = 32 if spec.model.arch.startswith(("vgg11", "vgg16", "resnet")) else 16
    return (2, side, side)


def absolute_paths(spec: StudySpec) -> StudySpec:
    """Ray runs trials in their own folders: every path a trial reads must be absolute."""
    data = spec.data.model_copy(
        update={k: Path(v).resolve() for k, v in (("root", spec.data.root), ("cache_dir", spec.data.cache_dir)) if v is not None}
    )
    preset = spec.hardware.preset
    if Path(preset).suffix in (".yaml", ".yml", ".json"):
        preset = str(Path(preset).resolve())
    return spec.model_copy(update={"data": data, "hardware": spec.hardware.model_copy(update={"preset": preset})})


def run_study(
    spec: StudySpec,
    *,
    source: str | Path = "spec",
    storage_url: str | None = None,
    n_trials: int | None = None,
    address: str | None = None,
    trial_fn: TrialFn = run_trial,
    progress: bool = True,
) -> RunSummary:
    """Run the study until it holds ``n_trials`` finished trials; resumes a stopped run."""
    if n_trials is not None:
        spec = spec.model_copy(update={"study": spec.study.model_copy(update={"n_trials": n_trials})})
    spec = absolute_paths(spec)
    url = storage_url or spec.study.storage_url()
    roles = check_spec(spec, source)
    bundle = load_dataset(spec.data)
    study = open_study(spec, url)
    recover_interrupted(study)
    done = finished_trials(study)
    total = spec.study.n_trials
    if done >= total:
        return RunSummary(study.study_name, url, done, total, 0, 0, float(study.user_attrs.get(STUDY_TEACHER, {}).get("accuracy", float("nan"))))
    teacher = ensure_teacher(spec, bundle, progress=progress)
    study.set_user_attr(STUDY_TEACHER, teacher.to_json())
    outputs = ensure_teacher_outputs(spec, bundle, teacher)
    context = TrialContext(
        spec=spec.model_dump(mode="json"),
        teacher_checkpoint=str(teacher.checkpoint.resolve()),
        teacher_outputs=None if outputs is None else str(outputs.resolve()),
    )
    with LiveProgress(total, done, enabled=progress) as live:
        driver = StudyDriver(study, spec, roles, teacher.accuracy, on_change=live)
        if spec.execution.backend == "inline":
            run_inline(driver, context, total - done, trial_fn)
        else:
            run_ray(driver, context, total - done, trial_fn, address=address or spec.execution.address)
    return RunSummary(
        study.study_name, url, finished_trials(study), total, driver.completed + driver.failed, driver.failed, teacher.accuracy
    )
