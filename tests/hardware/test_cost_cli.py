"""``mdsnn-search cost``: in-process through ``mdsnn_search.cli.main``, plus one real subprocess."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mdsnn_search.cli as cli
from mdsnn_search.hardware.render import human

REPO = Path(__file__).resolve().parents[2]
VGG9 = REPO / "simulators" / "examples" / "vgg9_ncaltech101.yaml"
PRESETS = REPO / "mdsnn_search" / "hardware" / "presets"
TOTALS = (
    "energy_pj",
    "latency_ns",
    "area_um2",
    "edap",
    "edp",
    "ops",
    "synops",
    "tops_per_w",
    "tops_per_mm2",
)


@pytest.fixture(autouse=True)
def only_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the parser with the cost subcommand alone, so these tests neither wait for nor
    import the other subcommands (training imports torch)."""
    monkeypatch.setattr(cli, "SUBCOMMANDS", ("cost",))


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert cli.main(["cost", *args, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)  # exactly one JSON document, nothing else


def fail(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(["cost", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("mdsnn-search cost: error: ")
    return captured.err


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_json_has_the_totals_at_top_level(capsys: pytest.CaptureFixture[str]) -> None:
    report = run_json(
        capsys,
        "--layers",
        str(VGG9),
        "--timesteps",
        "10",
        "--weight-bits",
        "4",
        "--membrane-bits",
        "4",
        "--bn-bits",
        "8",
    )
    for key in TOTALS:
        assert isinstance(report[key], float) and report[key] > 0  # type: ignore[operator]
    assert report["conventions"]["preset"] == "rram_64"  # type: ignore[index]
    assert [row["name"] for row in report["layers"]] == [f"conv{i}" for i in range(1, 9)] + ["fc"]  # type: ignore[attr-defined]
    assert report["layers"][0]["w_bits"] == 4  # type: ignore[index]


def test_uniform_bits_default_to_full_precision(capsys: pytest.CaptureFixture[str]) -> None:
    w4 = run_json(capsys, "--layers", str(VGG9), "-T", "2", "--weight-bits", "4")
    assert (w4["layers"][0]["u_bits"], w4["layers"][0]["bn_bits"]) == (32, 32)  # type: ignore[index]
    fp = run_json(capsys, "--layers", str(VGG9), "-T", "2")
    assert fp["energy_pj"] > w4["energy_pj"]  # type: ignore[operator]


def test_spikesim_preset_and_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    pooled = run_json(capsys, "--layers", str(VGG9), "-T", "2", "--hardware", "spikesim_rram_64")
    conv = run_json(
        capsys,
        "--layers",
        str(VGG9),
        "-T",
        "2",
        "--hardware",
        "spikesim_rram_64",
        "--output-side",
        "conv",
    )
    assert (
        pooled["conventions"]["output_side"] == "pooled"
        and conv["conventions"]["output_side"] == "conv"
    )  # type: ignore[index]
    assert pooled["energy_pj"] < conv["energy_pj"]  # type: ignore[operator]
    by_path = run_json(
        capsys,
        "--layers",
        str(VGG9),
        "-T",
        "2",
        "--hardware",
        str(PRESETS / "spikesim_rram_64.yaml"),
    )
    assert by_path["energy_pj"] == pooled["energy_pj"]


def test_spikesims_own_example_from_the_table_and_from_the_builder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # ela_spikesim.py (c2627bc) prints these for its VGG9 at T = 5.
    golden = {
        "energy_pj": 15906934.026240002,
        "area_um2": 8425528.755833998,
        "latency_ns": 62832640.0,
    }
    flags = ["-T", "5", "--hardware", "spikesim_rram_64"]
    from_file = run_json(
        capsys,
        "--layers",
        str(REPO / "simulators" / "examples" / "spikesim_vgg9_cifar10.yaml"),
        *flags,
    )
    assert {key: from_file[key] for key in golden} == golden
    pytest.importorskip("torch")
    from_arch = run_json(
        capsys, "--arch", "vgg9_spikesim", "--input", "3x32x32", "--classes", "10", *flags
    )
    assert {key: from_arch[key] for key in golden} == golden
    assert [row["h_out"] for row in from_arch["layers"]] == [32, 16, 16, 8, 8, 8, 4]  # type: ignore[attr-defined]


def test_keep_ratio_prunes_every_spiking_layer(capsys: pytest.CaptureFixture[str]) -> None:
    half = run_json(
        capsys, "--layers", str(VGG9), "-T", "2", "--weight-bits", "4", "--keep-ratio", "0.5"
    )
    rows = {row["name"]: row for row in half["layers"]}  # type: ignore[attr-defined]
    assert (rows["conv1"]["c_out"], rows["conv2"]["c_in"], rows["conv8"]["c_out"]) == (32, 32, 256)
    assert (rows["fc"]["c_in"], rows["fc"]["c_out"]) == (256 * 9, 101)  # the classes stay
    full = run_json(capsys, "--layers", str(VGG9), "-T", "2", "--weight-bits", "4")
    assert half["edap"] < full["edap"]  # type: ignore[operator]


def test_width_scales_the_builders_channels(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    base = ["--arch", "vgg9", "--input", "2x48x48", "--classes", "101", "-T", "2"]
    narrow = run_json(capsys, *base, "--width", "0.5")
    full = run_json(capsys, *base)
    assert [row["c_out"] for row in narrow["layers"]][:3] == [32, 64, 128]  # type: ignore[attr-defined]
    assert narrow["edap"] < full["edap"]  # type: ignore[operator]


def test_sensitivity_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = [
        "--layers",
        str(VGG9),
        "-T",
        "10",
        "--weight-bits",
        "4",
        "--membrane-bits",
        "4",
        "--bn-bits",
        "8",
    ]
    data = run_json(capsys, *flags, "--sensitivity")
    rows = {row["knob"]: row for row in data["sensitivity"]}  # type: ignore[attr-defined]
    assert list(rows) == [
        "weight bits",
        "membrane bits",
        "BN bits",
        "kept channels",
        "timesteps",
        "input spikes",
    ]
    assert (
        rows["weight bits"]["change"] == "W4 -> W2" and rows["timesteps"]["change"] == "T10 -> T5"
    )
    assert all(row["edap"] < 0 for row in rows.values())
    assert rows["timesteps"]["edap"] == pytest.approx(-0.75)  # energy and latency both halve
    assert data["totals"]["edap"] > 0 and data["totals"]["timesteps"] == 10  # type: ignore[index]
    assert cli.main(["cost", *flags, "--sensitivity"]) == 0
    out = capsys.readouterr().out
    for word in ("Sensitivity", "W4 -> W2", "EDAP", "rule", "Conventions"):
        assert word in out


def test_precision_activity_and_keep_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precision = write(
        tmp_path / "p.yaml",
        "default: {w_bits: 4, u_bits: 4, bn_bits: 8}\n"
        "layers:\n  fc: {w_bits: 8}\n  'conv[78]': {u_bits: 8}\n",
    )
    activity = write(
        tmp_path / "a.json", json.dumps({"conv2": {"input_rate": 0.1, "output_rate": 0.05}})
    )
    keep = write(tmp_path / "k.yaml", "conv1: 0.5\n")
    report = run_json(
        capsys,
        "--layers",
        str(VGG9),
        "-T",
        "4",
        "--precision",
        str(precision),
        "--activity",
        str(activity),
        "--keep",
        str(keep),
    )
    rows = {row["name"]: row for row in report["layers"]}  # type: ignore[attr-defined]
    assert (
        rows["fc"]["w_bits"] == 8 and rows["conv7"]["u_bits"] == 8 and rows["conv1"]["u_bits"] == 4
    )
    assert rows["conv2"]["input_rate"] == 0.1
    assert (rows["conv1"]["c_out"], rows["conv2"]["c_in"]) == (32, 32)


def test_text_output_has_the_three_tables_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Into a log (captured stdout is no terminal) with COLUMNS=80: no cell cut or wrapped."""
    monkeypatch.setenv("COLUMNS", "80")
    flags = ["--layers", str(VGG9), "-T", "10", "--weight-bits", "4", "--membrane-bits", "4"]
    assert cli.main(["cost", *flags, "--bn-bits", "8"]) == 0
    out = capsys.readouterr().out
    for title in ("Totals", "Per layer", "Breakdown by component", "Conventions"):
        assert title in out
    for word in ("EDAP", "TOPS/W", "conv8", "htree", "neuron_memory", "rram_64"):
        assert word in out
    assert "…" not in out
    report = run_json(capsys, *flags, "--bn-bits", "8")
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 10}
    for layer in report["layers"]:  # type: ignore[attr-defined]
        cells = [cell.strip() for cell in rows[layer["name"]].split("│")[1:-1]]
        assert cells[1] == f"{layer['c_in']}>{layer['c_out']}"
        assert cells[8] == human(layer["energy_pj"], "pJ")


def test_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    figure = tmp_path / "breakdown.png"
    run_json(capsys, "--layers", str(VGG9), "-T", "2", "--weight-bits", "4", "--plot", str(figure))
    assert figure.read_bytes()[:4] == b"\x89PNG"
    assert "must end in one of" in fail(
        capsys, "--layers", str(VGG9), "-T", "2", "--plot", str(tmp_path / "x.gif")
    )
    run_json(
        capsys, "--layers", str(VGG9), "-T", "2", "--plot", str(figure)
    )  # our own figure: replaced


def test_plot_says_where_it_went_and_quirks_read_as_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The figure's absolute path is printed (a relative --plot too), in the table mode, the
    sensitivity mode and the JSON; the quirks print one per line, not as a Python dict."""
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    figure = (tmp_path / "b.png").resolve()
    assert cli.main(["cost", "--layers", str(VGG9), "-T", "2", "--plot", "b.png"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == f"plot: {figure}"
    assert "{" not in out and "  quirks:\n    neuron_memory_first_five_layers: off\n" in out
    args = ["cost", "--layers", str(VGG9), "-T", "2", "--plot", "b.png", "--sensitivity"]
    figure.unlink()
    assert cli.main(args) == 0
    assert f"plot: {figure}" in capsys.readouterr().out and figure.is_file()
    assert run_json(capsys, *args[1:])["plot"] == str(figure)


def test_plot_never_replaces_a_file_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n a photo")
    err = fail(capsys, "--layers", str(VGG9), "-T", "2", "--plot", str(photo))
    assert (
        f"--plot {photo}: exists and is not a figure written by mdsnn-search" in err
        and "--force" in err
    )
    assert photo.read_bytes() == b"\x89PNG\r\n\x1a\n a photo"
    folder = tmp_path / "plots.png"
    folder.mkdir()
    assert "is a folder" in fail(capsys, "--layers", str(VGG9), "-T", "2", "--plot", str(folder))
    run_json(capsys, "--layers", str(VGG9), "-T", "2", "--plot", str(photo), "--force")
    assert b"mdsnn-search" in photo.read_bytes()


def test_arch_path(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    models = pytest.importorskip("mdsnn_search.snn.models")
    if not hasattr(models, "arch_layer_table"):
        pytest.skip("the model builders have no arch_layer_table yet")
    from_arch = run_json(
        capsys,
        "--arch",
        "vgg9",
        "--input",
        "2x48x48",
        "--classes",
        "101",
        "-T",
        "10",
        "--weight-bits",
        "4",
    )
    from_file = run_json(capsys, "--layers", str(VGG9), "-T", "10", "--weight-bits", "4")
    assert from_arch["energy_pj"] == pytest.approx(from_file["energy_pj"], rel=1e-12)
    assert from_arch["area_um2"] == pytest.approx(from_file["area_um2"], rel=1e-12)
    assert [row["name"] for row in from_arch["layers"]] == [
        row["name"] for row in from_file["layers"]
    ]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--hardware", "rram64"], "unknown hardware preset 'rram64'; did you mean 'rram_64'?"),
        (["--hardware", "missing.yaml"], "missing.yaml: no such preset file"),
        (["--timesteps", "0"], "timesteps must be an integer >= 1"),
        (["--weight-bits", "-1"], "--weight-bits: Input should be greater than or equal to 1"),
        (["--bn-bits", "40"], "--bn-bits: Input should be less than or equal to 32"),
        (["--weight-bits", "4", "--precision", "p.yaml"], "either --precision FILE or the uniform"),
        (["--input", "2x48x48"], "--input goes with --arch"),
        (["--width", "0.5"], "--width goes with --arch"),
        (["--keep-ratio", "0"], "--keep-ratio must lie in (0, 1], but got 0.0"),
        (["--keep-ratio", "nan"], "--keep-ratio must lie in (0, 1]"),
        (["--adc-bits", "0"], "--adc-bits must be an integer in [1, 16], but got 0"),
        (["--adc-bits", "17"], "--adc-bits must be an integer in [1, 16], but got 17"),
    ],
)
def test_bad_values_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    base = ["--layers", str(VGG9), "--timesteps", "2"]
    assert needle in fail(capsys, *base, *args)


def test_bad_files_exit_2_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_layers = write(
        tmp_path / "layers.yaml", "- {c_in: 2, c_out: 8, kernel: -3, h_in: 8, h_out: 8}\n"
    )
    err = fail(capsys, "--layers", str(bad_layers), "-T", "1")
    assert str(bad_layers) in err and "layers.0.kernel" in err
    not_yaml = write(tmp_path / "broken.yaml", "- {c_in: 2, c_out: [\n")
    assert "not valid YAML" in fail(capsys, "--layers", str(not_yaml), "-T", "1")
    extra = write(
        tmp_path / "extra.json",
        json.dumps([{"c_in": 2, "c_out": 8, "kernel": 3, "h_in": 8, "h_out": 8, "stride": 2}]),
    )
    assert "layers.0.stride: Extra inputs are not permitted" in fail(
        capsys, "--layers", str(extra), "-T", "1"
    )
    assert "no such file" in fail(capsys, "--layers", str(tmp_path / "nope.yaml"), "-T", "1")

    precision = write(tmp_path / "p.yaml", "layers:\n  conv9: {w_bits: 4}\n")
    err = fail(capsys, "--layers", str(VGG9), "-T", "1", "--precision", str(precision))
    assert str(precision) in err and "conv9" in err and "matches no layer" in err
    negative = write(tmp_path / "n.yaml", "default: {w_bits: -2}\n")
    assert "default.w_bits" in fail(
        capsys, "--layers", str(VGG9), "-T", "1", "--precision", str(negative)
    )

    activity = write(tmp_path / "a.yaml", "conv22: {input_rate: 0.1, output_rate: 0.1}\n")
    err = fail(capsys, "--layers", str(VGG9), "-T", "1", "--activity", str(activity))
    assert str(activity) in err and "unknown layer 'conv22'; did you mean 'conv2'?" in err
    rate = write(tmp_path / "r.yaml", "conv2: {input_rate: 1.5, output_rate: 0.1}\n")
    assert "conv2.input_rate" in fail(
        capsys, "--layers", str(VGG9), "-T", "1", "--activity", str(rate)
    )
    keep = write(tmp_path / "k.yaml", "conv2: 0\n")
    assert "keep fraction must lie in (0, 1]" in fail(
        capsys, "--layers", str(VGG9), "-T", "1", "--keep", str(keep)
    )

    preset = write(
        tmp_path / "preset.yaml",
        (PRESETS / "rram_64.yaml").read_text().replace("size: 64", "size: 60"),
    )
    err = fail(capsys, "--layers", str(VGG9), "-T", "1", "--hardware", str(preset))
    assert str(preset) in err and "mux_ratio must divide size" in err


def test_arch_needs_input_and_classes(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--arch needs --input" in fail(capsys, "--arch", "vgg9", "-T", "1")
    assert "--input must look like CxHxW" in fail(
        capsys, "--arch", "vgg9", "--input", "48x48", "--classes", "10", "-T", "1"
    )
    assert "--width must be a positive number" in fail(
        capsys,
        "--arch",
        "vgg9",
        "--input",
        "2x48x48",
        "--classes",
        "10",
        "-T",
        "1",
        "--width",
        "-1",
    )


@pytest.mark.skipif(
    importlib.util.find_spec("mdsnn_search.cli.retrain") is None,
    reason="the full CLI also loads mdsnn_search.cli.retrain, which is not written yet",
)
def test_subprocess_entry_point() -> None:
    code = "import sys; from mdsnn_search.cli import main; sys.exit(main())"
    base = [sys.executable, "-c", code, "cost", "--layers", str(VGG9), "-T", "10"]
    done = subprocess.run(
        [*base, "--weight-bits", "4", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["edap"] > 0
    bad = subprocess.run(
        [*base, "--hardware", "nope"], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "unknown hardware preset 'nope'" in bad.stderr


def test_adc_bits_move_the_adc_share_energy_area_and_latency(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Over the offered resolutions the ADC's energy, area and conversion time rise with its bits
    (and its share of the total with them), while nothing the ADC does not touch moves."""
    reports = [
        run_json(capsys, "--layers", str(VGG9), "-T", "2", "--weight-bits", "4", "--adc-bits", b)
        for b in ("1", "3", "4", "5", "6", "8", "12", "16")
    ]
    default = run_json(capsys, "--layers", str(VGG9), "-T", "2", "--weight-bits", "4")
    assert reports[2]["energy_pj"] == default["energy_pj"]  # the preset's own 4 bits
    assert reports[2]["latency_ns"] == default["latency_ns"]

    def share(report: dict[str, object], kind: str) -> float:
        parts = report[f"{kind}_breakdown_{'pj' if kind == 'energy' else 'um2'}"]
        assert isinstance(parts, dict)
        return float(parts["adc"]) / sum(float(v) for v in parts.values())

    for low, high in zip(reports, reports[1:], strict=False):
        for key in ("energy_pj", "area_um2", "latency_ns"):
            assert float(high[key]) > float(low[key])  # type: ignore[arg-type]
        assert share(high, "energy") > share(low, "energy")
        assert share(high, "area") > share(low, "area")
        crossbar = [r["energy_breakdown_pj"]["crossbar"] for r in (low, high)]  # type: ignore[index]
        assert crossbar[0] == crossbar[1]
