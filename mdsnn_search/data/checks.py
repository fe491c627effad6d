"""A dataset checked without training: loaded, and a sample of its items read by the real readers.

``validate`` and ``run`` call :func:`check_dataset` before anything is stored, so a folder in the
wrong layout, a single class, a truncated or foreign recording among the sample, or items of the
wrong shape are one message instead of a study whose trials all fail. Event recordings read here are
binned into the frame cache as training would bin them, so the check is no wasted work.
"""

from __future__ import annotations

import math
from collections.abc import Sized

import torch
from torch.utils.data import Dataset

from mdsnn_search.data.config import DataConfig, DatasetBundle
from mdsnn_search.data.registry import load_dataset
from mdsnn_search.errors import DataError

SAMPLE_PER_SPLIT = 4
"""Items read from each split; spread evenly, so every class of a small folder is among them."""


def check_dataset(cfg: DataConfig, *, sample: int = SAMPLE_PER_SPLIT) -> DatasetBundle:
    """Load ``cfg``'s dataset and read ``sample`` items of each split; DataError naming what is
    wrong."""
    bundle = load_dataset(cfg)
    expected = (cfg.timesteps, *bundle.input_shape)
    for split, dataset in (("train", bundle.train), ("test", bundle.test)):
        size = len(dataset) if isinstance(dataset, Sized) else 0
        if size == 0:
            raise DataError(
                f"{cfg.name}: the {split} split is empty (check test_fraction, limit, "
                "max_per_class)"
            )
        for index in spread(size, sample):
            _check_item(dataset, index, expected, f"{cfg.name} {split} item {index}")
    return bundle


def spread(size: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(size)``, first and last included."""
    if count >= size:
        return list(range(size))
    step = (size - 1) / max(count - 1, 1)
    return sorted({min(size - 1, math.floor(i * step + 0.5)) for i in range(count)})


def _check_item(
    dataset: Dataset[tuple[torch.Tensor, int]], index: int, expected: tuple[int, ...], what: str
) -> None:
    x, _ = dataset[index]
    if tuple(x.shape) != expected:
        raise DataError(
            f"{what}: has shape {list(x.shape)}, but the data settings give {list(expected)}"
        )
    if not bool(torch.isfinite(x).all()):
        raise DataError(f"{what}: holds non-finite values")
