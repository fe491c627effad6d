"""``mdsnn-search train``: one model from a YAML config, as tables or JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from mdsnn_search.checkpoint import is_checkpoint
from mdsnn_search.cli import main


def _config(tmp_path: Path, **overrides: Any) -> Path:
    config: dict[str, Any] = {
        "name": "tiny",
        "data": {"name": "digits", "timesteps": 2, "max_per_class": 20},
        "model": {
            "arch": "vgg5",
            "width": 0.5,
            "precision": {"default": {"w_bits": 4, "u_bits": 4, "bn_bits": 8}},
        },
        "training": {"epochs": 1, "batch_size": 16},
        "output": str(tmp_path / "tiny.pt"),
    }
    config.update(overrides)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(_config(tmp_path)), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0 <= result["accuracy"] <= 1 and result["spikes_per_sample"] > 0
    assert set(result["layer_firing_rates"]) == {"conv1", "conv2", "conv3", "conv4"}
    assert result["precision"]["conv2"] == "W4/U4/BN8" and Path(result["checkpoint"]).is_file()
    assert result["precision"]["fc"] == "W4"  # the classifier has no neuron and no batch norm


def test_train_tables_and_a_distilled_student(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    teacher_config = _config(
        tmp_path,
        name="teacher",
        model={"arch": "vgg5", "width": 0.5},
        output=str(tmp_path / "t.pt"),
    )
    assert main(["train", str(teacher_config)]) == 0
    out = capsys.readouterr().out
    assert "firing rate" in out
    results = {
        cells[0]: cells[1]
        for cells in ([c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines())
        if len(cells) == 2
    }
    # The accuracy in percent with its split, and the network's EDAP on the default crossbar.
    assert re.fullmatch(r"\d{1,3}\.\d\d %", results["test accuracy"])
    assert float(results["EDAP on rram_64 (J s mm2)"]) > 0
    layers = {
        cells[0]: cells[1]
        for cells in ([c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines())
        if len(cells) == 5
    }
    assert layers == {
        **dict.fromkeys(["conv1", "conv2", "conv3", "conv4"], "W32/U32/BN32"),
        "fc": "W32",
    }
    student = _config(
        tmp_path, teacher=str(tmp_path / "t.pt"), distill={"layers": "all", "kd_weight": 0.5}
    )
    assert main(["train", str(student), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["membrane_mismatch"]) == {"conv1", "conv2", "conv3", "conv4"}
    assert result["edap"] > 0 and result["test_accuracy"] == result["accuracy"]


def test_train_into_a_log_prints_one_line_per_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Captured stderr is no terminal, as under CI or nohup: no bar, a line per epoch."""
    assert main(["train", str(_config(tmp_path)), "--epochs", "3"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" loss ")[0] for line in lines] == [f"tiny: epoch {e}/3" for e in (1, 2, 3)]
    assert all(line.endswith(" s") for line in lines)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"model": {"arch": "vgg5", "precision": {"default": {"w_bits": 0}}}},
            "model.precision.default.w_bits",
        ),
        ({"training": {"epochs": 0}}, "training.epochs"),
        ({"optimiser": "adam"}, "optimiser: unknown key"),
        ({"distill": {"layers": "all"}}, "distill: needs a teacher"),
        ({"teacher": "nowhere.pt", "distill": {}}, "nowhere.pt: no such checkpoint"),
        ({"model": {"arch": "vgg5", "precision": {"layers": {"conv7": {"w_bits": 2}}}}}, "conv7"),
    ],
)
def test_bad_train_config_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: dict[str, Any], message: str
) -> None:
    assert main(["train", str(_config(tmp_path, **overrides))]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml: no such file" in capsys.readouterr().err


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_output_onto_the_config_a_folder_or_a_missing_folder_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    before = config.read_bytes()
    for force in ([], ["--force"]):
        assert "is the config file being read" in refused(
            capsys, str(config), "--output", str(config), *force
        )
    assert config.read_bytes() == before
    assert f"--output {tmp_path}: is a folder" in refused(
        capsys, str(config), "--output", str(tmp_path)
    )
    missing = tmp_path / "typo" / "deeper" / "m.pt"
    assert f"no such folder {missing.parent}" in refused(
        capsys, str(config), "--output", str(missing)
    )
    assert not (tmp_path / "typo").exists()
    folder_config = _config(tmp_path, output=str(tmp_path))
    assert f"{folder_config}: output {tmp_path}: is a folder" in refused(capsys, str(folder_config))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.yaml"]  # no checkpoint, no .tmp


def test_a_foreign_file_is_overwritten_only_with_force_a_checkpoint_of_ours_always(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    config = _config(tmp_path, output=str(notes))
    err = refused(capsys, str(config))
    assert (
        f"{config}: output {notes}: exists and is not a checkpoint written by mdsnn-search" in err
    )
    assert "--force" in err and notes.read_text() == "my notes\n"
    assert main(["train", str(config), "--force", "--json"]) == 0
    assert is_checkpoint(notes)
    first = notes.read_bytes()
    assert (
        main(["train", str(config), "--json", "--epochs", "2"]) == 0
    )  # a checkpoint of ours: replaced
    assert is_checkpoint(notes) and notes.read_bytes() != first


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, training={"epochs": 1, "device": "cuda"})
    err = refused(capsys, str(config))
    assert f"{config}: training.device: cuda, but torch finds no CUDA device" in err
    assert not (tmp_path / "tiny.pt").exists()


@pytest.mark.parametrize("name", ["..", ".hidden", "a/b"])
def test_run_name_must_be_a_plain_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert "name: the name must be a plain name" in refused(
        capsys, str(_config(tmp_path, name=name, output=None))
    )


def test_a_file_a_study_reads_back_is_never_an_output_force_or_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mdsnn_search.checksums import publish

    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path)
    assert main(["train", str(config), "--json"]) == 0  # a checkpoint of ours, as a teacher
    capsys.readouterr()
    teachers = tmp_path / "studies" / "teachers"
    teachers.mkdir(parents=True)
    published = tmp_path / "elsewhere.pt"
    (tmp_path / "tiny.pt").rename(published.with_suffix(".staged"))
    publish(published.with_suffix(".staged"), published)  # checksummed: a study cache anywhere
    legacy = teachers / "vgg5-0123.pt"  # in the teacher cache, from before checksums
    legacy.write_bytes(published.read_bytes())
    plain = tmp_path / "plain-teacher.pt"  # a user's own teacher: no checksum
    plain.write_bytes(published.read_bytes())
    for target in (published, legacy, Path("studies/teachers/vgg5-0123.pt")):
        for force in ([], ["--force"]):
            err = refused(capsys, str(config), "--output", str(target), *force)
            assert f"--output {target}: is a file studies read back" in err
    before = {p: p.read_bytes() for p in (published, legacy, plain)}
    distilling = _config(tmp_path, teacher=str(plain), distill={}, output=str(plain))
    assert "or this config's teacher" in refused(capsys, str(distilling), "--force")
    assert {p: p.read_bytes() for p in before} == before


def test_a_full_disk_at_the_checkpoint_is_one_line_and_leaves_no_file(tmp_path: Path) -> None:
    """A real failing write: the child's file-size limit (RLIMIT_FSIZE) is below the checkpoint's
    size, so its write fails as on a full disk."""
    import os
    import resource
    import signal
    import subprocess
    import sys

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    config = _config(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "mdsnn_search.cli", "train", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        preexec_fn=small_files,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.splitlines()[-1] == (
        f"mdsnn-search train: error: {tmp_path / 'tiny.pt'}: cannot write (File too large); "
        "nothing was written"
    )
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.yaml"]
