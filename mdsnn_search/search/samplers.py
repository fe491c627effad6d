"""Optuna samplers by name, seeded per trial, unwrapped. Constraints reach them through
``Trial.set_constraint``. Every trial of a study holds every searched parameter (the uniform
baselines are queued with theirs), so Optuna's relative samplers (NSGA-II/III, multivariate TPE,
GP) sample jointly over the whole space; one trial short of parameters would make them sample
each parameter on its own (docs/benchmarks.md)."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable

import optuna

from mdsnn_search.registry import Registry

SAMPLERS: Registry[Callable[[int], optuna.samplers.BaseSampler]] = Registry("sampler")


def trial_seed(study_seed: int, number: int) -> int:
    """The seed of the sampler that fills trial ``number``: a function of the study's seed and the
    trials stored before it, so a resumed run (or a second run on the same study) never replays
    the first one's draws, and the same history always gives the same proposals."""
    digest = hashlib.sha256(f"{study_seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


@SAMPLERS.register("nsga2")
def _nsga2(seed: int) -> optuna.samplers.BaseSampler:
    # A small population so a short study still sees a few generations.
    return optuna.samplers.NSGAIISampler(population_size=8, seed=seed)


@SAMPLERS.register("nsga3")
def _nsga3(seed: int) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():  # experimental in Optuna 5.0; built once per trial
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.NSGAIIISampler(population_size=8, seed=seed)


@SAMPLERS.register("tpe")
def _tpe(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=6)


@SAMPLERS.register("gp")
def _gp(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=6)


@SAMPLERS.register("random")
def _random(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    return SAMPLERS.get(name)(seed)
