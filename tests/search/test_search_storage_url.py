"""Storage URLs: passwords never shown, logged or stored; a missing driver named with its extra."""

from __future__ import annotations

import io
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mdsnn_search.cli import main
from mdsnn_search.errors import ConfigError, StudyError
from mdsnn_search.spec.schema import StudyConfig
from mdsnn_search.study.storage_url import RedactingFilter, masked, missing_driver_message, redact
from mdsnn_search.study.store import connect

SECRET = "pw-never-shown-7431"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_masked_hides_the_password_and_nothing_else() -> None:
    assert (
        masked(f"postgresql://ann:{SECRET}@db.example:5432/studies")
        == "postgresql://ann:***@db.example:5432/studies"
    )
    assert masked("sqlite:///studies/digits.db") == "sqlite:///studies/digits.db"
    assert (
        redact(f"could not connect as ann:{SECRET} to db") == "could not connect as ann:*** to db"
    )


def test_log_records_lose_remembered_passwords() -> None:
    masked(f"postgresql://ann:{SECRET}@db.example/studies")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.storage_url")
    logger.addHandler(handler)
    try:
        logger.warning("retrying %s", f"postgresql://ann:{SECRET}@db.example/studies")
        try:
            raise RuntimeError(f"password {SECRET} rejected")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert (
        SECRET not in text
        and "postgresql://ann:***@db.example/studies" in text
        and "password *** rejected" in text
    )


def test_a_missing_driver_names_the_module_and_the_extra() -> None:
    url = f"postgresql://ann:{SECRET}@db.example/studies"
    message = missing_driver_message(
        url, ModuleNotFoundError("No module named 'psycopg'", name="psycopg")
    )
    assert (
        "'psycopg'" in message
        and "pip install 'mdsnn-search[postgres]'" in message
        and SECRET not in message
    )
    other = missing_driver_message(
        "mysql+pymysql://db/x", ModuleNotFoundError("No module named 'pymysql'", name="pymysql")
    )
    assert "'pymysql'" in other and "pip install pymysql" in other


def test_run_without_the_postgres_driver_is_one_line_naming_the_extra(
    write_spec: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = write_spec()
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed: importing it fails
    url = f"postgresql://ann:{SECRET}@127.0.0.1:{closed_port()}/studies"
    for command in (["run", str(spec), "--storage", url], ["status", "--storage", url]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "'psycopg'" in err and "mdsnn-search[postgres]" in err, err
        assert SECRET not in err


def test_an_unreachable_server_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("psycopg", reason="the [postgres] extra is not installed")
    url = f"postgresql://ann:{SECRET}@127.0.0.1:{closed_port()}/studies"
    with pytest.raises(StudyError) as refused:
        connect(url, StudyConfig(name="t", n_trials=1))
    assert SECRET not in str(refused.value) and "ann:***@127.0.0.1" in str(refused.value)
    assert main(["status", "--storage", url, "--study", "t"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and SECRET not in err and "cannot" in err


@pytest.mark.parametrize("port", ["abc", "99999"])
def test_a_malformed_port_is_one_line_for_every_command_without_the_password(
    port: str, write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec()
    url = f"postgresql://ann:{SECRET}@127.0.0.1:{port}/studies"
    for command in (
        ["run", str(spec), "--storage", url],
        ["status", "--storage", url],
        ["pareto", "--storage", url],
    ):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "port must be a number" in err, err
        assert SECRET not in err and "Traceback" not in err
    assert not Path("studies").exists()


def test_a_sqlite_file_in_a_missing_folder_is_refused_and_no_folder_is_created(
    write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "typo" / "deeper"
    url = f"sqlite:///{missing}/s.db"
    spec = write_spec(study={"storage": url})
    for command in (["validate", str(spec)], ["run", str(spec)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "study.storage" in err, err
        assert f"no such folder {missing}" in err
    with pytest.raises(ConfigError, match="no such folder"):
        connect(url, StudyConfig(name="t", n_trials=1))
    assert not (tmp_path / "typo").exists() and not Path("studies").exists()
