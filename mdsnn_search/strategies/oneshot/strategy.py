"""``study.strategy: oneshot``: supernet, proxy search and front into the queue before the
trials; each searched trial then starts from the supernet at its configuration (precision,
channel masks, T_s).

Each step is idempotent, so a rerun after a kill continues where it stopped: the supernet is
cached (and resumes from its epoch checkpoint), the proxy study continues to its trial count,
and placeholders already given a front configuration keep it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.data import DatasetBundle
from mdsnn_search.data.config import STATIC_DATASETS
from mdsnn_search.errors import ConfigError
from mdsnn_search.search.strategy import STRATEGIES, Strategy, StrategySetup
from mdsnn_search.snn.models import SpikingNetwork
from mdsnn_search.spec.objectives import ATTR_BASELINE, OBJECTIVES, ObjectiveName
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.spec.space import StudentConfig
from mdsnn_search.strategies.oneshot.finetune import fill_front_, select_front
from mdsnn_search.strategies.oneshot.proxy import ProxyScorer, run_proxy_search
from mdsnn_search.strategies.oneshot.sandwich import subnet_config
from mdsnn_search.strategies.oneshot.supernet import Supernet
from mdsnn_search.strategies.oneshot.supernet_training import ensure_supernet, load_supernet
from mdsnn_search.study.budget import snapshot, top_up

STUDY_ONESHOT = "oneshot"
"""Main-study user attribute: the supernet's path and training samples, the proxy study's name."""


@STRATEGIES.register("oneshot")
class OneShot(Strategy):
    """One any-precision supernet, a proxy search over it, then its front fine-tuned as trials."""

    def check(self, spec: StudySpec) -> None:
        """The supernet serves bits, keep ratios, timesteps and learnt thresholds, but teaches
        event data's shorter T_s only in whole windows of the largest; and the budget must leave
        room for a front."""
        space = spec.search_space
        largest = max(space.timesteps, default=spec.data.timesteps)
        merged = [t for t in space.timesteps if largest % t]
        if merged and spec.oneshot.inplace_distillation and spec.data.name not in STATIC_DATASETS:
            raise ConfigError(
                f"search_space.timesteps: with oneshot.inplace_distillation on event data each "
                f"choice must divide the largest ({largest}), whose membranes it is taught by "
                f"in windows, but {merged[0]} does not"
            )
        if spec.hardware.in_the_loop:
            raise ConfigError(
                "hardware.in_the_loop: study.strategy oneshot trains its supernet without the "
                "crossbar; use a per-trial strategy"
            )
        if spec.model.quant.share_scale:
            raise ConfigError(
                "model.quant.share_scale: study.strategy oneshot keeps one membrane range "
                "per bit-width"
            )
        if spec.study.n_trials <= len(spec.study.baselines):
            raise ConfigError(
                f"study.n_trials: with strategy oneshot it counts the baselines "
                f"({len(spec.study.baselines)}) plus the fine-tuned front, so it must exceed them, "
                f"but got {spec.study.n_trials}"
            )

    def prepare(self, setup: StrategySetup) -> str:
        return str(
            prepare_front(
                setup.spec,
                setup.study,
                setup.storage,
                setup.bundle,
                setup.teacher_checkpoint,
                setup.teacher_outputs,
                report=setup.report,
            )
        )

    def initial_student(
        self, state: str, spec: StudySpec, teacher_checkpoint: str, student: StudentConfig
    ) -> SpikingNetwork:
        """The supernet at the student's configuration (precision, channel masks, T_s), as a
        standalone network to fine-tune."""
        supernet = _supernet(state, spec.model_dump_json(), teacher_checkpoint)
        weight_layers = list(supernet.network.weight_layers())
        network = supernet.student(subnet_config(student, weight_layers))
        network.config = student.model_for(spec.model, spec.data)
        return network


@functools.lru_cache(maxsize=1)
def _supernet(path: str, spec_json: str, teacher_checkpoint: str) -> Supernet:
    """Loaded once per worker process; refused unless trained for this spec and teacher."""
    spec = StudySpec.model_validate_json(spec_json)
    teacher = load_checkpoint(teacher_checkpoint).model
    teacher.eval()
    return load_supernet(path, spec, teacher, teacher_checkpoint=Path(teacher_checkpoint))[0]


def prepare_front(
    spec: StudySpec,
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    bundle: DatasetBundle,
    teacher_checkpoint: Path,
    teacher_outputs: Path | None,
    *,
    report: Callable[[str], None],
) -> Path:
    """Train (or reuse) the supernet, run (or finish) the proxy search, and give the main
    study's open placeholders the proxy front; returns the supernet's path."""
    path, _ = ensure_supernet(
        spec,
        teacher_checkpoint,
        teacher_outputs,
        on_ray=spec.execution.backend == "ray",
        report=report,
        bundle=bundle,
    )
    teacher = load_checkpoint(teacher_checkpoint).model
    supernet, space, metadata = load_supernet(
        path, spec, teacher, teacher_checkpoint=teacher_checkpoint
    )
    scorer = ProxyScorer(spec, supernet, space, bundle)
    proxy = run_proxy_search(spec, storage, scorer)
    if proxy.scored_now:
        report(proxy.summary())
    trials = study.get_trials(deepcopy=False)
    k = spec.study.n_trials - len(
        {t.user_attrs[ATTR_BASELINE] for t in trials if ATTR_BASELINE in t.user_attrs}
    )
    front = select_front(
        proxy.study.get_trials(deepcopy=False),
        spec.study.directions,
        k,
        _cost_index(spec.study.objectives),
    )
    # The front takes the whole budget the baselines leave: queue all of it.
    top_up(study, snapshot(study, spec.study.n_trials), wanted=spec.study.n_trials)
    filled = fill_front_(study, storage, front)
    if filled:
        report(f"front: {filled} proxy configurations queued for fine-tuning")
    record: dict[str, Any] = dict(study.user_attrs.get(STUDY_ONESHOT, {}))
    record.update(
        supernet=str(path),
        proxy_study=proxy.study.study_name,
        supernet_training_samples=int(metadata.get("training_samples", 0)),
    )
    study.set_user_attr(STUDY_ONESHOT, record)
    return path


def _cost_index(objectives: Sequence[ObjectiveName]) -> int:
    """The objective the front is spread along: the first minimised one (EDAP by default)."""
    minimised = [i for i, name in enumerate(objectives) if OBJECTIVES[name].direction == "minimize"]
    return minimised[0] if minimised else 0
