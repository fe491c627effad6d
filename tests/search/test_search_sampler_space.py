"""Uniform baselines are ordinary trials of the space: queued with every searched parameter, so
Optuna's relative samplers sample jointly over the whole space, unwrapped."""

from __future__ import annotations

import optuna
import pytest

from mdsnn_search.search.reference import student_of
from mdsnn_search.search.samplers import make_sampler
from mdsnn_search.snn.models import model_layer_table
from mdsnn_search.spec.schema import load_spec
from mdsnn_search.spec.space import (
    LayerRoles,
    baseline_queue,
    parse_baseline,
    search_distributions,
    suggest_student,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPEC = load_spec("search_spaces/digits.yaml")
ROLES = LayerRoles.from_table(model_layer_table(SPEC.model, (1, 8, 8), 10))


def test_baseline_names_read_as_configurations() -> None:
    w1 = parse_baseline("w1u2k50t2")
    assert w1 is not None and (w1.w_bits, w1.u_bits, w1.keep_ratio, w1.timesteps) == (1, 2, 0.5, 2)
    assert parse_baseline("fp32") is None  # the reference, never a trial
    with pytest.raises(ValueError, match="wWuU"):
        parse_baseline("w2")


def test_every_baseline_holds_every_parameter_and_decodes_to_itself() -> None:
    queue, left_out = baseline_queue(
        SPEC.search_space, ROLES, ["fp32", "w4u4", "w1u2k50", "w2u2t2"], SPEC.data.timesteps
    )
    assert list(queue) == ["w4u4", "w1u2k50", "w2u2t2"] and left_out == []
    distributions = search_distributions(SPEC.search_space, ROLES)
    for params in queue.values():
        assert set(params) == set(distributions)
        assert all(
            distributions[k]._contains(distributions[k].to_internal_repr(v))
            for k, v in params.items()
        )
    student = student_of(queue["w1u2k50"], SPEC, ROLES)
    layers = student.precision.resolve(ROLES.layers)
    assert layers["conv1"].w_bits == 8 and layers["conv2"].w_bits == 1  # fixed_layers still pin
    assert {layers[n].u_bits for n in ROLES.spiking} == {2}
    assert student.pruning.layers == dict.fromkeys(ROLES.spiking, 0.5)
    assert student.timesteps == 4 and student.distill.kd_weight == 0.0
    assert student.distill.layers == ROLES.spiking  # every spiking layer distilled
    assert student_of(queue["w2u2t2"], SPEC, ROLES).timesteps == 2


def test_a_baseline_the_space_cannot_express_is_left_out_naming_the_field() -> None:
    space = SPEC.search_space.model_copy(update={"w_bits": [2, 4], "timesteps": []})
    queue, left_out = baseline_queue(space, ROLES, ["w1u2", "w2u2t2", "w4u4"], 4)
    assert list(queue) == ["w4u4"]
    assert "search_space.w_bits: baseline w1u2 needs 1" in left_out[0]
    assert "search_space.timesteps: baseline w2u2t2 needs 2" in left_out[1]


@pytest.mark.parametrize("name", ["nsga2", "nsga3", "tpe", "gp"])
def test_relative_samplers_sample_the_whole_space_with_baselines_in_the_study(name: str) -> None:
    """With baselines queued as trials of the space, no sampler's joint space shrinks."""
    queue, _ = baseline_queue(
        SPEC.search_space, ROLES, list(SPEC.study.baselines), SPEC.data.timesteps
    )
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(name, 0))
    for params in queue.values():
        study.enqueue_trial(params)
    for i in range(len(queue)):
        trial = study.ask()
        suggest_student(trial, SPEC.search_space, ROLES)  # the queued parameters are fixed
        study.tell(trial, [0.9 - 0.01 * i, 1.0 + i])
    frozen = study._storage.get_trial(study.ask()._trial_id)
    space = study.sampler.infer_relative_search_space(study, frozen)
    searched = {
        k for k, d in search_distributions(SPEC.search_space, ROLES).items() if not d.single()
    }
    assert set(space) == searched
