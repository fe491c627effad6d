"""Claim/tell between the Optuna study and whatever executes trials.

The driver is this run's only writer of trials: it claims a queued trial (:mod:`budget`), lets a
freshly seeded sampler decode it into a student (:meth:`StudyDriver.ask`), keeps its heartbeat
going, and records the outcome with metrics, constraints and user attributes
(:meth:`StudyDriver.tell`). Other drivers may share the study; the budget keeps their total at
n_trials. Executors (Ray Tune, or in-process) only move requests and outcomes around.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.trial import TrialState
from pydantic import ValidationError

from mdsnn_search.errors import MdsnnError, StudyError
from mdsnn_search.execution.protocol import TrialOutcome, TrialRequest, TrialStatus
from mdsnn_search.metrics import ACCURACY, EDAP
from mdsnn_search.search.samplers import make_sampler, trial_seed
from mdsnn_search.search.teacher import TeacherInfo
from mdsnn_search.spec.objectives import (
    ATTR_BASELINE,
    ATTR_FAIL_REASON,
    ATTR_METRICS,
    ATTR_SPEC,
    ATTR_STUDENT,
    ATTR_TEACHER,
    ATTR_TRACEBACK,
    ATTR_TRIAL_DIR,
    OBJECTIVES,
)
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.spec.space import (
    LayerRoles,
    baseline_params,
    parse_baseline,
    suggest_student,
)
from mdsnn_search.study.budget import (
    INFRASTRUCTURE_FAILED,
    Budget,
    Claimed,
    claim,
    interrupt,
    open_claimed,
    requeue,
    snapshot,
    top_up,
)
from mdsnn_search.study.documents import set_trial_document
from mdsnn_search.study.heartbeat import Heartbeat
from mdsnn_search.study.signals import StopOnSignals
from mdsnn_search.study.students import ATTR_STUDENT_CHECKPOINT, write_returned
from mdsnn_search.study.trial_attrs import (
    ATTR_ACCURACY_DROP,
    short,
    shown_metrics,
    store_constraints,
    student_attrs,
)

logger = logging.getLogger(__name__)

Listener = Callable[["StudyDriver"], None]

POLL_S = 1.0
"""How long a driver with nothing to claim waits before it looks at the study again."""

MAX_TRACEBACK_CHARS = 8000

MAX_INFRASTRUCTURE_FAILURES = 3
"""Trials in a row that fail for a reason outside their configuration before the run stops
(each is queued again, so without a limit a broken cache would loop forever)."""


class StudyDriver:
    """Hands out the study's claimed trials as requests and records their outcomes.

    ``storage`` is the RDB storage ``study`` was opened on: claims, heartbeats and interruptions
    go through its public methods, which take the storage's trial ids.
    """

    def __init__(
        self,
        study: optuna.Study,
        storage: optuna.storages.RDBStorage,
        spec: StudySpec,
        roles: LayerRoles,
        teacher: TeacherInfo,
        heartbeat: Heartbeat,
        on_change: Listener | None = None,
        stop: StopOnSignals | None = None,
        students_folder: str | None = None,
    ) -> None:
        self.study = study
        self.storage = storage
        self.spec = spec
        self.roles = roles
        self.teacher = teacher.to_json()
        self.teacher_accuracy = teacher.accuracy
        self.trial_spec = spec.model_dump(mode="json")
        self.heartbeat = heartbeat
        self._on_change = on_change
        self._stop = stop
        self.students_folder = students_folder
        """Where students returned as bytes are written (None: the spec keeps none)."""
        self._claimed: dict[int, int] = {}
        """Trial number -> trial id of every trial this run claimed and has not told yet."""
        self._open: dict[int, optuna.Trial] = {}
        """The claimed trials decoded into requests."""
        self.running: set[int] = set()
        """Trials of this run that an executor has started; the other claimed ones are pending."""
        self._mine: set[int] = set()
        """Every trial this run claimed, told or not: never counted as another run's."""
        self.completed = 0
        self.failed = 0
        self._infrastructure_in_a_row = 0
        self._halt: StudyError | None = None
        self.budget: Budget = snapshot(study, spec.study.n_trials)
        self._next_look = 0.0

    @property
    def study_name(self) -> str:
        return self.study.study_name

    @property
    def pending(self) -> int:
        """Trials claimed by this run that have not started (Ray waits for resources)."""
        return len(self._claimed) - len(self.running)

    @property
    def elsewhere(self) -> int:
        """Trials other runs of the study are running (at the last look): running trials this
        run never claimed (a trial it just told may still read RUNNING in an older look)."""
        return sum(t.number not in self._mine for t in self.budget.running)

    @property
    def done(self) -> bool:
        """The study holds its n_trials finished trials (at the last look)."""
        return self.budget.done

    def ask(self) -> TrialRequest | None:
        """The next trial's request, or None when there is nothing to claim now (then
        :attr:`done` says whether there ever will be).

        Raises :class:`RunInterrupted` once a stop signal arrived (executors ask between trials),
        and StudyError once trials keep failing for infrastructure reasons (:meth:`_requeue`).
        """
        if self._stop is not None:
            self._stop.check()
        if self._halt is not None:
            raise self._halt
        if time.monotonic() < self._next_look:
            return None
        with self._whole():
            return self._claim_next()

    def _whole(self) -> contextlib.AbstractContextManager[None]:
        """Storage writes a stop signal does not cut (it is raised when they end): one cut inside
        a SQLite transaction can leave the write lock held, failing every later write."""
        return self._stop.deferred() if self._stop is not None else contextlib.nullcontext()

    def _claim_next(self) -> TrialRequest | None:
        """Within :meth:`ask`'s whole step: a trial is claimed and known as ours at once (a
        signal in between would leave a trial RUNNING that interrupt_open cannot find)."""
        while True:
            budget = self._look()
            if budget.done:
                return None
            claimed = claim(self.study, self.storage, budget)
            if claimed is not None:
                self._claimed[claimed.trial.number] = claimed.trial_id
                self._mine.add(claimed.trial.number)
                self.heartbeat.add(claimed.trial_id)
            if claimed is None:
                self._idle()
                return None
            request = self._decode(claimed)
            if request is not None:
                return request

    def wait(self) -> None:
        """Sleep until the next look is due."""
        time.sleep(max(0.0, self._next_look - time.monotonic()))

    def started(self, number: int) -> None:
        self.running.add(number)
        self._changed()

    def report(self, number: int, epoch: int, accuracy: float) -> None:
        """Store a running trial's validation accuracy after ``epoch`` as its intermediate value
        (the dashboard's learning curves; through the storage, as ``Trial.report`` refuses several
        objectives). A trial no longer this run's (failed by another run) is left alone."""
        trial_id = self._claimed.get(number)
        if trial_id is None or not math.isfinite(accuracy):
            return
        try:
            with self._whole():
                self.storage.set_trial_intermediate_value(trial_id, epoch, float(accuracy))
        except UpdateFinishedTrialError:
            logger.debug("trial %d finished elsewhere; its epoch %d is not stored", number, epoch)

    def tell(self, number: int, outcome: TrialOutcome, trial_dir: str | None = None) -> None:
        """Record an outcome: COMPLETE with values and constraints, or FAIL with the reason.

        The trial stays this run's until it is recorded, so a signal in between still finds it.
        """
        with self._whole():
            try:
                self._record(self._open[number], outcome, trial_dir)
            except UpdateFinishedTrialError:
                logger.warning(
                    "trial %d was failed by another run while it ran here (its heartbeat lapsed) "
                    "and its configuration was queued again; this result is dropped",
                    number,
                )
            self._forget(number)
            self._next_look = 0.0
            # A fresh look, so the trials done count this outcome as this run's counts do.
            self.budget = snapshot(self.study, self.spec.study.n_trials)
            self._changed()

    def interrupt_open(self) -> int:
        """Mark every trial this run claimed and did not finish FAIL "interrupted" and queue it
        again; returns how many."""
        requeued = 0
        for number in list(self._claimed):
            requeued += interrupt(self.study, self.storage, number)
            self._forget(number)
        return requeued

    def _forget(self, number: int) -> None:
        self.heartbeat.discard(self._claimed.pop(number))
        self._open.pop(number, None)
        self.running.discard(number)

    def _look(self) -> Budget:
        budget = snapshot(self.study, self.spec.study.n_trials)
        if top_up(self.study, budget):
            budget = snapshot(self.study, self.spec.study.n_trials)
        self.budget = budget
        self._changed()
        return budget

    def _idle(self) -> None:
        """Nothing to claim: fail the trials of runs that stopped (they are queued again)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
        self._next_look = time.monotonic() + POLL_S

    def _decode(self, claimed: Claimed) -> TrialRequest | None:
        """The claimed trial as a request, its sampler seeded by the study seed and its number (so
        a resumed run proposes new configurations, deterministically for a given history)."""
        frozen = claimed.trial
        sampler = make_sampler(
            self.spec.study.sampler, trial_seed(self.spec.study.seed, frozen.number)
        )
        trial = open_claimed(self.study, self.storage, claimed, sampler)
        baseline = frozen.user_attrs.get(ATTR_BASELINE)
        try:
            if baseline is not None and not frozen.system_attrs.get("fixed_params"):
                # Queued by a version that stored baselines without their parameters.
                self._fix_baseline(trial, baseline)
            # A baseline is an ordinary trial: its queued parameters are the baseline's.
            student = suggest_student(trial, self.spec.search_space, self.roles)
        except (ValidationError, MdsnnError, ValueError) as exc:
            # An enqueued configuration the space cannot express: fail it and claim another.
            self._fail(trial, f"invalid configuration: {exc}")
            self._forget(frozen.number)
            return None
        set_trial_document(trial, ATTR_STUDENT, student.model_dump(mode="json"))
        for key, value in student_attrs(student, self.roles).items():
            trial.set_user_attr(key, value)
        set_trial_document(trial, ATTR_SPEC, self.trial_spec)
        trial.set_user_attr(ATTR_TEACHER, self.teacher)
        self._open[frozen.number] = trial
        self._changed()
        return TrialRequest(number=frozen.number, student=student, baseline=baseline)

    def _fix_baseline(self, trial: optuna.Trial, name: str) -> None:
        """Fix a legacy baseline trial's parameters; one the space cannot express (``fp32``, the
        reference now) raises ValueError, which fails the trial."""
        baseline = parse_baseline(name)
        if baseline is None:
            raise ValueError("fp32 is the study's reference now, measured once, not a trial")
        params = baseline_params(
            baseline, self.spec.search_space, self.roles, self.spec.data.timesteps
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            trial.study.sampler = optuna.samplers.PartialFixedSampler(params, trial.study.sampler)

    def _record(self, trial: optuna.Trial, outcome: TrialOutcome, trial_dir: str | None) -> None:
        if trial_dir is not None:
            trial.set_user_attr(ATTR_TRIAL_DIR, trial_dir)
        if outcome.status == TrialStatus.INFRASTRUCTURE:
            self._requeue(trial, outcome)
            return
        self._infrastructure_in_a_row = 0
        if outcome.status != TrialStatus.OK:
            self._fail(trial, outcome.error or "the trial reported no result", outcome.traceback)
            return
        self._keep_student(trial, outcome)
        metrics = outcome.metrics.as_dict()
        objectives = self.spec.study.objectives
        values = [metrics.get(OBJECTIVES[name].metric) for name in objectives]
        bad = [n for n, v in zip(objectives, values, strict=True) if not _finite(v)]
        if bad:
            set_trial_document(trial, ATTR_METRICS, _json_safe(metrics))
            self._fail(
                trial,
                f"non-finite objective(s) {bad}: {dict(zip(objectives, values, strict=True))}",
            )
            return
        set_trial_document(trial, ATTR_METRICS, metrics)
        for key, value in shown_metrics(metrics).items():
            trial.set_user_attr(key, value)
        drop = self.teacher_accuracy - float(metrics[ACCURACY])
        trial.set_user_attr(ATTR_ACCURACY_DROP, 100.0 * drop)
        store_constraints(trial, self._constraints(metrics))
        trial.study.tell(trial, [float(v) for v in values])  # type: ignore[arg-type]
        self.completed += 1

    def _keep_student(self, trial: optuna.Trial, outcome: TrialOutcome) -> None:
        """Record where the trial's student is kept; write it first if it came back as bytes."""
        path = outcome.student_checkpoint
        if outcome.student_bytes is not None and self.students_folder is not None:
            path = str(write_returned(self.students_folder, trial.number, outcome.student_bytes))
        if path is not None:
            trial.set_user_attr(ATTR_STUDENT_CHECKPOINT, path)

    def _constraints(self, metrics: dict[str, Any]) -> dict[str, float]:
        limits = self.spec.study.constraints
        constraints = {}
        if limits.max_accuracy_drop is not None:
            drop = self.teacher_accuracy - float(metrics[ACCURACY])
            constraints["accuracy_drop"] = drop - limits.max_accuracy_drop
        if limits.max_edap is not None:
            constraints["edap"] = float(metrics[EDAP]) - limits.max_edap
        return constraints

    def _requeue(self, trial: optuna.Trial, outcome: TrialOutcome) -> None:
        """FAIL a trial that could not run for a reason outside its configuration and queue its
        configuration again (it does not count). Once it keeps happening, the next :meth:`ask`
        raises StudyError (raised here, it would reach an executor's callback, not the run)."""
        error = outcome.error or "an infrastructure failure"
        trial.set_user_attr(ATTR_FAIL_REASON, short(f"{INFRASTRUCTURE_FAILED}: {error}"))
        if outcome.traceback:
            set_trial_document(trial, ATTR_TRACEBACK, outcome.traceback[-MAX_TRACEBACK_CHARS:])
        trial.study.tell(trial, state=TrialState.FAIL)
        requeue(self.study, self.storage.get_trial(self._claimed[trial.number]))
        logger.warning(
            "trial %d could not run (%s); its configuration was queued again", trial.number, error
        )
        self._infrastructure_in_a_row += 1
        if self._infrastructure_in_a_row >= MAX_INFRASTRUCTURE_FAILURES:
            self._halt = StudyError(
                f"{self._infrastructure_in_a_row} trials in a row could not run for a reason "
                f"outside their configuration, the last: {short(error)}; their configurations "
                "were queued again, so the next run retries them"
            )

    def _fail(self, trial: optuna.Trial, reason: str, traceback: str | None = None) -> None:
        trial.set_user_attr(ATTR_FAIL_REASON, short(reason))
        if traceback:
            set_trial_document(trial, ATTR_TRACEBACK, traceback[-MAX_TRACEBACK_CHARS:])
        trial.study.tell(trial, state=TrialState.FAIL)
        self.failed += 1
        logger.warning(
            "trial %d failed: %s%s",
            trial.number,
            reason,
            f"\n{traceback.rstrip()}" if traceback else "",
        )

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _json_safe(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v if not isinstance(v, float) or math.isfinite(v) else str(v))
        for k, v in metrics.items()
    }
