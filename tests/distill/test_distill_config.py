"""DistillConfig: validation, the layer set it resolves to, and the YAML round trip."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from mdsnn_search.distill import DistillConfig
from mdsnn_search.errors import ConfigError

VGG5_LAYERS = ["conv1", "conv2", "conv3", "conv4"]
RESNET_LAYERS = ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1", "layer2.0.conv2"]


def test_defaults_switch_everything_but_ce_off() -> None:
    config = DistillConfig()
    assert config.layers == [] and config.kd_weight == 0.0 and config.spike_weight == 0.0
    assert not config.uses_membrane and not config.uses_kd and not config.uses_teacher
    assert config.teacher_temperature == config.student_temperature  # conventional KD by default
    assert config.resolve_layers(VGG5_LAYERS) == {}


@pytest.mark.parametrize(
    "settings",
    [
        {"unknown": 1},
        {"membrane_weight": -0.1},
        {"kd_weight": -1.0},
        {"spike_weight": -1.0},
        {"teacher_temperature": 0.0},
        {"student_temperature": -2.0},
        {"membrane_norm": "l2"},
        {"teacher_bn": "eval"},
        {"layers": ["conv1", "conv1"]},
        {"layers": "some"},
        {"layer_weights": {"conv1": -1.0}},
        {"layer_weights": {"conv1": float("nan")}},
    ],
)
def test_invalid_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DistillConfig.model_validate(settings)


def test_config_is_frozen() -> None:
    with pytest.raises(ValidationError):
        DistillConfig().kd_weight = 1.0  # type: ignore[misc]


def test_all_and_star_pick_every_layer_in_network_order() -> None:
    expected = dict.fromkeys(VGG5_LAYERS, 1.0)
    assert DistillConfig(layers="all").resolve_layers(VGG5_LAYERS) == expected
    assert DistillConfig(layers=["*"]).resolve_layers(VGG5_LAYERS) == expected
    assert list(DistillConfig(layers=["conv4", "conv1"]).resolve_layers(VGG5_LAYERS)) == [
        "conv1",
        "conv4",
    ]


def test_patterns_and_per_layer_weights_later_key_wins() -> None:
    config = DistillConfig(
        layers=["layer*.conv2", "conv1"],
        layer_weights={"layer*": 0.5, "layer2.0.conv2": 2.0, "conv1": 0.0},
    )
    # conv1 is in the set but weighs 0, so it is dropped and costs nothing.
    assert config.resolve_layers(RESNET_LAYERS) == {"layer1.0.conv2": 0.5, "layer2.0.conv2": 2.0}


def test_weight_for_a_layer_outside_the_set_is_unused() -> None:
    config = DistillConfig(layers=["conv2"], layer_weights={"conv3": 4.0})
    assert config.resolve_layers(VGG5_LAYERS) == {"conv2": 1.0}


def test_zero_membrane_weight_empties_the_set() -> None:
    config = DistillConfig(layers="all", membrane_weight=0.0, kd_weight=1.0)
    assert config.resolve_layers(VGG5_LAYERS) == {}
    assert not config.uses_membrane and config.uses_teacher


def test_unknown_layer_names_the_field_the_known_layers_and_a_close_match() -> None:
    with pytest.raises(ConfigError) as info:
        DistillConfig(layers=["conv5"]).resolve_layers(VGG5_LAYERS, where="vgg5")
    message = str(info.value)
    assert "distill.layers" in message and "'conv5'" in message and "vgg5" in message
    assert "conv1, conv2, conv3, conv4" in message and "did you mean" in message
    with pytest.raises(ConfigError, match="distill.layer_weights: 'fc'"):
        DistillConfig(layers="all", layer_weights={"fc": 1.0}).resolve_layers(VGG5_LAYERS)


def test_yaml_round_trip() -> None:
    config = DistillConfig(
        layers=["conv1", "conv3"],
        layer_weights={"conv3": 0.5},
        membrane_weight=2.0,
        membrane_norm="threshold",
        kd_weight=0.5,
        teacher_temperature=4.0,
        student_temperature=1.5,
        spike_weight=0.01,
        teacher_bn="batch",
        init_from_teacher=False,
    )
    text = yaml.safe_dump(config.model_dump(mode="json"))
    assert DistillConfig.model_validate(yaml.safe_load(text)) == config
    assert DistillConfig.model_validate(yaml.safe_load("layers: all\n")).layers == "all"
