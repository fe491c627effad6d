"""Distillation step: zero losses for a perfect student, where gradients go, what is recorded."""

from __future__ import annotations

import pickle

import pytest
import torch
from conftest import STUDENT_PRECISION, student_of

from mdsnn_search.distill import (
    DistillConfig,
    DistillStep,
    make_distill_step,
)
from mdsnn_search.distill.step import (
    MEMBRANE_LAYER_PREFIX,
    PART_CE,
    PART_KD,
    PART_MEMBRANE,
    PART_SPIKE,
    PART_TOTAL,
)
from mdsnn_search.errors import ConfigError
from mdsnn_search.training_loop import classification_loss

EVERYTHING = DistillConfig(layers="all", membrane_weight=1.0, kd_weight=1.0, spike_weight=0.1)


def _copy_of(teacher, make_net, precision=None):
    return student_of(teacher, precision)


@pytest.mark.parametrize("norm", ["teacher_power", "threshold", "none"])
def test_every_distillation_loss_is_zero_when_the_student_is_the_teacher(
    teacher, make_net, batch, norm
) -> None:
    """Same weights at 32 bits, both in eval mode (a training student normalises with batch
    statistics, its frozen teacher with running ones, so their membranes differ by that much).
    Zero to float rounding: the step's teacher has its BN folded into the convolutions."""
    student = _copy_of(teacher, make_net).eval()
    step = make_distill_step(
        teacher, EVERYTHING.model_copy(update={"membrane_norm": norm}), student=student
    )
    loss, logits_seq = step(student, *batch)
    parts = step.parts
    assert parts[PART_MEMBRANE].item() == pytest.approx(0.0, abs=1e-10)
    assert all(
        parts[MEMBRANE_LAYER_PREFIX + name].item() == pytest.approx(0.0, abs=1e-10)
        for name in teacher.neurons()
    )
    assert parts[PART_KD].item() == pytest.approx(0.0, abs=1e-6)
    # What remains is the student's own CE and firing rate.
    expected = parts[PART_CE] + EVERYTHING.spike_weight * parts[PART_SPIKE]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert logits_seq.shape == (4, batch[0].shape[1], 10)


def test_with_batch_statistics_a_training_copy_matches_its_teacher(
    teacher, make_net, batch
) -> None:
    """teacher_bn='batch': the teacher normalises the batch as the training student does, so a
    32-bit copy has zero membrane loss in training too; 'running' (eval) leaves a BN-mode gap."""
    student = _copy_of(teacher, make_net).train()
    bn = teacher.features.conv2.bn
    running = (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
    step = make_distill_step(teacher, DistillConfig(layers="all", teacher_bn="batch"))
    step(student, *batch)
    assert step.parts[PART_MEMBRANE].item() == pytest.approx(0.0, abs=1e-6)
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            running, (bn.running_mean, bn.running_var, bn.num_batches_tracked), strict=True
        )
    )
    assert not bn.training and bn.track_running_stats and not teacher.training
    running_step = make_distill_step(teacher, DistillConfig(layers="all"))
    running_step(student, *batch)
    assert running_step.parts[PART_MEMBRANE].item() > 1e-3  # running vs this batch's statistics


def test_gradients_reach_the_student_through_every_term_and_never_the_teacher(
    teacher, make_net, batch
) -> None:
    student = _copy_of(teacher, make_net, STUDENT_PRECISION)
    grads = {}
    for name, config in {
        "ce": DistillConfig(),
        "membrane": DistillConfig(layers="all", membrane_weight=10.0),
        "kd": DistillConfig(kd_weight=10.0),
        "hetero_kd": DistillConfig(kd_weight=10.0, student_temperature=1.0),
        "spike": DistillConfig(spike_weight=10.0),
    }.items():
        step = make_distill_step(teacher, config)
        student.zero_grad(set_to_none=True)
        loss, _ = step(student, *batch)
        loss.backward()
        weight = student.features.conv2.conv.weight.grad
        assert weight is not None and weight.abs().sum() > 0, name
        grads[name] = weight.clone()
    for name in ("membrane", "kd", "hetero_kd", "spike"):
        assert not torch.allclose(grads[name], grads["ce"]), f"the {name} term adds no gradient"
    membrane_alpha = student.features.lif2.membrane_quantizer.alpha
    assert membrane_alpha.grad is not None
    assert all(not p.requires_grad and p.grad is None for p in teacher.parameters())


def test_the_teacher_is_frozen_and_a_careless_train_call_changes_nothing(
    teacher, make_net, batch
) -> None:
    """The step runs its own frozen inference copy, so the caller's teacher may change mode."""
    step = make_distill_step(teacher, DistillConfig(layers="all"))
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    student = make_net(STUDENT_PRECISION).eval()
    step(student, *batch)
    before = step.parts[PART_MEMBRANE]
    teacher.train()  # a careless caller
    running_before = teacher.features.conv1.bn.running_mean.clone()
    step(student, *batch)
    assert torch.equal(step.parts[PART_MEMBRANE], before)
    assert torch.equal(teacher.features.conv1.bn.running_mean, running_before)


