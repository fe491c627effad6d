"""``study.strategy: oneshot`` before the trials: supernet, proxy search, front into the queue.

Each step is idempotent, so a rerun after a kill continues where it stopped: the supernet is
cached (and resumes from its epoch checkpoint), the proxy study continues to its trial count,
and placeholders already given a front configuration keep it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.data import DatasetBundle
from mdsnn_search.spec.objectives import ATTR_BASELINE, OBJECTIVES
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.strategies.oneshot.finetune import fill_front_, select_front
from mdsnn_search.strategies.oneshot.proxy import ProxyScorer, run_proxy_search
from mdsnn_search.strategies.oneshot.supernet_training import ensure_supernet, load_supernet

STUDY_ONESHOT = "oneshot"
"""Main-study user attribute: the supernet's path and training samples, the proxy study's name."""


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
    supernet, space, metadata = load_supernet(path, spec, teacher)
    scorer = ProxyScorer(spec, supernet, space, bundle)
    proxy = run_proxy_search(spec, storage, scorer)
    if proxy.scored_now:
        report(
            f"proxy: scored {proxy.scored_now} configurations in {proxy.scoring_s:.1f} s "
            f"({60 * proxy.scored_now / max(proxy.scoring_s, 1e-9):,.0f}/min)"
        )
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
    filled = fill_front_(study, front)
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


def _cost_index(objectives: Sequence[str]) -> int:
    """The objective the front is spread along: the first minimised one (EDAP by default)."""
    minimised = [i for i, name in enumerate(objectives) if OBJECTIVES[name].direction == "minimize"]
    return minimised[0] if minimised else 0
