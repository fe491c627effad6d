"""A study's trial budget is its queue: n_trials trials, each WAITING until one driver claims it.

Several drivers (processes, machines) may share one study. ``study.ask`` creates a trial whenever
the queue is empty, so drivers racing for the last trial would overshoot n_trials. Instead the
queue holds the baselines, and a driver that finds nothing to claim enqueues an empty placeholder
(whose parameters the sampler chooses when it is claimed) only while the budget lacks trials:
the queue grows as trials are needed, never n_trials rows up front (a study of 100000 trials
would write them all before training one). A driver claims a WAITING trial by switching it to
RUNNING: the storage lets only one switch succeed (``set_trial_state_values`` returns False to
the others).

Trials count towards n_trials unless they were interrupted: FAIL because their run stopped (or
they could not run for a reason outside their configuration, e.g. a damaged cache), with
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
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from mdsnn_search.spec.objectives import ATTR_BASELINE, ATTR_FAIL_REASON
from mdsnn_search.study.documents import PREFIX as DOCUMENTS

INTERRUPTED = (
    "interrupted: the run stopped before this trial finished; its configuration was queued again"
)
INFRASTRUCTURE_FAILED = "could not run (queued again, not counted)"
"""Prefix of the reason of a trial that failed for a reason outside its configuration."""
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


@dataclass(frozen=True)
class Claimed:
    """A trial this driver switched to RUNNING, with the storage's id of it."""

    trial: FrozenTrial
    trial_id: int


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


def top_up(study: optuna.Study, budget: Budget, wanted: int = 1) -> int:
    """Enqueue placeholders until ``wanted`` trials are claimable, within the budget; returns how
    many. Drivers racing here may enqueue one too many: the surplus ranks beyond n_trials and is
    never claimed."""
    added = max(0, min(budget.missing, wanted - len(budget.claimable)))
    for _ in range(added):
        study.enqueue_trial({})
    return added


def trial_id(study: optuna.Study, storage: BaseStorage, number: int) -> int:
    """The storage's id of trial ``number``, which its methods take (FrozenTrial hides it)."""
    study_id = storage.get_study_id_from_name(study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def claim(
    study: optuna.Study, storage: optuna.storages.RDBStorage, budget: Budget
) -> Claimed | None:
    """Switch the first claimable trial to RUNNING for this driver, or None if others got them all.

    ``storage`` is the study's RDB storage, which records heartbeats. The heartbeat is recorded
    before the switch, so a claimed trial always has one and a driver killed right after claiming
    leaves a trial that goes stale rather than one RUNNING forever.
    """
    for trial in budget.claimable:
        claimed_id = trial_id(study, storage, trial.number)
        storage.record_heartbeat(claimed_id)
        try:
            if storage.set_trial_state_values(claimed_id, TrialState.RUNNING):
                return Claimed(trial, claimed_id)
        except UpdateFinishedTrialError:
            continue
    return None


def open_claimed(
    study: optuna.Study, storage: BaseStorage, claimed: Claimed, sampler: BaseSampler
) -> optuna.Trial:
    """The claimed trial as an ``optuna.Trial`` whose parameters ``sampler`` suggests, on a fresh
    Study (samplers cache the trial list per Study and thread, and other runs add trials between
    two claims).

    ``Study.ask`` does the same after it pops a WAITING trial: it reads the study's trials, then
    builds ``Trial(study, trial_id)``; the read is what lets the storage set parameters on the
    trial. Optuna has no public call that asks for one given trial, so the driver repeats those
    two public steps (tests/search/test_search_driver.py checks that they still work).
    """
    fresh = optuna.load_study(study_name=study.study_name, storage=storage, sampler=sampler)
    fresh.get_trials(deepcopy=False)
    return optuna.trial.Trial(fresh, claimed.trial_id)


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


def interrupt(study: optuna.Study, storage: BaseStorage, number: int) -> bool:
    """Mark RUNNING trial ``number`` FAIL "interrupted" and queue its configuration again.

    Returns False when the trial had already finished (another driver failed it as stale).
    """
    interrupted_id = trial_id(study, storage, number)
    try:
        storage.set_trial_user_attr(interrupted_id, ATTR_FAIL_REASON, INTERRUPTED)
        if not storage.set_trial_state_values(interrupted_id, TrialState.FAIL):
            return False
    except UpdateFinishedTrialError:
        return False
    requeue(study, storage.get_trial(interrupted_id))
    return True
