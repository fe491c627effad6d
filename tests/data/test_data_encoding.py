"""Direct and Poisson coding, and the crop-and-flip augmentation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mdsnn_search.data import direct_encode, poisson_encode
from mdsnn_search.data.augment import random_crop_flip


def test_direct_coding_repeats_the_image_without_copying_it() -> None:
    image = torch.rand(3, 5, 5)
    seq = direct_encode(image, 6)
    assert seq.shape == (6, 3, 5, 5)
    assert seq.data_ptr() == image.data_ptr()
    assert all(torch.equal(frame, image) for frame in seq)


def test_poisson_spike_rate_matches_the_intensity() -> None:
    intensity = torch.linspace(0.0, 1.0, 21).view(1, 1, 21)
    spikes = poisson_encode(intensity, 4000, torch.Generator().manual_seed(0))
    assert spikes.dtype == torch.float32 and set(spikes.unique().tolist()) <= {0.0, 1.0}
    rate = spikes.mean(dim=0)
    # 4000 Bernoulli draws: the standard error is at most 0.008; 4 sigma is 0.032.
    torch.testing.assert_close(rate, intensity, atol=0.032, rtol=0.0)
    assert rate[0, 0, 0] == 0.0 and rate[0, 0, -1] == 1.0


def test_poisson_draws_are_reproducible_given_the_generator() -> None:
    image = torch.rand(1, 8, 8)
    first = poisson_encode(image, 5, torch.Generator().manual_seed(7))
    assert torch.equal(first, poisson_encode(image, 5, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, poisson_encode(image, 5, torch.Generator().manual_seed(8)))


def test_crop_and_flip_returns_a_shifted_window_of_the_zero_padded_image() -> None:
    image = torch.rand(3, 8, 8) + 0.1  # nonzero, so padding is recognisable
    padded = F.pad(image, (4, 4, 4, 4))
    windows = {
        (top, left, flip): (
            padded[:, top : top + 8, left : left + 8].flip(-1)
            if flip
            else padded[:, top : top + 8, left : left + 8]
        )
        for top in range(9)
        for left in range(9)
        for flip in (0, 1)
    }
    generator = torch.Generator().manual_seed(0)
    seen = []
    for _ in range(400):
        out = random_crop_flip(image, 4, generator)
        match = [key for key, window in windows.items() if torch.equal(out, window)]
        assert len(match) == 1
        seen.append(match[0])
    assert 0.4 < sum(flip for _, _, flip in seen) / len(seen) < 0.6
    assert {key[0] for key in seen} == set(range(9)) and {key[1] for key in seen} == set(range(9))
