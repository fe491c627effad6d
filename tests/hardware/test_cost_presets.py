"""Shipped presets: every one loads, round-trips, is documented field by field, and scores."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware import HardwarePreset, LayerSpec, estimate_cost, load_preset, preset_names
from mdsnn_search.hardware.preset import SIMULATORS_DIR

SHIPPED = preset_names()


def test_the_required_presets_ship() -> None:
    assert {"spikesim_rram_64", "rram_64", "rram_128", "sram_64"} <= set(SHIPPED)
    assert Path(__file__).resolve().parents[2] / "simulators" == SIMULATORS_DIR


@pytest.mark.parametrize("name", SHIPPED)
def test_preset_round_trips_through_yaml(name: str) -> None:
    preset = load_preset(name)
    assert preset.name == name
    assert HardwarePreset.model_validate(yaml.safe_load(yaml.safe_dump(preset.model_dump()))) == preset


@pytest.mark.parametrize("name", SHIPPED)
def test_every_field_is_commented(name: str) -> None:
    """Each key line of a shipped preset carries a comment (on the line, or for a section on it
    or its first child)."""
    lines = (SIMULATORS_DIR / f"{name}.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or ":" not in stripped:
            continue
        key, _, value = stripped.partition(":")
        if key in ("name", "description"):
            continue
        section = value.strip() == "" or value.strip().startswith("#")
        if section and "#" not in line:
            assert "#" in lines[i + 1], f"{name}.yaml: section {key} is not documented"
        elif not section:
            assert "#" in value, f"{name}.yaml line {i + 1}: {key} has no comment"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_preset_scores_a_layer(name: str) -> None:
    layer = LayerSpec("c", 3, 64, 3, 16, 16, 16, 16)
    report = estimate_cost([layer], load_preset(name), timesteps=2)
    assert report.energy_pj > 0 and report.area_um2 > 0 and report.latency_ns > 0


def test_unknown_name_lists_known_and_closest() -> None:
    with pytest.raises(ConfigError) as info:
        load_preset("sram64")
    message = str(info.value)
    assert "did you mean 'sram_64'?" in message
    for name in SHIPPED:
        assert name in message


def test_load_by_path(tmp_path: Path) -> None:
    text = (SIMULATORS_DIR / "rram_64.yaml").read_text().replace("name: rram_64", "name: mine")
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    assert load_preset(path).name == "mine"
    assert load_preset(str(path)).name == "mine"


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("engine: aware", "engine: magic"), "engine: Input should be 'spikesim' or 'aware'"),
        (("  adc: 2.03084", "  adc: -1"), "energy_pj.adc: Input should be greater than or equal to 0"),
        (("  bits: 4 ", "  bits: 4\n  colour: red "), "adc.colour: Extra inputs are not permitted"),
        (("  size: 64", "  size: 60"), "mux_ratio must divide size"),
    ],
)
def test_bad_preset_names_file_and_field(tmp_path: Path, edit: tuple[str, str], needle: str) -> None:
    text = (SIMULATORS_DIR / "rram_64.yaml").read_text()
    assert edit[0] in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError) as info:
        load_preset(path)
    assert str(path) in str(info.value) and needle in str(info.value)


def test_derived_quantities() -> None:
    spikesim = load_preset("spikesim_rram_64")
    assert spikesim.crossbar.pe_cycle_ns == 104.0
    assert spikesim.crossbar.adcs_per_pe == 8
    assert load_preset("rram_128").crossbar.adcs_per_pe == 16


def test_with_overrides_validates() -> None:
    preset = load_preset("rram_64")
    assert preset.with_overrides(engine="spikesim").engine == "spikesim"
    assert preset.with_overrides(conventions={"output_side": "pooled"}).conventions.include_linear is True
    with pytest.raises(ConfigError, match=r"conventions\.output_side"):
        preset.with_overrides(conventions={"output_side": "sideways"})
    with pytest.raises(ConfigError, match="no field 'colour'"):
        preset.with_overrides(colour="red")
