"""Stratified splits and seeded subsets."""

from __future__ import annotations

import numpy as np
import pytest
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
    with pytest.raises(DataError, match=r"events /x: cannot split 5 samples of 2 classes \(smallest class: 1\)"):
        stratified_split(np.array([0, 0, 0, 0, 1]), 0.2, seed=0, what="events /x")


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.integers(0, 5), min_size=1, max_size=60),
    max_per_class=st.none() | st.integers(1, 8),
    limit=st.none() | st.integers(1, 30),
    seed=st.integers(0, 2**16),
)
def test_subset_respects_both_caps_and_keeps_as_many_as_they_allow(labels, max_per_class, limit, seed) -> None:
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
