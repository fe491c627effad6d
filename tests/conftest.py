"""Shared fixtures: a tiny digits setup that trains in a second or two."""

from __future__ import annotations

import pytest
import torch

from mdsnn_search.data import DataConfig, DatasetBundle, load_dataset

RAY_GROUPS = {"test_search_signals": "ray-a", "test_oneshot_study": "ray-a"}
"""Ray test modules by xdist group (the others: ``ray-b``); the two groups run side by side."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``) the tests that start a service run one after
    another within their group: two local Rays at a time (a third would only queue on two cores
    and stretch their start-up timeouts), PostgreSQL beside them. Everything else spreads over
    the workers."""
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(pytest.mark.xdist_group("postgres"))
        elif item.get_closest_marker("ray"):
            group = RAY_GROUPS.get(item.path.stem, "ray-b")
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def _one_torch_thread() -> None:
    """Tests are tiny: a second thread costs more in contention than it saves."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits_small() -> DatasetBundle:
    """Digits at T=2, 30 images per class per split."""
    return load_dataset(DataConfig(name="digits", timesteps=2, max_per_class=30))
