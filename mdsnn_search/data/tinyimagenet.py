"""Tiny ImageNet: 200 classes of 64x64 RGB images, in the layout of cs231n's zip.

``tiny-imagenet-200/wnids.txt`` lists the class ids; training images are
``train/<wnid>/images/*.JPEG``; the labelled validation images ``val/images/*.JPEG`` (labels in
``val/val_annotations.txt``) serve as the test split, since ``test/`` has no labels. Classes are
the sorted ids (the order an ImageFolder over ``train/`` gives), named by the first synonym in
``words.txt`` when it is there. Images are decoded on each read (100k JPEGs of 64x64 would take
1.2 GB decoded); ``root`` may be ``tiny-imagenet-200`` or the folder holding it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from mdsnn_search.data.config import DOWNLOAD_PAGES, DataConfig, DatasetBundle
from mdsnn_search.data.images import StaticImageDataset, image_pipeline
from mdsnn_search.data.registry import DATASETS
from mdsnn_search.data.split import select_subset
from mdsnn_search.errors import DataError

FOLDER = "tiny-imagenet-200"
CHANNELS, SIDE = 3, 64
MEAN = (0.4802, 0.4481, 0.3975)
STD = (0.2770, 0.2691, 0.2821)


def _hint(folder: Path) -> str:
    return (
        f"download {DOWNLOAD_PAGES['tinyimagenet']} and unpack it so that {folder}/wnids.txt exists"
    )


class JpegImages:
    """Images decoded from files on each read, as float32 ``[3, 64, 64]`` in [0, 1]."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> Tensor:
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                pixels = np.array(image.convert("RGB"))  # a few are greyscale
        except OSError as exc:
            raise DataError(f"Tiny ImageNet: {path} is not a readable image ({exc})") from None
        if pixels.shape != (SIDE, SIDE, CHANNELS):
            height, width = pixels.shape[:2]
            raise DataError(f"Tiny ImageNet: {path} is {width}x{height}, expected {SIDE}x{SIDE}")
        return torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255.0)


def locate(root: Path) -> Path:
    """The unpacked folder: ``root/tiny-imagenet-200`` if present, else ``root`` if it is it."""
    nested = root / FOLDER
    folder = root if not nested.is_dir() and (root / "wnids.txt").is_file() else nested
    if not (folder / "wnids.txt").is_file():
        raise DataError(f"Tiny ImageNet: {folder / 'wnids.txt'} not found; {_hint(folder)}")
    return folder


def read_wnids(folder: Path) -> list[str]:
    lines = (folder / "wnids.txt").read_text(encoding="utf-8").splitlines()
    wnids = sorted({line.strip() for line in lines} - {""})
    if not wnids:
        raise DataError(f"Tiny ImageNet: {folder / 'wnids.txt'} lists no classes; {_hint(folder)}")
    return wnids


def read_class_names(folder: Path, wnids: list[str]) -> list[str]:
    """First synonym of each class in ``words.txt`` (``n01443537\\tgoldfish, Carassius auratus``),
    with the id appended where two classes share it (Tiny ImageNet has two "maillot")."""
    words = folder / "words.txt"
    if not words.is_file():
        return wnids
    lines = words.read_text(encoding="utf-8").splitlines()
    synonyms = dict(line.split("\t", 1) for line in lines if "\t" in line)
    names = [synonyms[w].split(",")[0].strip() if w in synonyms else w for w in wnids]
    return [f"{n} ({w})" if names.count(n) > 1 else n for n, w in zip(names, wnids, strict=True)]


def train_samples(folder: Path, wnids: list[str]) -> tuple[list[Path], list[int]]:
    paths: list[Path] = []
    labels: list[int] = []
    for label, wnid in enumerate(wnids):
        image_dir = folder / "train" / wnid / "images"
        images = sorted(image_dir.glob("*.JPEG"))
        if not images:
            raise DataError(f"Tiny ImageNet: {image_dir} holds no .JPEG files; {_hint(folder)}")
        paths += images
        labels += [label] * len(images)
    return paths, labels


def val_samples(folder: Path, wnids: list[str]) -> tuple[list[Path], list[int]]:
    """Validation images and labels from ``val_annotations.txt`` (``name\\twnid\\tbox...``)."""
    annotations = folder / "val" / "val_annotations.txt"
    if not annotations.is_file():
        raise DataError(f"Tiny ImageNet: {annotations} not found; {_hint(folder)}")
    label_of = {wnid: label for label, wnid in enumerate(wnids)}
    paths: list[Path] = []
    labels: list[int] = []
    for number, line in enumerate(annotations.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in label_of:
            raise DataError(
                f"Tiny ImageNet: {annotations}:{number}: expected "
                f"'<image>\\t<wnid listed in wnids.txt>\\t...', got {line!r}"
            )
        path = folder / "val" / "images" / fields[0]
        if not path.is_file():
            raise DataError(
                f"Tiny ImageNet: {path} (listed in {annotations}:{number}) not found; "
                f"{_hint(folder)}"
            )
        paths.append(path)
        labels.append(label_of[fields[1]])
    return paths, labels


@DATASETS.register("tinyimagenet")
def load_tinyimagenet(cfg: DataConfig) -> DatasetBundle:
    """Train on ``train/``, test on ``val/``, each capped by ``max_per_class``/``limit`` if set."""
    folder = locate(cfg.data_root())
    wnids = read_wnids(folder)
    splits = []
    for (paths, labels), is_train in (
        (train_samples(folder, wnids), True),
        (val_samples(folder, wnids), False),
    ):
        label_array = np.asarray(labels, dtype=np.int64)
        kept = select_subset(label_array, cfg.max_per_class, cfg.limit, cfg.split_seed)
        pipeline = image_pipeline(cfg, is_train, MEAN, STD)
        source = JpegImages([paths[i] for i in kept])
        splits.append(StaticImageDataset(source, label_array[kept].tolist(), pipeline))
    side = cfg.frame_size or SIDE
    return DatasetBundle(
        train=splits[0],
        test=splits[1],
        input_shape=(CHANNELS, side, side),
        num_classes=len(wnids),
        class_names=read_class_names(folder, wnids),
        source=f"Tiny ImageNet {folder}",
    )
