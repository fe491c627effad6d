"""Batches in the SNN layout: ``x`` ``[T, B, C, H, W]`` (time-major, as spikingjelly's multi-step
mode expects) and ``y`` ``[B]`` int64; with ``with_index`` also the samples' positions ``[B]`` in
the dataset, for a step that reads precomputed per-sample values (cached teacher outputs).

Reproducibility: one ``seed`` fixes the shuffling and every random draw of the items (Poisson
spikes, augmentation). Datasets with a ``draw(index, generator)`` method get a generator owned by
the loader: in the main process it is seeded from ``seed``; in a worker process, when the worker
starts, from the seed PyTorch derives for it from the loader's generator. Either generator then
runs on across epochs, so each epoch draws fresh spikes. The global torch RNG is never read or
changed, so model initialisation cannot shift the data stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, get_worker_info

Item = tuple[Tensor, int]


@runtime_checkable
class SeededDataset(Protocol):
    """A dataset whose items may be random; ``draw`` takes the generator to use."""

    def __len__(self) -> int: ...

    def draw(self, index: int, generator: torch.Generator | None) -> Item: ...


class _SeededView(Dataset[Item]):
    """A dataset seen through one loader's generator (one view per loader, no shared state)."""

    def __init__(self, dataset: SeededDataset, seed: int) -> None:
        self.dataset = dataset
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Item:
        return self.dataset.draw(index, self.generator)


class _WithIndex(Dataset[tuple[Tensor, int, int]]):
    """Items ``(x, y, index)``: the item's position in ``dataset`` added."""

    def __init__(self, dataset: Dataset[Item]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Tensor, int, int]:
        x, y = self.dataset[index]
        return x, y, index


def _seed_worker(worker_id: int) -> None:
    """Reseed the worker's copy of the view from the per-epoch seed PyTorch gave this worker."""
    info = get_worker_info()
    if info is None:
        return
    view = info.dataset.dataset if isinstance(info.dataset, _WithIndex) else info.dataset
    if isinstance(view, _SeededView):
        view.generator.manual_seed(info.seed)


def _item_seed(seed: int) -> int:
    """A seed for item draws, decorrelated from the shuffling generator's ``seed``."""
    return int(np.random.SeedSequence([seed % 2**64, 1]).generate_state(1, np.uint64)[0] >> 1)


def time_major_collate(batch: Sequence[Item]) -> tuple[Tensor, Tensor]:
    """Stack items ``[T, C, H, W]`` into ``[T, B, C, H, W]``; labels into ``[B]`` int64."""
    x_seq = torch.stack([x for x, _ in batch], dim=1)
    y = torch.tensor([y for _, y in batch], dtype=torch.int64)
    return x_seq, y


def _indexed_collate(batch: Sequence[tuple[Tensor, int, int]]) -> tuple[Tensor, Tensor, Tensor]:
    x_seq, y = time_major_collate([(x, y) for x, y, _ in batch])
    return x_seq, y, torch.tensor([index for _, _, index in batch], dtype=torch.int64)


def make_loader(
    dataset: Dataset[Item],
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
    with_index: bool = False,
) -> DataLoader[Item]:
    """A DataLoader of time-major batches, reproducible given ``seed``.

    Each pass over the loader shuffles anew and draws fresh spikes/augmentations; two loaders
    made with the same arguments yield the same batches, epoch after epoch. Workers persist
    across epochs (starting them costs more than a digits epoch). For a dataset with ``draw``,
    ``loader.dataset`` is a thin view holding the loader's generator. ``with_index`` adds each
    batch's sample positions as a third field.
    """
    if isinstance(dataset, SeededDataset):
        dataset = _SeededView(dataset, _item_seed(seed))
    loaded: Dataset[Item] | _WithIndex = _WithIndex(dataset) if with_index else dataset
    return DataLoader(
        loaded,  # type: ignore[arg-type]
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
        num_workers=num_workers,
        collate_fn=_indexed_collate if with_index else time_major_collate,
        worker_init_fn=_seed_worker if num_workers > 0 else None,
        persistent_workers=num_workers > 0,
        drop_last=drop_last,
        pin_memory=pin_memory,
    )
