"""Optuna samplers by name, seeded. Constraints reach them through ``Trial.set_constraint``."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from mdsnn_search.registry import Registry

SAMPLERS: Registry[Callable[[int], optuna.samplers.BaseSampler]] = Registry("sampler")


@SAMPLERS.register("nsga2")
def _nsga2(seed: int) -> optuna.samplers.BaseSampler:
    # A small population so a short study still sees a few generations.
    return optuna.samplers.NSGAIISampler(population_size=8, seed=seed)


@SAMPLERS.register("nsga3")
def _nsga3(seed: int) -> optuna.samplers.BaseSampler:
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
