"""The precision part of the search space, and the sandwich rule that samples it.

The supernet trains on, and the proxy search scores, exactly the configurations the study's
``search_space`` can express: they are decoded by the study's own
:func:`~mdsnn_search.spec.space.suggest_student`, with the distillation knobs held fixed (they
belong to fine-tuning, not to the supernet). So a proxy trial's parameters are main-study
parameters too (``w_bits:conv2``, ``membrane:conv3``...) and enqueue there unchanged.

Sandwich rule (slimmable networks, BigNAS): each training step takes the highest configuration,
the lowest and ``n`` random ones, so the extremes of the space are trained at every step.
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

Params = dict[str, Any]


def precision_only(space: SearchSpaceConfig) -> SearchSpaceConfig:
    """``space`` with every non-precision knob fixed (nothing else becomes a parameter)."""
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
    """Order of a choice by the precision it gives: bits, and a uniform membrane above an integer
    one stored in the same bits (``int3`` < ``u2``)."""
    if isinstance(choice, str):
        match = re.fullmatch(r"(u|int)(\d+)", choice)
        if match is None:
            raise ValueError(f"not a precision choice: {choice!r}")
        kind, number = match.group(1), int(match.group(2))
        return (number, 1) if kind == "u" else (integer_membrane_bits(number), 0)
    return (float(choice), 0)


class PrecisionSpace:
    """The study's precision knobs as Optuna parameters, decoded into per-layer precisions."""

    def __init__(self, space: SearchSpaceConfig, roles: LayerRoles) -> None:
        self.space = precision_only(space)
        self.roles = roles
        probe = _Probe()
        suggest_student(probe, self.space, roles)  # a duck-typed Trial
        self.distributions: dict[str, CategoricalDistribution] = probe.offered

    def student(self, params: Params) -> StudentConfig:
        fixed = optuna.trial.FixedTrial(params)
        return suggest_student(fixed, self.space, self.roles)

    def configuration(self, params: Params) -> dict[str, LayerPrecision]:
        """Per-layer precision of the configuration ``params`` names."""
        return self.student(params).precision.resolve(self.roles.layers)

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
