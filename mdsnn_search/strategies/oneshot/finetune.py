"""Front fine-tuning: the best configurations of the proxy study become trials of the main study.

The main study's queue holds its baselines; placeholders for the front are enqueued within the
budget (:mod:`mdsnn_search.study.budget`). Here each empty placeholder gets one configuration of the
proxy front as its fixed parameters, as ``enqueue_trial`` would have given it, and is then claimed
and run by the ordinary driver: its sampler chooses the distillation knobs the proxy did not
search, and the trial trains from the supernet's weights (:mod:`mdsnn_search.search.trial`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from mdsnn_search.results.front import as_losses
from mdsnn_search.spec.objectives import ATTR_BASELINE, ATTR_METRICS, Direction

ATTR_FRONT = "oneshot_front"
"""Main-study trial user attribute: ``{"rank", "proxy_trial", "proxy_metrics"}`` of the proxy
configuration it fine-tunes."""
FIXED_PARAMS = "fixed_params"
"""Optuna's system attribute of an enqueued trial's parameters."""


def select_front(
    trials: Sequence[FrozenTrial], directions: Sequence[Direction], k: int, cost_index: int
) -> list[FrozenTrial]:
    """The best ``k`` distinct configurations: whole non-dominated fronts, best first, and from
    the front that does not fit whole, those left spread evenly along the cost objective.
    (NSGA-II may score one configuration twice; it is fine-tuned once.)"""
    distinct: dict[str, FrozenTrial] = {}
    for trial in trials:
        if trial.state == TrialState.COMPLETE:
            distinct.setdefault(json.dumps(trial.params, sort_keys=True), trial)
    candidates = list(distinct.values())
    losses = as_losses(np.array([t.values for t in candidates], dtype=float), directions)
    chosen: list[FrozenTrial] = []
    remaining = np.arange(len(candidates))
    while len(chosen) < k and len(remaining):
        mask = _non_dominated(losses[remaining])
        front = remaining[mask]
        remaining = remaining[~mask]
        front = front[np.argsort(losses[front, cost_index], kind="stable")]
        space = k - len(chosen)
        if len(front) > space:
            front = front[np.unique(np.round(np.linspace(0, len(front) - 1, space)).astype(int))]
        chosen.extend(candidates[i] for i in front)
    return chosen


def _non_dominated(losses: np.ndarray) -> np.ndarray:
    """Mask of rows no other row dominates (<= everywhere and < somewhere). Optuna sorts its own
    trials into fronts only privately; a proxy study of thousands of trials needs every front."""
    le = np.all(losses[:, None, :] <= losses[None, :, :], axis=2)  # le[j, i]: j <= i everywhere
    lt = np.any(losses[:, None, :] < losses[None, :, :], axis=2)
    return np.asarray(~np.any(le & lt, axis=0))


def fill_front_(
    study: optuna.Study, storage: optuna.storages.BaseStorage, front: Sequence[FrozenTrial]
) -> int:
    """Give each WAITING placeholder of ``study`` (held in ``storage``) the parameters of the next
    front configuration not yet given to a trial; returns how many placeholders were filled. Safe
    to repeat after a kill: a configuration is given once, and a re-queued trial keeps its
    parameters. Written through the storage's public API, as ``enqueue_trial`` writes them."""
    trials = study.get_trials(deepcopy=False)
    given = {t.user_attrs[ATTR_FRONT]["rank"] for t in trials if ATTR_FRONT in t.user_attrs}
    open_ranks = [rank for rank in range(len(front)) if rank not in given]
    placeholders = [
        t
        for t in trials
        if t.state == TrialState.WAITING
        and ATTR_BASELINE not in t.user_attrs
        and not t.params
        and not t.system_attrs.get(FIXED_PARAMS)
    ]
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial, rank in zip(placeholders, open_ranks, strict=False):
        source = front[rank]
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_system_attr(trial_id, FIXED_PARAMS, dict(source.params))
        storage.set_trial_user_attr(
            trial_id,
            ATTR_FRONT,
            {
                "rank": rank,
                "proxy_trial": source.number,
                "proxy_metrics": source.user_attrs.get(ATTR_METRICS, {}),
            },
        )
    return min(len(placeholders), len(open_ranks))
