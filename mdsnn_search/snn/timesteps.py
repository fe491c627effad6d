"""A student with fewer timesteps than its teacher: which frames it sees, which teacher steps it
matches.

Data is loaded at the teacher's T_t; a network whose ``ModelConfig.timesteps`` is T_s < T_t maps
every input onto its own T_s steps itself, so training, evaluation and distillation all feed the
same batches to both networks. Two mappings (``frame_merge``), each exact for the data it is for:

- ``first``: the first T_s frames. Direct coding repeats the image, so these are exactly the
  direct coding at T_s; Poisson frames are independent draws, so they are exactly a Poisson train
  of T_s steps at the same rates.
- ``mean``: the mean of each of T_s windows of k = T_t / T_s consecutive frames (T_s must divide
  T_t). For event data this re-bins the recording into T_s bins over its whole duration, at the
  per-bin scale the teacher was trained on (the sum over a window is exactly the count binning at
  T_s, divided by k; after a nonlinear ``event_norm`` such as log1p it is an approximation).

Membrane distillation compares the student's step t with what the teacher did on the frames that
step saw: the teacher's step t (``first``) or the mean of its membrane over window t (``mean``),
i.e. the same mapping applied to the teacher's membrane sequence. Logit KD uses time-averaged
logits and needs no alignment.
"""

from __future__ import annotations

from typing import Literal

import torch

from mdsnn_search.errors import ConfigError

FrameMerge = Literal["first", "mean"]


def check_student_timesteps(student: int, teacher: int, merge: FrameMerge) -> None:
    """ConfigError unless a T_s = ``student`` network can run on T_t = ``teacher`` frames."""
    if student > teacher:
        raise ConfigError(
            f"model.timesteps: a student runs at most the data's (teacher's) {teacher} timesteps, "
            f"but got {student}"
        )
    if merge == "mean" and teacher % student != 0:
        raise ConfigError(
            "model.frame_merge: 'mean' merges windows of T_t / T_s frames, so timesteps "
            f"({student}) must divide the data's {teacher}"
        )


def to_student_time(seq: torch.Tensor, timesteps: int, merge: FrameMerge) -> torch.Tensor:
    """``seq`` ``[T_t, ...]`` on a ``timesteps``-step timeline ``[T_s, ...]`` (unchanged if T_t <=
    T_s).

    Used for the student's input frames and, identically, for the teacher's membrane sequence
    that the student's membrane is distilled against.
    """
    total = seq.shape[0]
    if total <= timesteps:
        return seq
    if merge == "first":
        return seq[:timesteps]
    window, remainder = divmod(total, timesteps)
    if remainder:
        raise ConfigError(
            f"frame_merge 'mean' needs T_s to divide T_t, but got T_s={timesteps} and T_t={total}"
        )
    return seq.unflatten(0, (timesteps, window)).mean(1)
