"""CIFAR-10 and CIFAR-100 from the python versions on Alex Krizhevsky's page.

``cifar-10-batches-py/`` holds ``data_batch_1..5``, ``test_batch`` and ``batches.meta``;
``cifar-100-python/`` holds ``train``, ``test`` and ``meta`` (CIFAR-100 uses the 100 fine labels).
Each file is a pickled dict whose ``data`` is uint8 ``[N, 3072]`` (channel-major 3x32x32). The
images stay in memory as uint8 (150 MB for the training set). ``root`` may be that folder or the
folder holding it. Pickle runs code on load: only point ``root`` at files from a trusted source,
as with torchvision's CIFAR classes, which read the same files the same way.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from mdsnn_search.data.config import DOWNLOAD_PAGES, DataConfig, DatasetBundle
from mdsnn_search.data.images import StaticImageDataset, TensorImages, image_pipeline
from mdsnn_search.data.registry import DATASETS
from mdsnn_search.data.split import select_subset
from mdsnn_search.errors import DataError

CHANNELS, SIDE = 3, 32


@dataclass(frozen=True)
class CifarLayout:
    """File names, dict keys and channel statistics of one CIFAR variant."""

    name: str
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: str
    names_key: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def hint(self, folder: Path) -> str:
        return (
            f"download {self.title} from {DOWNLOAD_PAGES[self.name]} and unpack it so that "
            f"{folder}/{self.meta_file} exists"
        )


CIFAR10 = CifarLayout(
    name="cifar10",
    title="CIFAR-10",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_files=("test_batch",),
    meta_file="batches.meta",
    label_key="labels",
    names_key="label_names",
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
)

CIFAR100 = CifarLayout(
    name="cifar100",
    title="CIFAR-100",
    folder="cifar-100-python",
    train_files=("train",),
    test_files=("test",),
    meta_file="meta",
    label_key="fine_labels",
    names_key="fine_label_names",
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
)


def locate(root: Path, layout: CifarLayout) -> Path:
    """The unpacked folder: ``root/<folder>`` if present, else ``root`` if it is that folder."""
    nested = root / layout.folder
    folder = root if not nested.is_dir() and (root / layout.meta_file).is_file() else nested
    if not (folder / layout.meta_file).is_file():
        raise DataError(
            f"{layout.title}: {folder / layout.meta_file} not found; {layout.hint(folder)}"
        )
    return folder


def _unpickle(path: Path, layout: CifarLayout, keys: tuple[str, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"{layout.title}: {path} not found; {layout.hint(path.parent)}")
    try:
        with path.open("rb") as stream:
            entry = pickle.load(stream, encoding="latin1")
    except Exception as exc:  # a corrupt pickle can fail in many ways; all mean "malformed"
        raise DataError(
            f"{layout.title}: {path} is not a CIFAR pickle ({exc}); {layout.hint(path.parent)}"
        ) from None
    missing = [k for k in keys if not isinstance(entry, dict) or k not in entry]
    if missing:
        raise DataError(
            f"{layout.title}: {path} lacks {', '.join(missing)}; {layout.hint(path.parent)}"
        )
    return entry


def read_batches(
    folder: Path, files: tuple[str, ...], layout: CifarLayout, num_classes: int
) -> tuple[torch.Tensor, NDArray[np.int64]]:
    """Images uint8 ``[N, 3, 32, 32]`` and labels of the named batch files, in file order."""
    images, labels = [], []
    for name in files:
        path = folder / name
        batch = _unpickle(path, layout, ("data", layout.label_key))
        data = np.asarray(batch["data"])
        batch_labels = np.asarray(batch[layout.label_key], dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CHANNELS * SIDE * SIDE:
            raise DataError(
                f"{layout.title}: {path}: data is {data.dtype} {list(data.shape)}, expected uint8 "
                f"[N, {CHANNELS * SIDE * SIDE}]; {layout.hint(folder)}"
            )
        in_range = np.all((batch_labels >= 0) & (batch_labels < num_classes))
        if batch_labels.shape != (len(data),) or not in_range:
            raise DataError(
                f"{layout.title}: {path}: expected {len(data)} {layout.label_key} in "
                f"0..{num_classes - 1}; {layout.hint(folder)}"
            )
        images.append(data.reshape(-1, CHANNELS, SIDE, SIDE))
        labels.append(batch_labels)
    return torch.from_numpy(np.concatenate(images)), np.concatenate(labels)


def load_cifar(cfg: DataConfig, layout: CifarLayout) -> DatasetBundle:
    """The official train/test split, each capped by ``max_per_class``/``limit`` if set."""
    folder = locate(cfg.data_root(), layout)
    meta = _unpickle(folder / layout.meta_file, layout, (layout.names_key,))
    class_names = [str(name) for name in meta[layout.names_key]]
    splits = []
    for files, is_train in ((layout.train_files, True), (layout.test_files, False)):
        images, labels = read_batches(folder, files, layout, len(class_names))
        kept = select_subset(labels, cfg.max_per_class, cfg.limit, cfg.split_seed)
        pipeline = image_pipeline(cfg, is_train, layout.mean, layout.std)
        source = TensorImages(images[torch.from_numpy(kept)])
        splits.append(StaticImageDataset(source, labels[kept].tolist(), pipeline))
    side = cfg.frame_size or SIDE
    return DatasetBundle(
        train=splits[0],
        test=splits[1],
        input_shape=(CHANNELS, side, side),
        num_classes=len(class_names),
        class_names=class_names,
        source=f"{layout.title} {folder}",
    )


@DATASETS.register("cifar10")
def load_cifar10(cfg: DataConfig) -> DatasetBundle:
    return load_cifar(cfg, CIFAR10)


@DATASETS.register("cifar100")
def load_cifar100(cfg: DataConfig) -> DatasetBundle:
    return load_cifar(cfg, CIFAR100)
