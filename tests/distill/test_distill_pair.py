"""Initialising a student from its teacher and checking the two fit together."""

from __future__ import annotations

import pytest
import torch
from conftest import STUDENT_PRECISION

from mdsnn_search.distill import check_pair, init_student_from_teacher
from mdsnn_search.errors import ConfigError
from mdsnn_search.snn import ModelConfig, build_model


def test_copies_every_weight_and_bn_tensor_and_keeps_the_quantizers(teacher, make_net) -> None:
    student = make_net(STUDENT_PRECISION, seed=5)
    quantizer_state = {k: v.clone() for k, v in student.state_dict().items() if "quantizer" in k}
    assert quantizer_state, "the W2/U2/BN8 student should have quantizer parameters"
    init_student_from_teacher(student, teacher)
    student_state = student.state_dict()
    for key, value in teacher.state_dict().items():
        assert torch.equal(student_state[key], value), key
    for key, value in quantizer_state.items():
        assert torch.equal(student_state[key], value), key


def test_what_only_the_student_has_is_left_alone(teacher, make_net) -> None:
    """Quantizers, and anything a student adds on top of the weights (a pruning mask, a learnable
    threshold), are not the teacher's to set."""
    student = make_net(STUDENT_PRECISION)
    extra = torch.nn.Module()
    extra.register_buffer("mask", torch.tensor([1.0, 0.0]))
    extra.theta = torch.nn.Parameter(torch.tensor(0.7))
    student.features.lif1.add_module("extra", extra)
    init_student_from_teacher(student, teacher)
    assert torch.equal(
        extra.mask, torch.tensor([1.0, 0.0])
    ) and extra.theta.item() == pytest.approx(0.7)


def test_a_full_precision_copy_computes_what_the_teacher_computes(teacher, make_net, batch) -> None:
    student = make_net(seed=7)
    init_student_from_teacher(student, teacher)
    student.eval(), teacher.eval()
    with torch.no_grad():
        assert torch.equal(student(batch[0]), teacher(batch[0]))


def test_copy_does_not_share_storage(teacher, make_net) -> None:
    student = make_net()
    init_student_from_teacher(student, teacher)
    with torch.no_grad():
        next(student.parameters()).add_(1.0)
    assert not torch.equal(next(student.parameters()), next(teacher.parameters()))


def test_mismatched_architectures_are_refused_with_a_reason(teacher, make_net, digits) -> None:
    with pytest.raises(ConfigError, match="resnet18.*vgg5.*architectures differ"):
        init_student_from_teacher(make_net(arch="resnet18"), teacher)
    wider = build_model(ModelConfig(arch="vgg5", width=0.5), digits.input_shape, digits.num_classes)
    with pytest.raises(ConfigError, match="width"):
        init_student_from_teacher(wider, teacher)
    other_classes = build_model(teacher.config, digits.input_shape, 3)
    with pytest.raises(
        ConfigError, match=r"classifier\.linear\.weight is \[10, .*\] in the teacher"
    ):
        init_student_from_teacher(other_classes, teacher)


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
