"""An FP32 baseline carries only some parameters (32 bits is no choice of the space); the samplers
still sample jointly over every searched one."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from mdsnn_search.search.samplers import make_sampler


def _study(sampler_name: str, seed: int) -> optuna.Study:
    """A study with an FP32-like baseline (its distillation weight only) and 12 searched trials."""
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=make_sampler(sampler_name, seed)
    )
    study.add_trial(
        create_trial(
            values=[0.9, 30.0],
            params={"membrane_weight": 0.3},
            distributions={"membrane_weight": FloatDistribution(0.1, 10.0, log=True)},
        )
    )
    for _ in range(12):
        trial = study.ask()
        bits = trial.suggest_categorical("w_bits", [2, 4, 8])
        weight = trial.suggest_float("membrane_weight", 0.1, 10.0, log=True)
        study.tell(trial, [bits / 8 - 0.01 * weight, bits + weight])
    return study


@pytest.mark.parametrize("name", ["nsga2", "nsga3", "tpe"])
def test_the_joint_search_space_ignores_baselines_short_of_parameters(name: str) -> None:
    study = _study(name, seed=0)
    trial = study.ask()
    space = study.sampler.infer_relative_search_space(
        study, study._storage.get_trial(trial._trial_id)
    )
    assert set(space) == {"w_bits", "membrane_weight"}
    # Without the wrapper, Optuna's own sampler loses the bits from its joint space here.
    inner = study.sampler.inner  # type: ignore[attr-defined]
    assert set(
        inner.infer_relative_search_space(study, study._storage.get_trial(trial._trial_id))
    ) == {"membrane_weight"}


def test_nsga2_is_no_longer_random_search_after_its_first_generation() -> None:
    def proposals(name: str) -> list[tuple[object, ...]]:
        study = _study(name, seed=3)
        done = [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if "w_bits" in t.params]
        return [(t.params["w_bits"], round(t.params["membrane_weight"], 6)) for t in done]

    nsga2, random = proposals("nsga2"), proposals("random")
    assert nsga2[:8] == random[:8]  # generation 0 is random sampling with the same seed
    assert nsga2[8:] != random[8:]  # then crossover and mutation of the first generation
