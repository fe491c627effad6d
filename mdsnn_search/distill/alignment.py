"""Which teacher steps a student's membrane step is compared with (the loss's time alignment).

A student running the teacher's T compares step t with step t (:func:`same_timesteps`). A student
with its own ``ModelConfig.timesteps`` T_s < T_t sees ``frame_merge`` of the input's frames, so its
step t is compared with the same mapping applied to the teacher's membrane sequence: the teacher's
step t (``first``) or the mean of its membrane over window t (``mean``); see
:mod:`mdsnn_search.snn.timesteps`. Logit KD uses time-averaged logits and needs no alignment.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdsnn_search.distill.losses import TimeAlignment, same_timesteps
from mdsnn_search.snn.models.network import SpikingNetwork


@dataclass(frozen=True)
class StudentTimeAlignment:
    """Maps the teacher's membrane sequence onto the student's T_s steps with ``merge``.

    A frozen dataclass rather than a closure, so a step holding one still pickles.
    """

    merge: str

    def __call__(
        self, student_h_seq: torch.Tensor, teacher_h_seq: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        from mdsnn_search.snn.timesteps import to_student_time

        aligned = to_student_time(teacher_h_seq, student_h_seq.shape[0], self.merge)  # type: ignore[arg-type]
        return same_timesteps(student_h_seq, aligned)


def student_time_alignment(merge: str) -> TimeAlignment:
    """The alignment for a student that merges the input's frames with ``merge`` (first | mean)."""
    return StudentTimeAlignment(merge)


def alignment_for(student: SpikingNetwork) -> TimeAlignment:
    """:func:`same_timesteps` for a student on the teacher's timeline, else its frame merge."""
    if getattr(student.config, "timesteps", None) is None:
        return same_timesteps
    return StudentTimeAlignment(getattr(student.config, "frame_merge", "first"))
