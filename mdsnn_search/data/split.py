"""Train/test and train/validation splitting and subset selection, seeded so every trial sees
the same samples.

Datasets without an official split are split stratified (each class keeps its share in both
halves), which matters for small slices: a random split of 10 samples per class can leave a class
out of the test set entirely.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset

from mdsnn_search.errors import DataError


class SplitSettings(Protocol):
    """The fields of a :class:`~mdsnn_search.data.config.DataConfig` a split reads (config
    imports this module, so this one names only what it needs)."""

    @property
    def test_fraction(self) -> float: ...

    @property
    def split_seed(self) -> int: ...

    @property
    def max_per_class(self) -> int | None: ...

    @property
    def limit(self) -> int | None: ...


IndexArray = NDArray[np.int64]


def stratified_split(
    labels: NDArray[np.int64], test_fraction: float, seed: int, what: str
) -> tuple[IndexArray, IndexArray]:
    """Indices of a stratified train/test split, each sorted ascending.

    ``what`` names the dataset in the error raised when the classes are too small to split.
    """
    from sklearn.model_selection import train_test_split  # sklearn costs ~1.5 s to import

    indices = np.arange(len(labels), dtype=np.int64)
    try:
        train, test = train_test_split(
            indices, test_size=test_fraction, random_state=seed, stratify=labels
        )
    except ValueError as exc:
        counts = np.bincount(labels)
        raise DataError(
            f"{what}: cannot split {len(labels)} samples of {np.count_nonzero(counts)} classes "
            f"(smallest class: {counts[counts > 0].min()}) stratified with "
            f"test_fraction={test_fraction}: {exc}"
        ) from None
    return np.sort(train), np.sort(test)


def select_subset(
    labels: NDArray[np.int64], max_per_class: int | None, limit: int | None, seed: int
) -> IndexArray:
    """Indices (sorted) of a seeded random subset: at most ``max_per_class`` of each class, then
    at most ``limit`` in all. With neither cap, every index."""
    order = np.random.default_rng(seed).permutation(len(labels))
    if max_per_class is not None:
        # Rank of each sample within its class in the permuted order; keep the first few.
        by_class = order[np.argsort(labels[order], kind="stable")]
        starts = np.searchsorted(labels[by_class], labels[by_class], side="left")
        rank_sorted = np.arange(len(by_class)) - starts
        rank = np.empty(len(labels), dtype=np.int64)
        rank[by_class] = rank_sorted
        order = order[rank[order] < max_per_class]
    if limit is not None:
        order = order[:limit]
    return np.sort(order).astype(np.int64)


def split_and_subset(
    labels: NDArray[np.int64], cfg: SplitSettings, what: str
) -> tuple[IndexArray, IndexArray]:
    """Stratified split by ``cfg.test_fraction``, then each half capped by ``cfg.max_per_class``
    and ``cfg.limit``, all seeded by ``cfg.split_seed``."""
    train, test = stratified_split(labels, cfg.test_fraction, cfg.split_seed, what)

    def capped(part: IndexArray) -> IndexArray:
        return part[select_subset(labels[part], cfg.max_per_class, cfg.limit, cfg.split_seed)]

    return capped(train), capped(test)


class LabelledSubset(Dataset[tuple[torch.Tensor, int]]):
    """The items of ``dataset`` at ``indices``, keeping what the loaders and splits rely on:
    ``labels``, and ``draw(index, generator)`` for datasets whose items are random (torch's
    ``Subset`` keeps neither)."""

    def __init__(self, dataset: Dataset[tuple[torch.Tensor, int]], indices: IndexArray) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]
        labels = dataset.labels  # type: ignore[attr-defined]
        self.labels = [int(labels[i]) for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.draw(index, None)

    def draw(self, index: int, generator: torch.Generator | None) -> tuple[torch.Tensor, int]:
        base = self.dataset
        if hasattr(base, "draw"):
            return base.draw(self.indices[index], generator)
        return base[self.indices[index]]
