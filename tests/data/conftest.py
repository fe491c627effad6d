"""Fixtures of the dataset tests: tiny datasets written in the real formats (see data_formats)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from data_formats import (
    make_cifar10,
    make_cifar100,
    make_event_folder,
    make_mnist,
    make_tinyimagenet,
)

from mdsnn_search.data import DataConfig


@pytest.fixture
def config_for(tmp_path: Path) -> Callable[..., DataConfig]:
    """``config_for(name, **settings)``: a DataConfig whose root holds a tiny dataset ``name``."""
    makers: dict[str, Callable[[Path], Path]] = {
        "events": make_event_folder,
        "mnist": make_mnist,
        "cifar10": make_cifar10,
        "cifar100": make_cifar100,
        "tinyimagenet": make_tinyimagenet,
    }

    def build(name: str, **settings: object) -> DataConfig:
        if name in ("digits", "mnist5k"):
            return DataConfig(name=name, **settings)
        root = makers[name](tmp_path / name)
        if name == "events":
            settings.setdefault("cache_dir", tmp_path / "cache")
        return DataConfig(name=name, root=root, **settings)

    return build
