"""DataConfig refuses settings its dataset would ignore, naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from mdsnn_search.data import DataConfig


def test_defaults_match_the_documented_interface() -> None:
    cfg = DataConfig(name="digits", timesteps=4)
    assert (cfg.encoding, cfg.test_fraction, cfg.split_seed, cfg.augment) == (
        "direct",
        0.2,
        42,
        False,
    )
    assert cfg.root is cfg.frame_size is cfg.max_per_class is cfg.limit is cfg.cache_dir is None
    assert cfg.download is False


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"name": "cifar10"}, "root is required for dataset 'cifar10'"),
        ({"name": "digits", "root": "/data"}, "root: digits ships with scikit-learn"),
        (
            {"name": "cifar100", "root": "/d", "download": True},
            r"never downloaded; get cifar100 from https://www\.cs\.toronto\.edu",
        ),
        ({"name": "digits", "download": True}, "nothing to download"),
        ({"name": "events", "root": "/d", "encoding": "poisson"}, "only 'direct' applies"),
        ({"name": "digits", "augment": True}, "augment: .* does not apply to digits"),
        ({"name": "cifar10", "root": "/d", "test_fraction": 0.1}, "official test split"),
        (
            {"name": "cifar10", "root": "/d", "sensor_size": [34, 34]},
            "sensor_size: only applies to dataset 'events'",
        ),
        ({"name": "digits", "event_norm": "max"}, "event_norm: only applies"),
        ({"name": "events", "root": "/d", "sensor_size": [0, 34]}, "sensor_size must be positive"),
        ({"name": "digits", "timesteps": 0}, "timesteps"),
        ({"name": "digits", "test_fraction": 1.0}, "test_fraction"),
        ({"name": "digits", "max_per_class": 0}, "max_per_class"),
        ({"name": "digits", "split_seed": -1}, "split_seed"),
        ({"name": "digits", "encodng": "poisson"}, "encodng"),
        ({"name": "mnist"}, "name"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(settings, message) -> None:
    with pytest.raises(ValidationError, match=message):
        DataConfig(**{"timesteps": 4, **settings})


def test_round_trips_through_yaml_and_json(tmp_path: Path) -> None:
    cfg = DataConfig(
        name="events",
        root=tmp_path,
        timesteps=8,
        frame_size=48,
        sensor_size=(34, 34),
        event_norm="binary",
        max_per_class=10,
        cache_dir=tmp_path / "cache",
    )
    dumped = cfg.model_dump(mode="json", exclude_unset=True)
    assert DataConfig.model_validate(yaml.safe_load(yaml.safe_dump(dumped))) == cfg
    assert DataConfig.model_validate_json(json.dumps(dumped)) == cfg


@pytest.mark.parametrize("name", ["digits", "events", "cifar10", "tinyimagenet"])
def test_config_survives_a_dump_and_reload(name: str, tmp_path: Path) -> None:
    """Specs are stored as JSON and reloaded in each trial: every field is then 'set'."""
    config = DataConfig(name=name, timesteps=3, root=None if name == "digits" else tmp_path)
    assert DataConfig.model_validate(config.model_dump(mode="json")) == config
