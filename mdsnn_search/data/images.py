"""Still-image datasets (digits, CIFAR, TinyImageNet): a source of images plus one pipeline.

The pipeline runs per item: resize (if asked), augment (training set, if asked), then encode over
time. Direct coding normalises by the dataset's mean/std; Poisson coding needs intensities in
[0, 1] and so skips normalisation. Random draws go through an explicit generator (see
:func:`mdsnn_search.data.loader.make_loader`), which makes a loader's seed enough to reproduce them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from mdsnn_search.data.augment import random_crop_flip
from mdsnn_search.data.config import DataConfig, Encoding
from mdsnn_search.data.encoding import direct_encode, poisson_encode

AUGMENT_PADDING = 4
"""Zero padding of the random crop, in pixels (the CIFAR recipe)."""


class ImageSource(Protocol):
    """Random access to images ``[C, H, W]`` as float32 intensities in [0, 1]."""

    def __len__(self) -> int: ...

    def image(self, index: int) -> Tensor: ...


class TensorImages:
    """Images held in memory as ``[N, C, H, W]``: uint8 (0..255) or float already in [0, 1].

    uint8 keeps CIFAR at a quarter of its float size; conversion happens per item.
    """

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def image(self, index: int) -> Tensor:
        image = self.images[index]
        return image.float().div_(255.0) if image.dtype == torch.uint8 else image


class ImagePipeline:
    """Turns one image into an input sequence ``[T, C, H, W]``."""

    def __init__(
        self,
        timesteps: int,
        encoding: Encoding,
        size: int | None = None,
        augment: bool = False,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        self.timesteps = timesteps
        self.encoding = encoding
        self.size = size
        self.augment = augment
        self._mean = None if mean is None else torch.tensor(mean).view(-1, 1, 1)
        self._std = None if std is None else torch.tensor(std).view(-1, 1, 1)

    def __call__(self, image: Tensor, generator: torch.Generator | None) -> Tensor:
        if self.size is not None and image.shape[-2:] != (self.size, self.size):
            image = F.interpolate(
                image[None], size=(self.size, self.size), mode="bilinear", antialias=True
            )[0].clamp_(0.0, 1.0)
        if self.augment:
            image = random_crop_flip(image, AUGMENT_PADDING, generator)
        if self.encoding == "poisson":
            return poisson_encode(image, self.timesteps, generator)
        if self._mean is not None and self._std is not None:
            image = (image - self._mean) / self._std
        return direct_encode(image, self.timesteps)


def image_pipeline(
    cfg: DataConfig, train: bool, mean: Sequence[float] | None, std: Sequence[float] | None
) -> ImagePipeline:
    """The pipeline ``cfg`` asks for; augmentation only ever applies to the training split."""
    return ImagePipeline(
        cfg.timesteps, cfg.encoding, cfg.frame_size, cfg.augment and train, mean, std
    )


class StaticImageDataset(Dataset[tuple[Tensor, int]]):
    """Items ``(x [T, C, H, W] float32, y int)`` from an image source and its labels."""

    def __init__(self, source: ImageSource, labels: Sequence[int], pipeline: ImagePipeline) -> None:
        if len(source) != len(labels):
            raise ValueError(f"{len(source)} images but {len(labels)} labels")
        self.source = source
        self.labels = [int(label) for label in labels]
        self.pipeline = pipeline

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.draw(index, None)

    def draw(self, index: int, generator: torch.Generator | None) -> tuple[Tensor, int]:
        """The item at ``index``, with any randomness drawn from ``generator``."""
        return self.pipeline(self.source.image(index), generator), self.labels[index]
