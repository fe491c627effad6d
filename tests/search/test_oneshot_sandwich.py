"""Sandwich sampling: every step trains the highest and the lowest configuration of the space."""

from __future__ import annotations

import numpy as np

from mdsnn_search.precision import FULL_PRECISION_BITS
from mdsnn_search.snn.models import arch_layer_table
from mdsnn_search.spec.search_space import SearchSpaceConfig
from mdsnn_search.spec.space import LayerRoles
from mdsnn_search.strategies.oneshot.sandwich import PrecisionSpace, sandwich

ROLES = LayerRoles.from_table(arch_layer_table("vgg5", (1, 8, 8), 10, width=0.5))


def space(**fields: object) -> PrecisionSpace:
    config = SearchSpaceConfig.model_validate(
        {"w_bits": [2, 4, 8], "u_bits": [2, 4], "u_levels": [3], "bn_bits": [4, 8], **fields}
    )
    return PrecisionSpace(config, ROLES)


def test_the_first_two_configurations_of_every_step_are_the_extremes() -> None:
    searched = space(fixed_layers={"conv1": {"w_bits": 8}})
    rng = np.random.default_rng(0)
    for _ in range(5):
        highest, lowest, *others = sandwich(searched, rng, 3)
        assert len(others) == 3
        top, bottom = searched.configuration(highest), searched.configuration(lowest)
        for name in ROLES.layers:
            assert top[name].w_bits == 8
            assert bottom[name].w_bits == (8 if name == "conv1" else 2)  # pinned stays pinned
            if name in ROLES.spiking:
                assert (top[name].u_bits, top[name].u_levels) == (4, None)
                assert (bottom[name].u_bits, bottom[name].u_levels) == (2, 3)  # ternary < u2
            else:
                assert top[name].u_bits == FULL_PRECISION_BITS
            if name in ROLES.with_bn:
                assert (top[name].bn_bits, bottom[name].bn_bits) == (8, 4)


def test_random_configurations_reach_every_choice_and_tied_spaces_stay_tied() -> None:
    searched = space()
    rng = np.random.default_rng(1)
    seen: dict[str, set[object]] = {name: set() for name in searched.distributions}
    for _ in range(40):
        for params in sandwich(searched, rng, 2)[2:]:
            for name, value in params.items():
                seen[name].add(value)
    assert all(seen[n] == set(d.choices) for n, d in searched.distributions.items())

    tied = space(tie_layers=True)
    assert set(tied.distributions) == {"w_bits", "membrane", "bn_bits"}
    lowest = tied.configuration(tied.extreme(highest=False))
    assert {p.w_bits for p in lowest.values()} == {2}
