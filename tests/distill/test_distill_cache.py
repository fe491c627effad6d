"""A study's cache of teacher outputs: the same loss as running the teacher, memory-mapped on
disk."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import STUDENT_PRECISION

from mdsnn_search.data import make_loader
from mdsnn_search.distill import (
    DistillConfig,
    TeacherOutputCache,
    cache_nbytes,
    compute_teacher_outputs,
    inference_teacher,
    init_student_from_teacher,
    make_distill_step,
)
from mdsnn_search.distill.cache import FP16_MEMBRANE_TOLERANCE
from mdsnn_search.distill.step import PART_KD, PART_MEMBRANE

EVERYTHING = DistillConfig(layers="all", membrane_weight=1.0, kd_weight=1.0)


@pytest.fixture
def cache(teacher, digits) -> TeacherOutputCache:
    return compute_teacher_outputs(
        inference_teacher(teacher), digits.train, list(teacher.neurons())
    )


def test_a_cached_step_and_a_per_batch_step_give_the_same_loss_on_the_same_batch(
    teacher, make_net, digits, cache
) -> None:
    x, y, index = next(iter(make_loader(digits.train, 32, shuffle=True, seed=2, with_index=True)))
    student = make_net(STUDENT_PRECISION, seed=3)
    init_student_from_teacher(student, teacher)
    student.eval()  # the same student output for both calls
    per_batch = make_distill_step(teacher, EVERYTHING)
    cached = make_distill_step(teacher, EVERYTHING, cache=cache)
    assert (per_batch.teacher_path, cached.teacher_path) == ("per_batch", "cached")
    assert cached.inference is None  # the teacher is never run
    loss, _ = per_batch(student, x, y)
    cached_loss, _ = cached(student, x, y, index)
    # The cache holds float16 membranes: within the tolerance that choice was measured against.
    assert cached.parts[PART_MEMBRANE].item() == pytest.approx(
        per_batch.parts[PART_MEMBRANE].item(), rel=FP16_MEMBRANE_TOLERANCE
    )
    assert cached.parts[PART_KD].item() == pytest.approx(
        per_batch.parts[PART_KD].item(), rel=1e-3, abs=1e-6
    )
    assert cached_loss.item() == pytest.approx(loss.item(), rel=FP16_MEMBRANE_TOLERANCE)
    with pytest.raises(ValueError, match="sample indices"):
        cached(student, x, y)


def test_a_cache_without_a_distilled_layer_or_for_batch_bn_is_not_used(teacher, cache) -> None:
    partial = TeacherOutputCache(cache.logits_seq, {"conv1": cache.membranes["conv1"]})
    assert (
        make_distill_step(teacher, DistillConfig(layers=["conv1"]), cache=partial).teacher_path
        == "cached"
    )
    assert (
        make_distill_step(teacher, DistillConfig(layers=["conv2"]), cache=partial).teacher_path
        == "per_batch"
    )
    batch_bn = DistillConfig(layers=["conv1"], teacher_bn="batch")
    assert make_distill_step(teacher, batch_bn, cache=partial).teacher_path == "per_batch"
    assert make_distill_step(teacher, DistillConfig(), cache=partial).teacher_path == "none"


def test_the_cache_is_memory_mapped_from_its_file_and_reads_back_the_same_rows(
    cache, digits, tmp_path: Path
) -> None:
    path = cache.save(tmp_path / "outputs.pt")
    loaded = TeacherOutputCache.load(path)
    maps = Path("/proc/self/maps")
    if maps.exists():
        assert str(path) in maps.read_text()
    assert loaded.samples == len(digits.train) and loaded.layers == cache.layers
    index = torch.tensor([5, 0, 17])
    a = cache.lookup(index, ["conv3"], torch.device("cpu"))
    b = loaded.lookup(index, ["conv3"], torch.device("cpu"))
    assert torch.equal(a.logits_seq, b.logits_seq) and torch.equal(
        a.membranes["conv3"], b.membranes["conv3"]
    )
    assert a.logits_seq.dtype == torch.float32 and a.logits_seq.shape[1] == 3


def test_the_size_estimate_is_the_caches_size(teacher, digits, cache) -> None:
    assert (
        cache_nbytes(inference_teacher(teacher), digits.train, list(teacher.neurons()))
        == cache.nbytes
    )