def test_the_teacher_records_membranes_only_at_the_distilled_layers(
    teacher, make_net, batch
) -> None:
    seen: dict[str, bool] = {}
    for name, node in teacher.neurons().items():
        node.register_forward_hook(
            lambda module, args, out, name=name: seen.__setitem__(name, module.record_membrane)
        )
    student = make_net(STUDENT_PRECISION)
    step = make_distill_step(teacher, DistillConfig(layers=["conv2", "conv4"]))
    step(student, *batch)
    assert seen == {"conv1": False, "conv2": True, "conv3": False, "conv4": True}
    assert set(step.parts) == {
        PART_CE,
        PART_MEMBRANE,
        "membrane/conv2",
        "membrane/conv4",
        PART_TOTAL,
    }
    # Nothing stays recorded or held after the step.
    for net in (teacher, student):
        assert all(not n.record_membrane and n.h_seq is None for n in net.neurons().values())


def test_an_empty_layer_set_switches_the_membrane_loss_off(teacher, make_net, batch) -> None:
    calls = []
    teacher.register_forward_pre_hook(lambda module, args: calls.append(1))
    student = make_net()  # full precision: its train-mode output does not drift between calls
    for config in (
        DistillConfig(layers=[], membrane_weight=5.0),
        DistillConfig(layers="all", membrane_weight=0.0),
    ):
        step = make_distill_step(teacher, config)
        loss, logits_seq = step(student, *batch)
        assert step.layer_weights == {} and PART_MEMBRANE not in step.parts
        assert calls == []  # neither membranes nor KD: the teacher is not even run
        assert torch.equal(loss, classification_loss(student(batch[0]), batch[1]))
    assert all(not n.record_membrane for n in student.neurons().values())


def test_step_kd_at_equal_temperatures_is_conventional_kd(teacher, make_net, batch) -> None:
    student = _copy_of(teacher, make_net, STUDENT_PRECISION).eval()
    step = make_distill_step(
        teacher, DistillConfig(kd_weight=1.0, teacher_temperature=3.0, student_temperature=3.0)
    )
    step(student, *batch)
    with torch.no_grad():
        z_s, z_t = student(batch[0]).mean(0), teacher(batch[0]).mean(0)
    reference = 9.0 * torch.nn.functional.kl_div(
        torch.log_softmax(z_s / 3, -1), torch.softmax(z_t / 3, -1), reduction="batchmean"
    )
    assert reference.item() > 1e-3
    assert step.parts[PART_KD].item() == pytest.approx(reference.item(), rel=1e-4)


def test_per_timestep_ce_option(teacher, make_net, batch) -> None:
    student = _copy_of(teacher, make_net).eval()
    step = make_distill_step(teacher, DistillConfig(), per_timestep_ce=True)
    loss, logits_seq = step(student, *batch)
    assert loss.item() == pytest.approx(
        classification_loss(logits_seq, batch[1], per_timestep=True).item()
    )
    assert loss.item() != pytest.approx(classification_loss(logits_seq, batch[1]).item())


def test_spike_term_is_the_students_overall_firing_rate(teacher, make_net, batch) -> None:
    student = make_net(STUDENT_PRECISION).eval()
    counts = []
    for node in student.neurons().values():
        node.register_forward_hook(lambda m, a, out: counts.append((out.sum().item(), out.numel())))
    step = make_distill_step(teacher, DistillConfig(spike_weight=1.0))
    step(student, *batch)
    spikes, slots = map(sum, zip(*counts, strict=True))
    assert step.parts[PART_SPIKE].item() == pytest.approx(spikes / slots, rel=1e-6)


def test_unknown_layers_are_refused_listing_the_spiking_layers(teacher, make_net, batch) -> None:
    with pytest.raises(
        ConfigError, match=r"'fc' matches no spiking layer.*conv1, conv2, conv3, conv4"
    ):
        make_distill_step(teacher, DistillConfig(layers=["fc"]))
    resnet = make_net(arch="resnet18")
    with pytest.raises(ConfigError, match="not of the student"):
        make_distill_step(teacher, DistillConfig(layers=["conv2"]), student=resnet)
    step = make_distill_step(teacher, DistillConfig(layers=["conv2"]))
    with pytest.raises(ConfigError, match="not of the student"):  # checked when the step meets it
        step(resnet, *batch)
    with pytest.raises(ConfigError, match="separate network"):
        step(teacher, *batch)


def test_the_step_pickles(teacher) -> None:
    step = make_distill_step(teacher, EVERYTHING)
    clone = pickle.loads(pickle.dumps(step))
    assert isinstance(clone, DistillStep) and clone.layer_weights == step.layer_weights
