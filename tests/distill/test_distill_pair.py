"""A student converted from its teacher, and checking the two fit together."""

from __future__ import annotations

import pytest
import torch
from conftest import STUDENT_PRECISION, student_of

from mdsnn_search.distill import check_pair
from mdsnn_search.errors import ConfigError
from mdsnn_search.snn import ModelConfig, build_model, student_from_teacher
from mdsnn_search.snn.neuron import NeuronConfig
from mdsnn_search.snn.pruning import PruningConfig
from mdsnn_search.snn.quantizers import WeightQuantizer


def test_a_student_has_every_weight_and_bn_tensor_and_fresh_quantizers(teacher) -> None:
    student = student_of(teacher, STUDENT_PRECISION)
    student_state = student.state_dict()
    for key, value in teacher.state_dict().items():
        assert torch.equal(student_state[key], value), key
    quantizers = [m for m in student.modules() if isinstance(m, WeightQuantizer)]
    assert quantizers, "the W2/U2/BN8 student should have weight quantizers"
    # fitted on the first forward, to the weights the student has (the teacher's)
    assert not any(bool(q.initialized) for q in quantizers)
    assert not any(isinstance(m, WeightQuantizer) for m in teacher.modules())


def test_the_student_loads_into_a_network_built_from_its_config(teacher, digits, batch) -> None:
    """The converted copy and ``build_model`` of the same config are one network: a checkpoint
    of either loads into the other, and computes the same."""
    student = student_of(teacher, STUDENT_PRECISION).eval()
    built = build_model(student.config, digits.input_shape, digits.num_classes).eval()
    with torch.no_grad():
        student(batch[0])  # fits the quantizers' ranges
        built.load_state_dict(student.state_dict())
        assert torch.equal(built(batch[0]), student(batch[0]))


def test_a_full_precision_copy_computes_what_the_teacher_computes(teacher, batch) -> None:
    student = student_of(teacher)
    student.eval(), teacher.eval()
    with torch.no_grad():
        assert torch.equal(student(batch[0]), teacher(batch[0]))


def test_the_student_shares_no_storage_and_trains(teacher) -> None:
    teacher.requires_grad_(False).eval()
    student = student_of(teacher)
    assert student.training and all(p.requires_grad for p in student.parameters())
    with torch.no_grad():
        next(student.parameters()).add_(1.0)
    assert not torch.equal(next(student.parameters()), next(teacher.parameters()))


def test_a_learnt_threshold_and_pruning_masks_are_the_students_own(teacher) -> None:
    config = teacher.config.model_copy(
        update={
            "neuron": NeuronConfig(learnable_threshold=True),
            "pruning": PruningConfig(layers={"conv2": 0.5}),
        }
    )
    student = student_from_teacher(teacher, config)
    assert all(node.threshold is not None for node in student.neurons().values())
    assert student.neurons()["conv2"].channel_mask is not None
    assert all(node.threshold is None for node in teacher.neurons().values())


def test_another_network_is_refused_with_a_reason(teacher) -> None:
    with pytest.raises(ConfigError, match="resnet18 student.*vgg5 teacher.*networks differ"):
        student_from_teacher(teacher, ModelConfig(arch="resnet18", width=0.25))
    with pytest.raises(ConfigError, match="width 0.5"):
        student_from_teacher(teacher, ModelConfig(arch="vgg5", width=0.5))
    with pytest.raises(ConfigError, match="networks differ"):
        student_from_teacher(
            teacher, teacher.config.model_copy(update={"neuron": NeuronConfig(tau=3.0)})
        )


def test_check_pair(teacher, make_net, digits) -> None:
    check_pair(make_net(STUDENT_PRECISION), teacher, ["conv1", "conv4"])
    with pytest.raises(ConfigError, match="separate network"):
        check_pair(teacher, teacher)
    with pytest.raises(ConfigError, match="classes"):
        check_pair(build_model(teacher.config, digits.input_shape, 3), teacher)
    with pytest.raises(
        ConfigError, match=r"'conv2' is a spiking layer of the teacher.*layer1\.0\.conv1"
    ):
        check_pair(make_net(arch="resnet18"), teacher, ["conv1", "conv2"])
