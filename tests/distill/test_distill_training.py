"""End to end: membrane distillation brings the student's membranes closer to the teacher's."""

from __future__ import annotations

from conftest import STUDENT_PRECISION, student_of

from mdsnn_search.data import make_loader
from mdsnn_search.distill import (
    MEMBRANE_MISMATCH_MEAN,
    DistillConfig,
    evaluate_student,
    make_distill_step,
)
from mdsnn_search.training_loop import TrainConfig, fit, seed_everything

SEED = 2  # the ordering held for each of seeds 0-5 when this test was written


def _train_student(teacher, make_net, digits, config: DistillConfig) -> dict[str, object]:
    seed_everything(SEED)
    student = student_of(teacher, STUDENT_PRECISION)
    loader = make_loader(digits.train, 16, shuffle=True, seed=SEED)
    step = make_distill_step(teacher, config, student=student)
    fit(
        student,
        loader,
        TrainConfig(epochs=2, lr=3e-3, device="cpu"),
        step_loss=step,
        progress=False,
    )
    return evaluate_student(student, teacher, make_loader(digits.test, 300))


def test_membrane_distillation_lowers_the_membrane_mismatch(teacher, make_net, digits) -> None:
    plain = _train_student(teacher, make_net, digits, DistillConfig())
    distilled = _train_student(
        teacher, make_net, digits, DistillConfig(layers="all", membrane_weight=1.0)
    )
    assert distilled[MEMBRANE_MISMATCH_MEAN] < plain[MEMBRANE_MISMATCH_MEAN]
    assert distilled["accuracy"] > 0.5  # it still learns the task
