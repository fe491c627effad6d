"""Evaluating a student against its teacher: one JSON-able dict, membrane mismatch per layer."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import STUDENT_PRECISION, student_of

from mdsnn_search.data import make_loader
from mdsnn_search.distill import (
    MEMBRANE_MISMATCH,
    MEMBRANE_MISMATCH_MEAN,
    STUDENT_METRICS,
    evaluate_student,
    membrane_mismatch,
)
from mdsnn_search.errors import ConfigError
from mdsnn_search.training_loop import evaluate


@pytest.fixture
def test_loader(digits):
    return make_loader(digits.test, 100)


def test_one_json_dict_with_evaluate_metrics_and_mismatch_per_layer(
    teacher, make_net, test_loader
) -> None:
    student = student_of(teacher, STUDENT_PRECISION)
    metrics = evaluate_student(student, teacher, test_loader)
    assert tuple(metrics) == STUDENT_METRICS
    json.dumps(metrics, allow_nan=False)
    plain = evaluate(student, test_loader).to_dict()
    assert {k: metrics[k] for k in plain} == plain  # same numbers as train.evaluate, same pass
    mismatch = metrics[MEMBRANE_MISMATCH]
    assert list(mismatch) == list(teacher.neurons()) and all(v > 0 for v in mismatch.values())
    assert metrics[MEMBRANE_MISMATCH_MEAN] == pytest.approx(sum(mismatch.values()) / len(mismatch))
    assert mismatch == membrane_mismatch(student, teacher, test_loader)


def test_mismatch_matches_a_direct_computation(teacher, make_net, digits) -> None:
    student = make_net(STUDENT_PRECISION, seed=2).eval()
    x, _ = next(iter(make_loader(digits.test, 64)))
    got = membrane_mismatch(student, teacher, [(x, None)], layers=["conv3"])
    with torch.no_grad():
        h = {}
        for name, net in (("s", student), ("t", teacher.eval())):
            net.record_membranes({"conv3"})
            net(x)
            h[name] = net.neurons()["conv3"].h_seq
            net.record_membranes(None)
    assert got == {"conv3": pytest.approx(torch.mean((h["s"] - h["t"]) ** 2).item(), rel=1e-5)}


def test_a_full_precision_copy_has_zero_mismatch(teacher, make_net, test_loader) -> None:
    student = student_of(teacher)
    assert all(v == 0.0 for v in membrane_mismatch(student, teacher, test_loader).values())


def test_evaluation_leaves_no_recording_and_restores_modes(teacher, make_net, test_loader) -> None:
    student = make_net(STUDENT_PRECISION).train()
    teacher.train()
    membrane_mismatch(student, teacher, test_loader, layers=["conv1"])
    assert student.training and teacher.training
    evaluate_student(student, teacher, test_loader)
    assert teacher.training
    for net in (student, teacher):
        assert all(not n.record_membrane and n.h_seq is None for n in net.neurons().values())
    # The hook is gone: a later plain forward does not run the teacher.
    calls = []
    teacher.register_forward_pre_hook(lambda module, args: calls.append(1))
    with torch.no_grad():
        student(next(iter(test_loader))[0])
    assert calls == []


def test_unknown_layers_are_refused(teacher, make_net, test_loader) -> None:
    with pytest.raises(ConfigError, match="'conv9' is not a spiking layer of the teacher"):
        membrane_mismatch(make_net(), teacher, test_loader, layers=["conv9"])
