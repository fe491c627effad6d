"""The inference teacher a step runs: the same logits and membranes as the plain teacher."""

from __future__ import annotations

import torch

from mdsnn_search.distill import inference_teacher, run_teacher
from mdsnn_search.distill.recording import recording_membranes, take_membranes
from mdsnn_search.snn.layers import QuantConvBN2d


def test_the_inference_teacher_gives_the_plain_teachers_logits_and_membranes(
    teacher, batch
) -> None:
    x, _ = batch
    layers = list(teacher.neurons())
    teacher.eval()
    with torch.no_grad(), recording_membranes(teacher, layers) as nodes:
        logits_seq = teacher(x)
        membranes = take_membranes(nodes)
    optimised = inference_teacher(teacher)
    outputs = run_teacher(optimised, x, ["conv2", "conv4"])
    torch.testing.assert_close(outputs.logits_seq, logits_seq, rtol=1e-5, atol=1e-5)
    assert outputs.membranes.keys() == {"conv2", "conv4"}  # the distilled layers' only
    for name, h_seq in outputs.membranes.items():
        torch.testing.assert_close(h_seq, membranes[name], rtol=1e-5, atol=1e-5)
    # BN folded once, into the copy: the copy has no batch norm left, the teacher keeps its own.
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in optimised.modules())
    assert all(
        isinstance(m.bn, torch.nn.BatchNorm2d)
        for m in teacher.modules()
        if isinstance(m, QuantConvBN2d)
    )
    assert all(not p.requires_grad for p in optimised.parameters())
    assert all(not n.record_membrane and n.h_seq is None for n in optimised.neurons().values())
