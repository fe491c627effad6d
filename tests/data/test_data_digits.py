"""scikit-learn's digits: the offline default dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from mdsnn_search.data import DataConfig, load_dataset, make_loader


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(name="digits", timesteps=4))


@pytest.fixture(scope="module")
def raw():
    return load_digits()


def test_shapes_and_classes(digits) -> None:
    assert digits.input_shape == (1, 8, 8)
    assert digits.num_classes == 10 and digits.class_names == [str(d) for d in range(10)]
    assert len(digits.train) + len(digits.test) == 1797
    x, y = next(iter(make_loader(digits.train, batch_size=64, shuffle=True, seed=0)))
    assert x.shape == (4, 64, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_direct_coding_repeats_the_image_scaled_to_unit_range(digits, raw) -> None:
    flat = raw.images.reshape(len(raw.images), -1)
    for x, y in (digits.train[0], digits.test[5]):
        assert all(torch.equal(frame, x[0]) for frame in x)
        assert 0.0 <= x.min() and x.max() <= 1.0
        matches = np.flatnonzero((flat == (x[0].numpy() * 16).reshape(-1)).all(axis=1))
        assert len(matches) >= 1 and raw.target[matches[0]] == y


def test_split_is_stratified_disjoint_and_fixed_by_the_seed(digits, raw) -> None:
    test_counts = np.bincount(digits.test.labels, minlength=10)
    expected = np.bincount(raw.target) * 0.2
    assert np.all(np.abs(test_counts - expected) <= 1)
    again = load_dataset(DataConfig(name="digits", timesteps=4))
    assert again.test.labels == digits.test.labels
    assert torch.equal(again.test.source.images, digits.test.source.images)
    other = load_dataset(DataConfig(name="digits", timesteps=4, split_seed=7))
    assert not torch.equal(other.test.source.images, digits.test.source.images)
    together = torch.cat([digits.train.source.images, digits.test.source.images]).flatten(1).numpy()
    original = (raw.images / 16).reshape(len(raw.images), -1).astype(np.float32)
    assert np.array_equal(
        np.unique(together, axis=0, return_counts=True)[1],
        np.unique(original, axis=0, return_counts=True)[1],
    )
    assert np.array_equal(np.unique(together, axis=0), np.unique(original, axis=0))


def test_subset_caps_each_split(raw) -> None:
    capped = load_dataset(DataConfig(name="digits", timesteps=2, max_per_class=7, limit=60))
    assert len(capped.train) == 60 and np.bincount(capped.train.labels).max() <= 7
    assert len(capped.test) == 60 and np.bincount(capped.test.labels).max() <= 7


def test_frame_size_resizes_the_images() -> None:
    bundle = load_dataset(DataConfig(name="digits", timesteps=2, frame_size=16, limit=4))
    x, _ = bundle.train[0]
    assert bundle.input_shape == (1, 16, 16) and x.shape == (2, 1, 16, 16)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_poisson_coding_fires_at_the_pixel_intensity() -> None:
    bundle = load_dataset(DataConfig(name="digits", timesteps=1000, encoding="poisson", limit=3))
    direct = load_dataset(DataConfig(name="digits", timesteps=1, limit=3))
    spikes, y = bundle.train[1]
    intensity, y_direct = direct.train[1]
    assert y == y_direct and set(spikes.unique().tolist()) <= {0.0, 1.0}
    # 1000 draws: standard error at most 0.016; 5 sigma over 64 pixels.
    torch.testing.assert_close(spikes.mean(dim=0), intensity[0], atol=0.08, rtol=0.0)
