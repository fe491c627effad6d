"""Baselines carry no parameters; the samplers still sample jointly over the searched ones."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from mdsnn_search.search.samplers import make_sampler


def _study(sampler_name: str, seed: int) -> optuna.Study:
    """A study with one parameterless complete trial (a baseline) and 12 searched ones."""
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=make_sampler(sampler_name, seed)
    )
    study.add_trial(create_trial(values=[0.9, 30.0], params={}, distributions={}))
    for _ in range(12):
        trial = study.ask()
        bits = trial.suggest_categorical("w_bits", [2, 4, 8])
        weight = trial.suggest_float("membrane_weight", 0.1, 10.0, log=True)
        study.tell(trial, [bits / 8 - 0.01 * weight, bits + weight])
    return study


@pytest.mark.parametrize("name", ["nsga2", "nsga3", "tpe"])
def test_the_joint_search_space_ignores_parameterless_baselines(name: str) -> None:
    study = _study(name, seed=0)
    trial = study.ask()
    space = study.sampler.infer_relative_search_space(
        study, study._storage.get_trial(trial._trial_id)
    )
    assert set(space) == {"w_bits", "membrane_weight"}
    # Without the wrapper, Optuna's own sampler sees an empty joint space here.
    inner = study.sampler.inner  # type: ignore[attr-defined]
    assert inner.infer_relative_search_space(study, study._storage.get_trial(trial._trial_id)) == {}


def test_nsga2_is_no_longer_random_search_after_its_first_generation() -> None:
    def proposals(name: str) -> list[tuple[object, ...]]:
        study = _study(name, seed=3)
        done = [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.params]
        return [(t.params["w_bits"], round(t.params["membrane_weight"], 6)) for t in done]

    nsga2, random = proposals("nsga2"), proposals("random")
    assert nsga2[:8] == random[:8]  # generation 0 is random sampling with the same seed
    assert nsga2[8:] != random[8:]  # then crossover and mutation of the first generation
