"""Running trials: in this process, or as Ray Tune trials (:mod:`mdsnn_search.search.ray_tune`).

Both take the same driver, context and trial function, so a test can run a real study in-process
and the product runs it on Ray with nothing else changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mdsnn_search.search.driver import StudyDriver
from mdsnn_search.search.trial import STATUS_FAILED, TrialContext

TrialFn = Callable[[TrialContext, dict[str, Any]], dict[str, Any]]


def run_inline(driver: StudyDriver, context: TrialContext, n_trials: int, trial_fn: TrialFn) -> None:
    """Run ``n_trials`` trials one after another in this process.

    A trial function that raises is recorded FAIL with the exception, as Ray records a crashed
    trial, and the study goes on.
    """
    for _ in range(n_trials):
        request = driver.ask()
        try:
            outcome = trial_fn(context, request)
        except Exception as exc:
            outcome = {"status": STATUS_FAILED, "error": f"{type(exc).__name__}: {exc}"}
        driver.tell(request["number"], outcome)


def run_ray(
    driver: StudyDriver, context: TrialContext, n_trials: int, trial_fn: TrialFn, *, address: str | None
) -> None:
    """Run ``n_trials`` Ray Tune trials (imports ray only when called)."""
    from mdsnn_search.search.ray_tune import run_tuner

    run_tuner(driver, context, n_trials, trial_fn, address=address)
