"""Shared fixtures: a tiny digits setup that trains in a second or two."""

from __future__ import annotations

import pytest
import torch

from mdsnn_search.data import DataConfig, DatasetBundle, load_dataset

SERVICE_MARKERS = ("ray", "postgres")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist the tests that start Ray or PostgreSQL run one after another on one
    worker (``--dist loadgroup``): two local Rays at once would compete for the machine's CPUs
    and a Ray test's resource checks count them. Everything else spreads over the workers."""
    for item in items:
        if any(item.get_closest_marker(name) for name in SERVICE_MARKERS):
            item.add_marker(pytest.mark.xdist_group("services"))


@pytest.fixture(autouse=True)
def _one_torch_thread() -> None:
    """Tests are tiny: a second thread costs more in contention than it saves."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits_small() -> DatasetBundle:
    """Digits at T=2, 30 images per class per split."""
    return load_dataset(DataConfig(name="digits", timesteps=2, max_per_class=30))
