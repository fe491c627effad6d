"""A teacher's outputs on a whole training set, computed once and read by every trial of a study.

When a sample's frames are the same in every epoch (no Poisson draws, no augmentation), so are
the frozen teacher's logits and membranes on it: a study computes them once, stores them beside
its teacher, and each trial's step reads the rows of its batch instead of running the teacher.
The file is a ``torch.save`` of time-major tensors (``[T, N, ...]``: a batch's rows gather
straight into the ``[T, B, ...]`` layout the losses take), loaded with ``mmap=True``, so the
trials on one machine share the pages and read only what their batches touch.

Membranes and logits are stored as float16 (:data:`CACHE_DTYPE`): on a trained digits teacher
with W8/W4/W2 students, copied and after an epoch of distillation, the membrane loss computed from
float16 membranes differed from the float32 one by at most 4.8e-5 relative (5 batches x 4
layers each; our tolerance: 1e-3), at half the memory and read traffic.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from mdsnn_search.checkpoint import save_atomic
from mdsnn_search.checksums import verify
from mdsnn_search.data import make_loader
from mdsnn_search.distill.teacher import TeacherOutputs, run_teacher
from mdsnn_search.errors import ConfigError, InfrastructureError
from mdsnn_search.snn.models.network import SpikingNetwork

CACHE_FORMAT = "mdsnn-search/teacher-outputs/1"
CACHE_DTYPE = torch.float16
FP16_MEMBRANE_TOLERANCE = 1e-3
"""Largest relative change of the membrane loss that float16 storage may cause (see above)."""

_BATCH = 256


class TeacherOutputCache:
    """The teacher's logits ``[T, N, classes]`` and membranes ``{layer: [T, N, ...]}`` on the N
    samples of a training set, in dataset order; :meth:`lookup` gives a batch's rows."""

    def __init__(self, logits_seq: torch.Tensor, membranes: dict[str, torch.Tensor]) -> None:
        self.logits_seq = logits_seq
        self.membranes = membranes

    @property
    def samples(self) -> int:
        return int(self.logits_seq.shape[1])

    @property
    def layers(self) -> list[str]:
        return list(self.membranes)

    @property
    def nbytes(self) -> int:
        return sum(
            t.numel() * t.element_size() for t in (self.logits_seq, *self.membranes.values())
        )

    def require_samples(self, samples: int) -> None:
        """Raise ConfigError unless it covers a training set of ``samples`` samples."""
        if samples != self.samples:
            raise ConfigError(
                f"the teacher outputs cover {self.samples} samples, "
                f"but the training set has {samples}"
            )

    def serves(self, layers: Collection[str]) -> bool:
        """Whether it holds the membranes of every layer in ``layers``."""
        return set(layers) <= set(self.membranes)

    def lookup(
        self, index: torch.Tensor, layers: Collection[str], device: torch.device
    ) -> TeacherOutputs:
        """The outputs for the samples ``index`` ``[B]`` (positions in the training set), as float32
        on ``device``, with the membranes of ``layers``."""
        index = index.to("cpu", torch.int64)

        def rows(t: torch.Tensor) -> torch.Tensor:
            return t.index_select(1, index).to(
                device=device, dtype=torch.float32, non_blocking=True
            )

        return TeacherOutputs(
            rows(self.logits_seq), {name: rows(self.membranes[name]) for name in layers}
        )

    def save(self, path: str | Path) -> Path:
        """Write to ``path`` (atomically: a reader never sees half a file) with its checksum."""
        return save_atomic(
            {"format": CACHE_FORMAT, "logits_seq": self.logits_seq, "membranes": self.membranes},
            path,
            checksum=True,
        )

    @classmethod
    def load(cls, path: str | Path) -> TeacherOutputCache:
        """Memory-map a saved cache (nothing is read until a lookup touches it) once its checksum
        matches; InfrastructureError naming a damaged file."""
        verify(Path(path), "teacher-output cache")
        try:
            payload = torch.load(path, mmap=True, weights_only=True)
        except Exception as exc:  # torch raises several types for a damaged archive
            raise InfrastructureError(
                f"teacher-output cache {path} is unreadable ({exc})"
            ) from None
        if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
            raise ConfigError(
                f"{path}: not a teacher-output cache (expected format {CACHE_FORMAT})"
            )
        return cls(payload["logits_seq"], dict(payload["membranes"]))


def cache_nbytes(teacher: SpikingNetwork, dataset: Dataset[Any], layers: Collection[str]) -> int:
    """Bytes a cache of ``teacher``'s outputs on ``dataset`` takes, from one sample's pass."""
    x, _ = dataset[0]
    outputs = run_teacher(teacher, x.unsqueeze(1), layers)
    per_sample = outputs.logits_seq.numel() + sum(m.numel() for m in outputs.membranes.values())
    return per_sample * len(dataset) * CACHE_DTYPE.itemsize  # type: ignore[arg-type]


@torch.inference_mode()
def compute_teacher_outputs(
    teacher: SpikingNetwork,
    dataset: Dataset[Any],
    layers: Collection[str],
    on_batch: Callable[[int], None] | None = None,
) -> TeacherOutputCache:
    """Run the frozen inference ``teacher`` over ``dataset`` in order and keep its logits and the
    membranes at ``layers`` (see :func:`~mdsnn_search.distill.teacher.inference_teacher`);
    ``on_batch(n)`` after each batch, of ``n`` samples (a progress display's).

    Raises ConfigError if a value is beyond float16's range (a cache would store infinities).
    """
    samples = len(dataset)  # type: ignore[arg-type]  # torch's Dataset declares no __len__
    logits_seq: torch.Tensor | None = None
    membranes: dict[str, torch.Tensor] = {}
    start = 0
    device = next(teacher.parameters()).device
    for x, _ in make_loader(dataset, _BATCH):
        outputs = run_teacher(teacher, x.to(device), layers)
        if logits_seq is None:
            logits_seq = _empty_like_rows(outputs.logits_seq, samples)
            membranes = {
                name: _empty_like_rows(m, samples) for name, m in outputs.membranes.items()
            }
        stop = start + x.shape[1]
        logits_seq[:, start:stop] = outputs.logits_seq
        for name, h_seq in outputs.membranes.items():
            membranes[name][:, start:stop] = h_seq
        start = stop
        if on_batch is not None:
            on_batch(x.shape[1])
    assert logits_seq is not None, "an empty training set has no teacher outputs"
    if not all(torch.isfinite(t).all() for t in (logits_seq, *membranes.values())):
        raise ConfigError(
            f"the teacher's outputs exceed the range of {CACHE_DTYPE} and cannot be cached"
        )
    return TeacherOutputCache(logits_seq, membranes)


def _empty_like_rows(batch_seq: torch.Tensor, samples: int) -> torch.Tensor:
    """An uninitialised ``[T, samples, ...]`` CPU tensor of :data:`CACHE_DTYPE` for the rows."""
    return torch.empty((batch_seq.shape[0], samples, *batch_seq.shape[2:]), dtype=CACHE_DTYPE)
