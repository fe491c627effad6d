"""Shipped presets: every one loads, round-trips, is documented field by field, and scores."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware import (
    HardwarePreset,
    LayerSpec,
    estimate_cost,
    load_preset,
    preset_names,
)
from mdsnn_search.hardware.preset import SHIPPED_PRESETS

REPO = Path(__file__).resolve().parents[2]
SHIPPED = preset_names()


def preset_text(name: str) -> str:
    return (SHIPPED_PRESETS / f"{name}.yaml").read_text()


def test_the_required_presets_ship_as_package_data() -> None:
    assert {"spikesim_rram_64", "rram_64", "rram_128", "sram_64"} <= set(SHIPPED)
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    patterns = package_data["mdsnn_search.hardware"]
    shipped = {path.name for path in (REPO / "mdsnn_search" / "hardware").glob(patterns[0])}
    assert shipped == {f"{name}.yaml" for name in SHIPPED}


@pytest.mark.parametrize("name", SHIPPED)
def test_preset_round_trips_through_yaml(name: str) -> None:
    preset = load_preset(name)
    assert preset.name == name
    assert (
        HardwarePreset.model_validate(yaml.safe_load(yaml.safe_dump(preset.model_dump()))) == preset
    )


@pytest.mark.parametrize("name", SHIPPED)
def test_every_field_is_commented(name: str) -> None:
    """Each key line of a shipped preset carries a comment (on the line, or for a section on it
    or its first child)."""
    lines = preset_text(name).splitlines()
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
    text = preset_text("rram_64").replace("name: rram_64", "name: mine")
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    assert load_preset(path).name == "mine"
    assert load_preset(str(path)).name == "mine"


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("engine: aware", "engine: magic"), "engine: Input should be 'spikesim' or 'aware'"),
        (
            ("  adc: 2.03084", "  adc: -1"),
            "energy_pj.adc: Input should be greater than or equal to 0",
        ),
        (("  bits: 4 ", "  bits: 4\n  colour: red "), "adc.colour: Extra inputs are not permitted"),
        (("  size: 64", "  size: 60"), "mux_ratio must divide size"),
        (
            ("  min_bits: 1 ", "  min_bits: 5 "),
            "min_bits <= bits must hold, but got (min_bits=5, bits=4)",
        ),
        (
            ("  pe_cycle_clocks: 26", "  pe_cycle_clocks: 12"),
            "the conversions of one PE cycle must fit in it",
        ),
    ],
)
def test_bad_preset_names_file_and_field(
    tmp_path: Path, edit: tuple[str, str], needle: str
) -> None:
    text = preset_text("rram_64")
    assert edit[0] in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError) as info:
        load_preset(path)
    assert str(path) in str(info.value) and needle in str(info.value)


def test_derived_quantities() -> None:
    spikesim = load_preset("spikesim_rram_64")
    assert spikesim.crossbar.pe_cycle_ns == 104.0
    assert spikesim.crossbar.clock_ns == 4.0
    assert spikesim.crossbar.adcs_per_pe == 8
    assert load_preset("rram_128").crossbar.adcs_per_pe == 16


def test_with_overrides_validates() -> None:
    preset = load_preset("rram_64")
    assert preset.with_overrides(engine="spikesim").engine == "spikesim"
    assert (
        preset.with_overrides(conventions={"output_side": "pooled"}).conventions.include_linear
        is True
    )
    with pytest.raises(ConfigError, match=r"conventions\.output_side"):
        preset.with_overrides(conventions={"output_side": "sideways"})
    with pytest.raises(ConfigError, match="no field 'colour'"):
        preset.with_overrides(colour="red")


def test_spikesim_preset_states_spikesims_conventions() -> None:
    spikesim = load_preset("spikesim_rram_64")
    assert spikesim.conventions.output_side == "pooled" and not spikesim.conventions.include_linear
    assert spikesim.crossbar.tile_packing == "packed" and not spikesim.adc.follow_slice_bits
    assert all(spikesim.quirks.model_dump().values())
    for name in ("rram_64", "rram_128", "sram_64"):
        preset = load_preset(name)
        assert preset.adc.follow_slice_bits and preset.crossbar.tile_packing == "packed"
        assert not any(preset.quirks.model_dump().values())


@pytest.mark.slow
def test_a_built_wheel_finds_the_presets(tmp_path: Path) -> None:
    """Built from a copy of the sources (setuptools writes build/ next to them) without network, and
    unpacked outside the checkout, the wheel's own package loads ``rram_64`` from its own files."""
    import shutil
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "source"
    shutil.copytree(
        REPO / "mdsnn_search", source / "mdsnn_search", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    build = ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)]
    subprocess.run([sys.executable, "-m", "pip", *build], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("mdsnn_search-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        assert {f"mdsnn_search/hardware/presets/{name}.yaml" for name in SHIPPED} <= set(
            archive.namelist()
        )
        archive.extractall(site)
    code = (
        "import mdsnn_search.hardware as h; from pathlib import Path; "
        "assert Path(h.__file__).is_relative_to(Path.cwd()), h.__file__; "
        "print(h.load_preset('rram_64').name, ','.join(h.preset_names()))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, '.'); {code}"],
        cwd=site,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["rram_64", ",".join(SHIPPED)]
