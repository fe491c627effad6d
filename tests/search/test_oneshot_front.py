"""Choosing the front to fine-tune: best fronts first, the last spread along EDAP, no repeats."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution

from mdsnn_search.strategies.oneshot.finetune import select_front

DIRECTIONS = ["maximize", "minimize"]


def trial(number: int, accuracy: float, edap: float) -> optuna.trial.FrozenTrial:
    made = optuna.trial.create_trial(
        params={"w_bits": number},
        distributions={"w_bits": CategoricalDistribution(list(range(100)))},
        values=[accuracy, edap],
    )
    made.number = number
    return made


def test_whole_fronts_first_then_spread_along_edap() -> None:
    first = [trial(i, 0.5 + 0.05 * i, 1.0 + i) for i in range(7)]  # a trade-off: one front
    dominated = [trial(10 + i, 0.1, 100.0 + i) for i in range(3)]
    chosen = select_front(first + dominated, DIRECTIONS, 3, cost_index=1)
    assert [t.number for t in chosen] == [0, 3, 6]  # cheapest, middle, dearest
    chosen = select_front(first + dominated, DIRECTIONS, 8, cost_index=1)
    assert [t.number for t in chosen][:7] == list(range(7)) and chosen[7].number in (10, 11, 12)


def test_a_configuration_scored_twice_is_chosen_once() -> None:
    twice = [trial(1, 0.9, 2.0), trial(1, 0.9, 2.0), trial(2, 0.8, 1.0)]
    twice[1].number = 5
    chosen = select_front(twice, DIRECTIONS, 3, cost_index=1)
    assert sorted(t.params["w_bits"] for t in chosen) == [1, 2]
