"""A tiny digits study: a few trials of one short epoch each, into a temporary SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml


def tiny_spec(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "study": {
            "name": "tiny",
            "storage": f"sqlite:///{tmp_path / 'tiny.db'}",
            "n_trials": 4,
            "seed": 0,
            "baselines": ["fp32", "w4u4"],
        },
        "data": {"name": "digits", "timesteps": 2, "max_per_class": 20},
        "model": {"arch": "vgg5", "width": 0.5},
        "teacher": {"training": {"epochs": 4, "batch_size": 16, "lr": 0.003}},
        "training": {"epochs": 1, "batch_size": 16, "lr": 0.003},
        "search_space": {"w_bits": [2, 4], "u_bits": [2, 4], "bn_bits": [8], "fixed_layers": {"conv1": {"w_bits": 8}}},
        "execution": {"backend": "inline", "max_concurrent": 2},
    }
    for section, values in overrides.items():
        spec[section] = {**spec.get(section, {}), **values}
    return spec


@pytest.fixture
def write_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Write a tiny spec (with section overrides) and work inside tmp_path (studies/ goes there)."""
    monkeypatch.chdir(tmp_path)

    def write(name: str = "spec.yaml", **overrides: Any) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(tiny_spec(tmp_path, **overrides)))
        return path

    return write
