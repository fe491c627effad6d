"""In-place distillation: a step can be taught by outputs handed in (the supernet's largest
configuration on the same batch), aligned in time like the teacher's; the switch changes what the
supernet learns."""

from __future__ import annotations

from pathlib import Path

import torch
from study_runs import tiny_spec

from mdsnn_search.checkpoint import load_checkpoint
from mdsnn_search.data import load_dataset
from mdsnn_search.distill import DistillConfig, make_distill_step
from mdsnn_search.distill.step import PART_KD, PART_MEMBRANE
from mdsnn_search.distill.teacher import TeacherOutputs
from mdsnn_search.precision import PrecisionConfig
from mdsnn_search.snn.models import student_from_teacher
from mdsnn_search.spec.schema import StudySpec
from mdsnn_search.strategies.oneshot.supernet_training import SupernetJob, train_supernet


def test_a_step_taught_by_given_outputs_aligns_them_and_learns_nothing_from_itself(
    tiny_teacher: Path,
) -> None:
    teacher = load_checkpoint(tiny_teacher).model
    config = teacher.config.model_copy(update={"precision": PrecisionConfig.uniform(4, 4, 8)})
    largest = student_from_teacher(teacher, config).eval()
    shorter = student_from_teacher(teacher, config.model_copy(update={"timesteps": 1})).eval()
    smaller = student_from_teacher(
        teacher,
        config.model_copy(update={"timesteps": 1, "precision": PrecisionConfig.uniform(2, 2, 8)}),
    ).eval()
    bundle = load_dataset(StudySpec.model_validate(tiny_spec(Path("."))).data)
    x = torch.stack([bundle.train[i][0] for i in range(8)], 1)
    y = torch.tensor([bundle.train[i][1] for i in range(8)])
    step = make_distill_step(teacher, DistillConfig(layers="all", kd_weight=1.0))
    step.keep_outputs = True
    _, logits = step(largest, x, y)
    taught_by = step.outputs
    assert taught_by is not None and torch.equal(taught_by.logits_seq, logits.detach())
    assert set(taught_by.membranes) == set(teacher.neurons())
    step(largest, x, y, teacher_outputs=taught_by)
    assert float(step.parts[PART_MEMBRANE]) == 0.0 and float(step.parts[PART_KD]) == 0.0
    # T_s = 1 sees the first frame: it is compared with the largest's first step, which at the
    # same bits is exactly what it computes.
    step(shorter, x, y, teacher_outputs=taught_by)
    assert float(step.parts[PART_MEMBRANE]) == 0.0
    step(smaller, x, y, teacher_outputs=taught_by)
    aligned = dict(step.parts)
    first = TeacherOutputs(taught_by.logits_seq, {k: v[:1] for k, v in taught_by.membranes.items()})
    step(smaller, x, y, teacher_outputs=first)
    assert float(aligned[PART_MEMBRANE]) > 0.0
    assert torch.equal(aligned[PART_MEMBRANE], step.parts[PART_MEMBRANE])


def test_the_switch_changes_what_the_smaller_configurations_learn(
    tmp_path: Path, tiny_teacher: Path
) -> None:
    weights = []
    for inplace in (True, False):
        document = tiny_spec(
            tmp_path,
            study={"strategy": "oneshot"},
            teacher={"checkpoint": str(tiny_teacher)},
            oneshot={
                "training": {"epochs": 1, "batch_size": 16, "max_batches_per_epoch": 1},
                "inplace_distillation": inplace,
            },
        )
        spec = StudySpec.model_validate(document)
        output = tmp_path / f"supernet-{inplace}.pt"
        train_supernet(
            SupernetJob(spec.model_dump(mode="json"), str(tiny_teacher), None, str(output)),
            lambda line: None,
        )
        weights.append(torch.load(output, weights_only=True)["supernet"]["weights"])
    assert weights[0].keys() == weights[1].keys()
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
