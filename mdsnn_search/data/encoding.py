"""Spike encodings: how a still image ``[C, H, W]`` becomes an input sequence ``[T, C, H, W]``.

Direct coding feeds the analog image at every step and lets the first spiking layer do the
encoding; it is what most deep SNNs on CIFAR use. Poisson (rate) coding emits binary spikes whose
firing probability per step is the pixel intensity, the classic input for neuromorphic hardware.
"""

from __future__ import annotations

import torch
from torch import Tensor


def direct_encode(image: Tensor, timesteps: int) -> Tensor:
    """The image repeated over ``timesteps``: an expanded view, so no memory is copied.

    Batching (``torch.stack``) materialises it; callers that write into the result must
    ``.clone()`` it first.
    """
    return image.unsqueeze(0).expand(timesteps, *image.shape)


def poisson_encode(
    image: Tensor, timesteps: int, generator: torch.Generator | None = None
) -> Tensor:
    """Bernoulli spikes ``[T, C, H, W]`` (float32 0/1) with ``P(spike) = intensity``.

    ``image`` must hold intensities in [0, 1]. Draws come from ``generator`` (the global torch
    RNG if None), so a seeded generator reproduces the spike trains exactly.
    """
    noise = torch.rand((timesteps, *image.shape), generator=generator)
    return (noise < image).to(torch.float32)
