"""Opening a stored study: by spec or storage + name; clear errors; nothing created or changed."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from results_studies import Built

from mdsnn_search import cli
from mdsnn_search.errors import ConfigError, StudyError
from mdsnn_search.results import open_stored_study
from mdsnn_search.study.read_only import sqlite_path


def fail(capsys: pytest.CaptureFixture[str], command: str, *args: str) -> str:
    assert cli.main([command, *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    return captured.err


def test_open_by_spec_or_storage(make_study: Callable[..., Built]) -> None:
    built = make_study()
    by_spec = open_stored_study(built.spec_path)
    by_url = open_stored_study(storage=built.url, study_name="t")
    alone = open_stored_study(storage=built.url)  # the storage holds one study
    for stored in (by_spec, by_url, alone):
        assert stored.name == "t" and stored.objectives == ["accuracy", "edap"]
        assert stored.directions == ["maximize", "minimize"]
    assert by_spec.spec().study.name == "t" and by_spec.teacher["accuracy"] == 0.95


@pytest.mark.parametrize("command", ["status", "pareto", "export", "dashboard"])
def test_wrong_study_name_lists_the_studies(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str], command: str
) -> None:
    built = make_study()
    extra = ["--front"] if command == "export" else []
    err = fail(capsys, command, "--storage", built.url, "--study", "tt", *extra)
    assert (
        f"mdsnn-search {command}: error: no study 'tt' in storage {built.url}; "
        "did you mean 't'? (studies there: t)" in err
    )


def test_missing_sqlite_file_is_not_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.db"
    err = fail(capsys, "status", "--storage", f"sqlite:///{missing}", "--study", "x")
    assert f"no such file {missing}" in err
    monkeypatch.chdir(tmp_path)
    err = fail(capsys, "pareto", "--storage", "sqlite:///studies/rel.db")
    assert "no such file studies/rel.db" in err
    assert not list(tmp_path.iterdir())  # neither file nor folder was created


def test_spec_whose_study_was_never_run(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    built = make_study()
    text = built.spec_path.read_text().replace(built.url, f"sqlite:///{tmp_path}/other.db")
    spec = tmp_path / "other.yaml"
    spec.write_text(text)
    assert "no such file" in fail(capsys, "status", str(spec))
    assert not (tmp_path / "other.db").exists()


def test_foreign_sqlite_file_is_refused_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "notes.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    before = db.read_bytes()
    assert "is not an Optuna study database" in fail(
        capsys, "status", "--storage", f"sqlite:///{db}"
    )
    assert db.read_bytes() == before


KILLED_WRITER = """
import os, signal, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA cache_size=1")  # spill to the journal before the commit
connection.execute("BEGIN IMMEDIATE")
connection.execute("CREATE TABLE bulk (x)")
connection.executemany("INSERT INTO bulk VALUES (randomblob(600))", [()] * 3000)
connection.execute("UPDATE trials SET state = 'FAIL'")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_run_killed_mid_write_leaves_a_study_that_opens_as_committed(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]
) -> None:
    """A killed writer's hot journal is rolled back on opening (a read-only connection cannot),
    so status reads the last committed trials."""
    built = make_study()
    path = sqlite_path(built.url)
    assert path is not None
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], check=False, timeout=60)
    journal = path.with_name(path.name + "-journal")
    assert journal.stat().st_size > 0
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True).execute(
            "SELECT count(*) FROM trials"
        ).fetchall()
    stored = open_stored_study(storage=built.url, study_name="t")
    states = {trial.state.name for trial in stored.study.get_trials(deepcopy=False)}
    assert "COMPLETE" in states and "bulk" not in sqlite_tables_of(path)


def sqlite_tables_of(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}


def test_arguments_needed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert "give a study spec file, or --storage URL" in fail(capsys, "status")
    assert "not a SQLAlchemy URL" in fail(capsys, "status", "--storage", "nonsense")
    assert "in-memory SQLite" in fail(capsys, "status", "--storage", "sqlite://")
    with pytest.raises(ConfigError):
        open_stored_study()


def test_several_studies_need_a_name(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]
) -> None:
    import optuna

    built = make_study()
    optuna.create_study(storage=built.url, study_name="second")
    err = fail(capsys, "status", "--storage", built.url)
    assert "--study NAME is needed" in err and "(second, t)" in err
    with pytest.raises(StudyError):
        open_stored_study(storage=built.url, study_name="third")


def test_sqlite_path() -> None:
    assert sqlite_path("sqlite:///studies/a.db") == Path("studies/a.db")
    assert sqlite_path("sqlite:////abs/a.db") == Path("/abs/a.db")
    assert sqlite_path("sqlite://") is None and sqlite_path("postgresql://u@h/db") is None
