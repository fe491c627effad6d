"""What the results commands write, and what they refuse: no file destroyed, no path outside
``studies/``, exports runnable from any folder, storage failures one line with exit 2."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import yaml
from results_studies import MINE, Built

from mdsnn_search import cli
from mdsnn_search.spec.objectives import STUDY_TEACHER


def refused(capsys: pytest.CaptureFixture[str], command: str, *args: str) -> str:
    assert cli.main([command, *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    return captured.err


def test_export_onto_a_file_or_over_a_foreign_file_is_refused(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    built = make_study()
    before = built.db_digest()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    err = refused(capsys, "export", *built.args(), "--trials", "4", "--out", str(a_file))
    assert f"--out {a_file}: is a file, not a folder" in err and a_file.read_text() == "mine\n"
    out = tmp_path / "exports"
    out.mkdir()
    foreign = out / "t-trial4.yaml"
    foreign.write_text("name: my own config\n")
    err = refused(capsys, "export", *built.args(), "--trials", "6", "4", "--out", str(out))
    assert (
        f"--out {foreign}: exists and is not a config exported by mdsnn-search" in err
        and "--force" in err
    )
    assert foreign.read_text() == "name: my own config\n" and not (out / "t-trial6.yaml").exists()
    assert cli.main(["export", *built.args(), "--trials", "4", "--out", str(out), "--force"]) == 0
    assert (
        cli.main(["export", *built.args(), "--trials", "4", "--out", str(out), "--epochs", "9"])
        == 0
    )  # ours now
    assert yaml.safe_load(foreign.read_text())["training"]["epochs"] == 9
    missing = tmp_path / "no" / "such"
    assert f"no such folder {missing.parent}" in refused(
        capsys, "export", *built.args(), "--front", "--out", str(missing)
    )
    assert not (tmp_path / "no").exists() and built.db_digest() == before


def test_exported_config_runs_from_any_folder(
    make_study: Callable[..., Built],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A study that stored its teacher relative to the folder it ran in exports it absolute."""
    built = make_study()
    run_folder = tmp_path / "run"
    (run_folder / "studies" / "teachers").mkdir(parents=True)
    (run_folder / "studies" / "teachers" / "t.pt").write_bytes(b"")
    built.study.set_user_attr(
        STUDY_TEACHER, {"checkpoint": "studies/teachers/t.pt", "accuracy": 0.95}
    )
    monkeypatch.chdir(run_folder)
    assert cli.main(["export", *built.args(), "--trials", "4", "--out", "exports"]) == 0
    exported = yaml.safe_load((run_folder / "exports" / "t-trial4.yaml").read_text())
    assert exported["teacher"] == str(run_folder / "studies" / "teachers" / "t.pt")
    assert exported["output"] == str(run_folder / "exports" / "t-trial4.pt")


@pytest.fixture
def dot_dot_study(tmp_path: Path) -> str:
    """A study named ``..`` (made with Optuna directly: our specs refuse the name)."""
    url = f"sqlite:///{tmp_path / 'dots.db'}"
    study = optuna.create_study(study_name="..", storage=url, directions=["maximize", "minimize"])
    study.add_trial(optuna.trial.create_trial(values=[0.9, 1e-9]))
    study.add_trial(optuna.trial.create_trial(values=[0.8, 1e-10]))
    return url


@pytest.mark.parametrize("command", ["pareto", "export"])
def test_a_study_named_dot_dot_writes_nothing_outside_studies(
    dot_dot_study: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    extra = ["--front"] if command == "export" else []
    err = refused(capsys, command, "--storage", dot_dot_study, *extra)
    assert "the study name" in err and "must be a plain name" in err and "'..'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dots.db", "work"] and not list(
        work.iterdir()
    )


def test_pareto_refuses_a_folder_and_a_foreign_file(
    make_study: Callable[..., Built],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = make_study()
    monkeypatch.chdir(tmp_path)
    assert "--plot" in refused(capsys, "pareto", *built.args(), "--plot", str(tmp_path))
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n not ours")
    err = refused(capsys, "pareto", *built.args(), "--plot", str(photo))
    assert f"--plot {photo}: exists and is not a figure written by mdsnn-search" in err
    assert photo.read_bytes() == b"\x89PNG\r\n\x1a\n not ours"
    page = tmp_path / "page.html"
    page.write_text("<html>mine</html>")
    assert "is not a page written by mdsnn-search" in refused(
        capsys, "pareto", *built.args(), "--html", str(page)
    )
    assert not (tmp_path / "studies").exists()
    assert (
        cli.main(["pareto", *built.args(), "--plot", str(photo), "--html", str(page), "--force"])
        == 0
    )
    assert (
        cli.main(["pareto", *built.args(), "--plot", str(photo), "--html", str(page)]) == 0
    )  # ours now


@pytest.mark.parametrize("command", MINE)
def test_unreachable_postgresql_is_one_line(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    extra = ["--front"] if command == "export" else []
    err = refused(
        capsys,
        command,
        "--storage",
        "postgresql://user@127.0.0.1:9/nowhere",
        "--study",
        "t",
        *extra,
    )
    assert err.startswith(f"mdsnn-search {command}: error: storage")


def test_a_damaged_database_is_one_line_and_untouched(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing table: Optuna says "... e.g. exceeding max length"; we show the database's words."""
    built = make_study()
    with sqlite3.connect(built.db_path) as connection:
        connection.execute("DROP TABLE trial_values")
    before = built.db_digest()
    for command in ("status", "pareto"):
        err = refused(capsys, command, *built.args())
        assert "storage: (sqlite3.OperationalError) no such table: trial_values" in err
        assert "exceeding max length" not in err
    assert built.db_digest() == before


def test_two_studies_of_one_name_in_two_storages_keep_their_own_folders(
    make_study: Callable[..., Built],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``t`` in the default storage (sqlite:///studies/t.db) writes studies/t/; ``t`` in another
    storage writes studies/t-<hash>/, so neither overwrites the other's plot, report or exports,
    whichever way its storage URL is written."""
    from mdsnn_search.study.folder import study_folder

    other = make_study()
    work = tmp_path / "work"
    (work / "studies").mkdir(parents=True)
    monkeypatch.chdir(work)
    shutil.copyfile(other.db_path, work / "studies" / "t.db")
    default = ["--storage", "sqlite:///studies/t.db", "--study", "t"]
    elsewhere = ["--storage", other.url, "--study", "t"]
    for args in (default, elsewhere):
        assert cli.main(["pareto", *args]) == 0
        assert cli.main(["export", *args, "--trials", "4"]) == 0
    out = capsys.readouterr().out
    mine = study_folder("t", other.url)
    assert study_folder("t", "sqlite:///studies/t.db") == Path("studies/t")
    assert study_folder("t", f"sqlite:///{work / 'studies' / 't.db'}") == Path("studies/t")
    assert mine.parent == Path("studies") and mine.name.startswith("t-") and len(mine.name) == 10
    for folder in (Path("studies/t"), mine):
        assert {p.name for p in folder.iterdir()} == {"pareto.png", "pareto.html", "exports"}
        assert f"html: {folder / 'pareto.html'}" in out
    masked = "postgresql://ann:***@db.example/studies"
    assert study_folder("t", "postgresql://ann:secret@db.example/studies") == study_folder(
        "t", masked
    )  # the password does not name the folder
    assert study_folder("t", masked) != mine
