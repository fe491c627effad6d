"""Running trials: in this process, or as Ray Tune trials (:mod:`mdsnn_search.execution.ray_tune`).

Both take the same driver, context and trial function, so a test can run a real study in-process
and the product runs it on Ray with nothing else changed. :func:`open_executor` also checks the
per-trial request against what the machine or cluster has, before the study is touched.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from mdsnn_search.execution.protocol import (
    TrialContext,
    TrialFn,
    TrialOutcome,
    TrialSource,
    epoch_reporting,
)
from mdsnn_search.execution.resources import TrialResources, local_node, trial_resources
from mdsnn_search.spec.schema import ExecutionConfig


class Executor(Protocol):
    @property
    def resources(self) -> TrialResources:
        """What each trial is given (checked against the machine or cluster)."""

    def run(self, driver: TrialSource, context: TrialContext, trial_fn: TrialFn) -> None:
        """Run trials the driver hands out until the study holds its n_trials finished trials."""


@contextmanager
def open_executor(
    execution: ExecutionConfig, address: str | None, address_field: str
) -> Iterator[Executor]:
    """The spec's executor, its trial request checked (ConfigError naming the field otherwise)."""
    if execution.backend == "inline":
        yield InlineExecutor(trial_resources(execution, [local_node()], "this machine"))
        return
    from mdsnn_search.execution.ray_tune import ray_executor  # imports ray only on this path

    with ray_executor(execution, address, address_field) as executor:
        yield executor


@dataclass(frozen=True)
class InlineExecutor:
    """Trials one after another in this process.

    A trial function that raises is recorded FAIL with the exception and its traceback, as Ray
    records a crashed trial, and the study goes on.
    """

    resources: TrialResources

    def run(self, driver: TrialSource, context: TrialContext, trial_fn: TrialFn) -> None:
        while True:
            request = driver.ask()
            if request is None:
                if driver.done:
                    return
                driver.wait()
                continue
            driver.started(request.number)
            try:
                with epoch_reporting(functools.partial(driver.report, request.number)):
                    outcome = trial_fn(context, request)
            except Exception as exc:
                outcome = TrialOutcome.from_exception(exc)
            driver.tell(request.number, outcome)
