"""Event-camera datasets in N-Caltech101's layout: ``root/<class>/*.bin``, one recording a file.

Any folder in that layout works: N-Caltech101 (recordings of different extents, up to about
240x180), N-MNIST's ``Train``/``Test`` folders (34x34 sensor: set ``sensor_size: [34, 34]``), or
one of your own. Classes are the sub-folders in name order; the split is stratified by
``test_fraction``. Each recording becomes ``[T, 2, S, S]``: T time bins, 2 polarities, an S x S
frame (``frame_size``, default 48). Binned frames are cached on disk (see ``frame_cache``);
normalisation is applied when an item is read, so changing it needs no re-binning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from mdsnn_search.data.config import (
    DEFAULT_EVENT_FRAME_SIZE,
    DOWNLOAD_PAGES,
    DataConfig,
    DatasetBundle,
    EventNorm,
)
from mdsnn_search.data.event_frames import (
    POLARITIES,
    bin_events,
    check_event_file_size,
    normalise_frames,
    read_events,
    resize_frames,
)
from mdsnn_search.data.frame_cache import (
    CACHE_DTYPE,
    cache_directory,
    cache_entry,
    default_cache_dir,
    load_cached,
    store_cached,
)
from mdsnn_search.data.registry import DATASETS
from mdsnn_search.data.split import split_and_subset
from mdsnn_search.errors import DataError

logger = logging.getLogger(__name__)


def _layout_hint(root: Path) -> str:
    return (
        f"download N-Caltech101 from {DOWNLOAD_PAGES['events']} and unpack it so that "
        f"{root}/<class>/*.bin exist"
    )


def scan_event_folder(root: Path) -> tuple[list[str], list[Path], list[int]]:
    """Class names, recordings and their labels under ``root``; DataError if not that layout or
    if a recording is not a whole number of events."""
    if not root.is_dir():
        raise DataError(f"events: {root} not found; {_layout_hint(root)}")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise DataError(f"events: {root} has no class folders; {_layout_hint(root)}")
    files: list[Path] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        recordings = sorted(p for p in class_dir.glob("*.bin") if p.is_file())
        if not recordings:
            raise DataError(
                f"events: class folder {class_dir} holds no .bin files; {_layout_hint(root)}"
            )
        for recording in recordings:  # one stat each: a truncated copy is refused before training
            check_event_file_size(recording)
        files += recordings
        labels += [label] * len(recordings)
    return [d.name for d in class_dirs], files, labels


class EventFrameDataset(Dataset[tuple[Tensor, int]]):
    """Items ``(x [T, 2, S, S] float32, y int)``, binned on first read and cached on disk."""

    def __init__(
        self,
        files: Sequence[Path],
        labels: Sequence[int],
        cache_dir: Path,
        timesteps: int,
        frame_size: int,
        sensor_size: tuple[int, int] | None,
        norm: EventNorm,
    ) -> None:
        self.files = list(files)
        self.labels = [int(label) for label in labels]
        self.timesteps = timesteps
        self.frame_size = frame_size
        self.sensor_size = sensor_size
        self.norm = norm
        settings = {
            "timesteps": timesteps,
            "frame_size": frame_size,
            "sensor_size": None if sensor_size is None else list(sensor_size),
        }
        directory = cache_directory(cache_dir, settings)
        self.cache_entries = [cache_entry(directory, f) for f in self.files]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return normalise_frames(self.frames(index), self.norm), self.labels[index]

    def frames(self, index: int) -> Tensor:
        """Resized event counts ``[T, 2, S, S]`` of recording ``index``, from cache if there."""
        shape = (self.timesteps, POLARITIES, self.frame_size, self.frame_size)
        cached = load_cached(self.cache_entries[index], shape)
        if cached is not None:
            return torch.from_numpy(cached).to(torch.float32)
        path = self.files[index]
        counts = bin_events(read_events(path), self.timesteps, self.sensor_size, path)
        frames = resize_frames(torch.from_numpy(counts).to(torch.float32), self.frame_size)
        stored = frames.numpy().astype(CACHE_DTYPE)  # first and later reads give equal values
        store_cached(self.cache_entries[index], stored)
        return torch.from_numpy(stored).to(torch.float32)

    def cached_count(self) -> int:
        """How many recordings are already binned under the current settings."""
        return sum(entry.exists() for entry in self.cache_entries)


@DATASETS.register("events")
def load_events_dataset(cfg: DataConfig) -> DatasetBundle:
    """Stratified split of an event folder; recordings are binned lazily, on first read."""
    root = cfg.data_root()
    class_names, files, labels = scan_event_folder(root)
    frame_size = cfg.frame_size or DEFAULT_EVENT_FRAME_SIZE
    cache_dir = (cfg.cache_dir or default_cache_dir()).expanduser()
    train, test = (
        EventFrameDataset(
            [files[i] for i in indices],
            [labels[i] for i in indices],
            cache_dir,
            cfg.timesteps,
            frame_size,
            cfg.sensor_size,
            cfg.event_norm,
        )
        for indices in split_and_subset(np.asarray(labels, dtype=np.int64), cfg, f"events {root}")
    )
    binned = train.cached_count() + test.cached_count()
    logger.info(
        "events %s: %d of %d recordings already binned", root, binned, len(train) + len(test)
    )
    sensor = (
        "per-recording extent" if cfg.sensor_size is None else "x".join(map(str, cfg.sensor_size))
    )
    return DatasetBundle(
        train=train,
        test=test,
        input_shape=(POLARITIES, frame_size, frame_size),
        num_classes=len(class_names),
        class_names=class_names,
        source=(
            f"events {root}: {len(files)} recordings of {len(class_names)} classes, "
            f"sensor {sensor}, {cfg.timesteps} time bins, {frame_size}x{frame_size}, "
            f"{cfg.event_norm}"
        ),
    )
