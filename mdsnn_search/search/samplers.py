"""Optuna samplers by name, seeded per trial. Constraints reach them through
``Trial.set_constraint``."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState

from mdsnn_search.registry import Registry

SAMPLERS: Registry[Callable[[int], optuna.samplers.BaseSampler]] = Registry("sampler")


class SearchedTrialsSampler(optuna.samplers.BaseSampler):
    """``inner``, with its joint (relative) search space taken over the trials with every parameter.

    Baselines carry only the parameters their configuration has in the search space (FP32's 32
    bits are no choice of any space). Optuna's relative samplers sample jointly the parameters
    that every complete trial has, so one baseline short of parameters shrinks that set and
    NSGA-II, NSGA-III, GP and multivariate TPE quietly fall back to sampling the rest each on its
    own: NSGA-II then proposes what random search does (docs/benchmarks.md). For NSGA-II/III
    (which breed from the trials of their generations) and TPE (which reads the trials that have
    the parameters) the space is taken over the trials that have the most parameters (every
    searched trial, and the baselines the space can hold); everything else is the inner
    sampler's. Optuna's GP sampler reads every complete trial's parameters, so it stays unwrapped
    and samples on its own while a study holds an FP32 baseline.
    """

    def __init__(self, inner: optuna.samplers.BaseSampler) -> None:
        self.inner = inner

    def infer_relative_search_space(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial
    ) -> dict[str, BaseDistribution]:
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        widest = max((len(t.params) for t in complete), default=0)
        searched = [t for t in complete if widest and len(t.params) == widest]
        space = optuna.search_space.intersection_search_space(searched)
        return {
            name: distribution for name, distribution in space.items() if not distribution.single()
        }

    def sample_relative(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        return self.inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


def trial_seed(study_seed: int, number: int) -> int:
    """The seed of the sampler that fills trial ``number``: a function of the study's seed and the
    trials stored before it, so a resumed run (or a second run on the same study) never replays
    the first one's draws, and the same history always gives the same proposals."""
    digest = hashlib.sha256(f"{study_seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


@SAMPLERS.register("nsga2")
def _nsga2(seed: int) -> optuna.samplers.BaseSampler:
    # A small population so a short study still sees a few generations.
    return SearchedTrialsSampler(optuna.samplers.NSGAIISampler(population_size=8, seed=seed))


@SAMPLERS.register("nsga3")
def _nsga3(seed: int) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():  # experimental in Optuna 5.0; built once per trial
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SearchedTrialsSampler(optuna.samplers.NSGAIIISampler(population_size=8, seed=seed))


@SAMPLERS.register("tpe")
def _tpe(seed: int) -> optuna.samplers.BaseSampler:
    return SearchedTrialsSampler(
        optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=6)
    )


@SAMPLERS.register("gp")
def _gp(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=6)


@SAMPLERS.register("random")
def _random(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    return SAMPLERS.get(name)(seed)
