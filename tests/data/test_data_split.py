"""Stratified splits and seeded subsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mdsnn_search.data.split import select_subset, stratified_split
from mdsnn_search.errors import DataError


def test_stratified_split_keeps_each_class_share_and_is_fixed_by_the_seed() -> None:
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    train, test = stratified_split(labels, 0.2, seed=3, what="x")
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(100))
    assert np.bincount(labels[test]).tolist() == [2, 4, 6, 8]
    again, _ = stratified_split(labels, 0.2, seed=3, what="x")
    other, _ = stratified_split(labels, 0.2, seed=4, what="x")
    assert np.array_equal(train, again) and not np.array_equal(train, other)


def test_classes_too_small_to_split_raise_a_data_error_naming_the_dataset() -> None:
    with pytest.raises(
        DataError, match=r"events /x: cannot split 5 samples of 2 classes \(smallest class: 1\)"
    ):
        stratified_split(np.array([0, 0, 0, 0, 1]), 0.2, seed=0, what="events /x")


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.integers(0, 5), min_size=1, max_size=60),
    max_per_class=st.none() | st.integers(1, 8),
    limit=st.none() | st.integers(1, 30),
    seed=st.integers(0, 2**16),
)
def test_subset_respects_both_caps_and_keeps_as_many_as_they_allow(
    labels, max_per_class, limit, seed
) -> None:
    labels = np.asarray(labels, dtype=np.int64)
    kept = select_subset(labels, max_per_class, limit, seed)
    assert np.array_equal(kept, np.unique(kept)) and kept.dtype == np.int64
    counts = np.bincount(labels[kept], minlength=6)
    capped = np.minimum(np.bincount(labels, minlength=6), max_per_class or len(labels))
    assert np.all(counts <= capped)
    assert len(kept) == min(capped.sum(), limit or len(labels))
    if limit is None:
        assert np.array_equal(counts, capped)
    assert np.array_equal(kept, select_subset(labels, max_per_class, limit, seed))


def test_subset_choice_depends_on_the_seed() -> None:
    labels = np.repeat(np.arange(3), 50)
    picks = {tuple(select_subset(labels, 5, None, seed)) for seed in range(4)}
    assert len(picks) == 4


def test_validation_split_is_stratified_seeded_and_disjoint_from_training(config_for) -> None:
    from mdsnn_search.data import load_dataset, make_loader

    bundle = load_dataset(config_for("digits", timesteps=2, max_per_class=20))
    split = bundle.with_validation(0.25, seed=3)
    assert split.with_validation(0.5, seed=0) is split  # a bundle is split once
    assert len(split.train) + len(split.validation) == len(bundle.train)
    assert sorted(np.bincount(split.validation.labels).tolist()) == [5] * 10  # 25 % of each class
    assert not set(split.train.indices) & set(split.validation.indices)
    assert split.test is bundle.test
    again = bundle.with_validation(0.25, seed=3)
    assert again.validation.indices == split.validation.indices
    assert bundle.with_validation(0.25, seed=4).validation.indices != split.validation.indices
    x, y = split.validation[0]
    assert y == split.validation.labels[0] and x.shape == (2, 1, 8, 8)
    x_seq, _ = next(iter(make_loader(split.train, 4, shuffle=True, seed=0)))
    assert x_seq.shape == (2, 4, 1, 8, 8)


def test_validation_split_keeps_random_draws_reproducible(config_for) -> None:
    """Poisson-coded items are drawn through the loader's generator, subset or not."""
    from mdsnn_search.data import load_dataset, make_loader

    bundle = load_dataset(config_for("digits", timesteps=3, encoding="poisson", max_per_class=10))
    split = bundle.with_validation(0.2, seed=0)
    first = [x for x, _ in make_loader(split.train, 8, shuffle=True, seed=5)]
    second = [x for x, _ in make_loader(split.train, 8, shuffle=True, seed=5)]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert set(torch.unique(first[0]).tolist()) <= {0.0, 1.0}
