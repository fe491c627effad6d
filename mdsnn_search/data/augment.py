"""Train-time augmentation of still images: the standard CIFAR recipe.

Random crop after zero padding, then a horizontal flip with probability 1/2 (as torchvision's
``RandomCrop(size, padding=4)`` + ``RandomHorizontalFlip()``). Written on tensors with an explicit
generator so a loader's seed alone fixes every draw; torchvision's transforms use the global RNG.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop_flip(
    image: Tensor, padding: int, generator: torch.Generator | None = None
) -> Tensor:
    """Crop ``image`` ``[C, H, W]`` back to its size out of a zero-padded copy; maybe flip it.

    Zero padding is black, because this runs before mean/std normalisation, as in the usual
    PIL-then-``ToTensor`` pipeline.
    """
    height, width = image.shape[-2:]
    padded = F.pad(image, (padding, padding, padding, padding))
    top, left = torch.randint(0, 2 * padding + 1, (2,), generator=generator).tolist()
    flip = bool(torch.randint(0, 2, (), generator=generator))
    crop = padded[:, top : top + height, left : left + width]
    return crop.flip(-1) if flip else crop
