"""A study's trial budget is its queue: n_trials trials, each WAITING until one driver claims it.

Several drivers (processes, machines) may share one study. ``study.ask`` creates a trial whenever
the queue is empty, so drivers racing for the last trial would overshoot n_trials. Instead the
whole budget is enqueued (baselines first, then empty placeholders whose parameters the sampler
chooses when they are claimed), and a driver claims a WAITING trial by switching it to RUNNING:
the storage lets only one switch succeed (``set_trial_state_values`` returns False to the others).

Trials count towards n_trials unless they were interrupted: FAIL because their run stopped, with
their configuration queued again as a new trial (Optuna's ``RetryHeartbeatStaleTrialCallback``
records which). The budget is the first n_trials counted trials by number. A trial's rank among
them can only fall (an earlier one may become interrupted; no earlier one can appear), so a
WAITING trial of rank < n_trials is safe to claim, and top-ups that race and overshoot only leave
surplus WAITING trials that no driver claims.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from mdsnn_search.search.documents import PREFIX as DOCUMENTS
from mdsnn_search.search.objectives import ATTR_BASELINE, ATTR_FAIL_REASON

INTERRUPTED = (
    "interrupted: the run stopped before this trial finished; its configuration was queued again"
)
STALE = "interrupted: its run stopped sending heartbeats; the configuration was queued again"
"""Shown for trials failed by ``fail_stale_trials``, which stores no reason of its own."""


@dataclass(frozen=True)
class Budget:
    """One snapshot of the study's trials, read as a budget of ``n_trials``."""

    n_trials: int
    trials: list[FrozenTrial]
    counted: list[FrozenTrial] = field(init=False)

    def __post_init__(self) -> None:
        skipped = interrupted_numbers(self.trials)
        counted = sorted(
            (t for t in self.trials if t.number not in skipped), key=lambda t: t.number
        )
        object.__setattr__(self, "counted", counted)

    @property
    def finished(self) -> int:
        return sum(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in self.counted)

    @property
    def running(self) -> list[FrozenTrial]:
        return [t for t in self.counted if t.state == TrialState.RUNNING]

    @property
    def claimable(self) -> list[FrozenTrial]:
        """WAITING trials within the budget, lowest number first."""
        return [t for t in self.counted[: self.n_trials] if t.state == TrialState.WAITING]

    @property
    def missing(self) -> int:
        """Trials to enqueue so the budget is full."""
        return max(0, self.n_trials - len(self.counted))

    @property
    def done(self) -> bool:
        return self.finished >= self.n_trials


def snapshot(study: optuna.Study, n_trials: int) -> Budget:
    return Budget(n_trials, study.get_trials(deepcopy=False))


def interrupted_numbers(trials: list[FrozenTrial]) -> set[int]:
    """Numbers of the FAIL trials whose configuration was queued again (they do not count)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        retried = {n for t in trials for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}
    return {
        t.number
        for t in trials
        if t.state == TrialState.FAIL
        and (t.number in retried or t.user_attrs.get(ATTR_FAIL_REASON) == INTERRUPTED)
    }


def top_up(study: optuna.Study, budget: Budget) -> int:
    """Enqueue the placeholders the budget lacks; returns how many."""
    for _ in range(budget.missing):
        study.enqueue_trial({})
    return budget.missing


def claim(study: optuna.Study, budget: Budget) -> FrozenTrial | None:
    """Switch the first claimable trial to RUNNING for this driver, or None if others got them all.

    The heartbeat is recorded before the switch, so a claimed trial always has one and a driver
    killed right after claiming leaves a trial that goes stale rather than one RUNNING forever.
    """
    storage = study._storage  # the RDB storage (behind Optuna's cache), which records heartbeats
    for trial in budget.claimable:
        storage.record_heartbeat(trial._trial_id)
        try:
            if storage.set_trial_state_values(trial._trial_id, TrialState.RUNNING):
                return trial
        except UpdateFinishedTrialError:
            continue
    return None


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue a failed trial's configuration again (Optuna's retry bookkeeping), keeping only its
    baseline tag: the student, spec and reason attributes and documents belong to the failed
    attempt."""
    attempt = copy.copy(trial)
    attempt.user_attrs = {k: v for k, v in trial.user_attrs.items() if k == ATTR_BASELINE}
    attempt.system_attrs = {
        k: v for k, v in trial.system_attrs.items() if not k.startswith(DOCUMENTS)
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        RetryHeartbeatStaleTrialCallback(max_retry=None)(study, attempt)


def interrupt(study: optuna.Study, trial_id: int) -> bool:
    """Mark a RUNNING trial FAIL "interrupted" and queue its configuration again.

    Returns False when the trial had already finished (another driver failed it as stale).
    """
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial_id, ATTR_FAIL_REASON, INTERRUPTED)
        if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
            return False
    except UpdateFinishedTrialError:
        return False
    requeue(study, storage.get_trial(trial_id))
    return True
