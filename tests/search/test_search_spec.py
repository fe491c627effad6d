"""Study specs: every shipped spec validates; bad ones give one message naming field and file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from mdsnn_search.cli import main
from mdsnn_search.spec.schema import StudySpec, load_spec

SHIPPED = sorted(Path(__file__).parents[2].joinpath("search_spaces").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_specs_load_and_round_trip(path: Path) -> None:
    spec = load_spec(path)
    assert (
        StudySpec.model_validate(yaml.safe_load(yaml.safe_dump(spec.model_dump(mode="json"))))
        == spec
    )


def test_digits_spec_validates_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["validate", str(Path(__file__).parents[2] / "search_spaces" / "digits.yaml"), "--json"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert '"spiking_layers"' in out and '"warnings": []' in out


def test_validate_warns_of_a_space_that_cannot_go_below_a_baseline(
    write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Its cheapest point (W4) costs more than the w2u2 baseline, which the space therefore
    cannot express; both are said, and the spec is still valid."""
    spec_path = write_spec(
        study={"baselines": ["w2u2", "w4u4"]},
        search_space={"w_bits": [4, 8], "u_bits": [2, 4]},
    )
    assert main(["validate", str(spec_path)]) == 0
    out = capsys.readouterr().out
    assert "warning: study.baselines: w2u2 is left out: search_space.w_bits" in out
    assert "warning: search_space: its cheapest point" in out and "baseline w2u2" in out
    spec_path = write_spec(
        study={"baselines": ["w4u4"]},
        search_space={"w_bits": [4, 8], "u_bits": [4, 8], "keep_ratio": [1.0]},
        data={"timesteps": 4},
    )
    main(["validate", str(spec_path)])
    assert "cheapest point" not in capsys.readouterr().out  # W4/U4 is its cheapest: no warning


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"study": {"colour": "red"}}, "study.colour: unknown key"),
        ({"study": {"n_trials": "many"}}, "study.n_trials: Input should be a valid integer"),
        (
            {"search_space": {"w_bits": [0, 4]}},
            "search_space.w_bits.0: Input should be greater than or equal to 1",
        ),
        ({"search_space": {"u_bits": []}}, "search_space.u_bits: List should have at least 1 item"),
        (
            {"search_space": {"fixed_layers": {"conv9": {"w_bits": 8}}}},
            "search_space.fixed_layers: 'conv9' matches no layer",
        ),
        (
            {"teacher": {"checkpoint": "missing/teacher.pt"}},
            "teacher: checkpoint: no such file missing/teacher.pt",
        ),
        ({"study": {"objectives": ["accuracy", "accuracy"]}}, "objectives must be distinct"),
        ({"hardware": {"preset": "rram_46"}}, "rram_46"),
        ({"model": {"arch": "vgg99"}}, "did you mean"),
        ({"data": {"name": "cifar10", "root": "no/such/folder"}}, "no/such/folder"),
        (
            {"study": {"heartbeat_interval_s": 30, "grace_period_s": 20}},
            "grace_period_s > heartbeat_interval_s must hold",
        ),
        (
            {"execution": {"gpus_per_trial": 1.5}},
            "gpus_per_trial: above 1 a trial takes whole GPUs",
        ),
        ({"execution": {"gpus_per_trial": "some"}}, "execution.gpus_per_trial"),
        (
            {"search_space": {"adc_bits": [0, 4]}, "hardware": {"in_the_loop": True}},
            "search_space.adc_bits.0: Input should be greater than or equal to 1",
        ),
        (
            {"search_space": {"adc_bits": [4, 17]}, "hardware": {"in_the_loop": True}},
            "search_space.adc_bits.1: Input should be less than or equal to 16",
        ),
        (
            {"search_space": {"adc_bits": [3, 4]}},
            "search_space.adc_bits: needs hardware.in_the_loop: true",
        ),
        (
            {"hardware": {"in_the_loop": True}, "study": {"baselines": ["fp32", "w4u4"]}},
            "study.baselines: fp32 cannot be computed as mapped with hardware.in_the_loop",
        ),
        (
            {
                "hardware": {"in_the_loop": True},
                "study": {"baselines": []},
                "search_space": {"w_bits": [4, 32]},
            },
            "search_space.w_bits: full-precision weights cannot be computed as mapped",
        ),
    ],
)
def test_bad_spec_is_one_clear_error_and_creates_no_database(
    write_spec: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    overrides: dict,
    message: str,
    tmp_path: Path,
) -> None:
    spec_path = write_spec(**overrides)
    for command in (["validate", str(spec_path)], ["run", str(spec_path)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert message in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert str(spec_path) in err
    assert not (tmp_path / "tiny.db").exists() and not (tmp_path / "studies").exists()


def test_malformed_yaml_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("study: [unclosed\n")
    assert main(["validate", str(path)]) == 2
    assert "broken.yaml: not valid YAML" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["ncaltech", "cifar10", "cifar100", "tinyimagenet"])
def test_real_data_spec_without_its_folder_says_where_data_comes_from(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = Path(__file__).parents[2] / "search_spaces" / f"{name}.yaml"
    monkeypatch.chdir(tmp_path)  # no data/ folder here
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "data.root" in err and "does not exist" in err and "http" in err
    assert not (tmp_path / "studies").exists()
