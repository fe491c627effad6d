"""The part of the search space the supernet serves, and the sandwich rule that samples it.

The supernet trains on, and the proxy search scores, exactly the configurations the study's
``search_space`` can express: they are decoded by the study's own
:func:`~mdsnn_search.spec.space.suggest_student`, with the distillation knobs held fixed (they
belong to fine-tuning, not to the supernet). So a proxy trial's parameters are main-study
parameters too (``w_bits:conv2``, ``membrane:conv3``, ``keep_ratio:conv2``, ``timesteps``...) and
enqueue there unchanged.

Sandwich rule (slimmable networks, BigNAS): each training step takes the highest configuration
(most bits, every channel offered, the most timesteps), the lowest (fewest bits, lowest keep
ratio, fewest timesteps) and ``n`` random ones, so the extremes of the space train at every step.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution

from mdsnn_search.precision import LayerPrecision, integer_membrane_bits
from mdsnn_search.spec.search_space import SearchSpaceConfig
from mdsnn_search.spec.space import LayerRoles, StudentConfig, suggest_student
from mdsnn_search.strategies.oneshot.subnet import SubnetConfig

Params = dict[str, Any]


def supernet_space(space: SearchSpaceConfig) -> SearchSpaceConfig:
    """``space`` with the distillation knobs fixed: what remains (bits, membranes, keep ratios,
    timesteps) is what the supernet serves and the proxy searches."""
    return space.model_copy(
        update={
            "distill_layers": "none",
            "membrane_weight": 1.0,
            "kd_weight": 0.0,
            "teacher_temperature": 1.0,
            "student_temperature": 1.0,
            "spike_weight": 0.0,
        }
    )


def _precision_rank(choice: Any) -> tuple[float, float]:
    """Order of a choice by the precision it gives: bits (keep ratio, timesteps), and a uniform
    membrane above an integer one stored in the same bits (``int3`` < ``u2``)."""
    if isinstance(choice, str):
        match = re.fullmatch(r"(u|int)(\d+)", choice)
        if match is None:
            raise ValueError(f"not a precision choice: {choice!r}")
        kind, number = match.group(1), int(match.group(2))
        return (number, 1) if kind == "u" else (integer_membrane_bits(number), 0)
    return (float(choice), 0)


class PrecisionSpace:
    """The study's supernet knobs as Optuna parameters, decoded into :class:`SubnetConfig`."""

    def __init__(self, space: SearchSpaceConfig, roles: LayerRoles) -> None:
        self.space = supernet_space(space)
        self.roles = roles
        probe = _Probe()
        suggest_student(probe, self.space, roles)  # a duck-typed Trial
        self.distributions: dict[str, CategoricalDistribution] = probe.offered

    def student(self, params: Params) -> StudentConfig:
        fixed = optuna.trial.FixedTrial(params)
        return suggest_student(fixed, self.space, self.roles)

    def configuration(self, params: Params) -> SubnetConfig:
        """Per-layer precision and keep ratio, and T_s, of the configuration ``params`` names."""
        return subnet_config(self.student(params), self.roles.layers)

    def keep_ratios(self, params: Params) -> dict[str, float]:
        """Keep ratio of every weight layer at ``params`` (the cost model's ``keep_fraction``)."""
        return dict(self.configuration(params).keep_ratio)

    def timesteps(self, params: Params, data_timesteps: int) -> int:
        """Timesteps the student of ``params`` runs on data of ``data_timesteps`` frames."""
        return self.configuration(params).run_timesteps(data_timesteps)

    def extreme(self, *, highest: bool) -> Params:
        pick = max if highest else min
        return {
            name: pick(dist.choices, key=_precision_rank)
            for name, dist in self.distributions.items()
        }

    def random(self, rng: np.random.Generator) -> Params:
        return {
            name: dist.choices[int(rng.integers(len(dist.choices)))]
            for name, dist in self.distributions.items()
        }

    def layer_candidates(self) -> dict[str, list[LayerPrecision]]:
        """Every precision each layer can take (each choice of each parameter, the others at
        their highest): what the supernet keeps state for."""
        highest = self.extreme(highest=True)
        variants = [highest] + [
            {**highest, name: choice}
            for name, dist in self.distributions.items()
            for choice in dist.choices
        ]
        candidates: dict[str, list[LayerPrecision]] = {name: [] for name in self.roles.layers}
        for params in variants:
            for name, precision in self.configuration(params).items():
                if precision not in candidates[name]:
                    candidates[name].append(precision)
        return candidates


def subnet_config(student: StudentConfig, layers: list[str]) -> SubnetConfig:
    """The supernet configuration of ``student`` (precision, keep ratios, T_s, thresholds)."""
    return SubnetConfig(
        precision=student.precision.resolve(layers),
        keep_ratio={name: student.pruning.for_layer(name) for name in layers},
        timesteps=student.timesteps,
        learnable_threshold=student.learnable_threshold,
    )


class _Probe(optuna.trial.FixedTrial):
    """Answers every categorical with its first choice and records the choices offered."""

    def __init__(self) -> None:
        super().__init__({})
        self.offered: dict[str, CategoricalDistribution] = {}

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        self.offered[name] = CategoricalDistribution(choices)
        return choices[0]


def sandwich(space: PrecisionSpace, rng: np.random.Generator, n_random: int) -> list[Params]:
    """One training step's configurations: the highest, the lowest, then ``n_random`` random."""
    return [
        space.extreme(highest=True),
        space.extreme(highest=False),
        *(space.random(rng) for _ in range(n_random)),
    ]
