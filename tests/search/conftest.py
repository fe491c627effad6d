"""Fixtures of the search tests: a tiny spec written into tmp_path, a tiny teacher trained once,
a real PostgreSQL server.

Helpers live in :mod:`study_runs` (a module name no other test folder uses).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from study_runs import POSTGRES_PASSWORD, free_port, tiny_spec


@pytest.fixture
def write_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Write a tiny spec (with section overrides) and work inside tmp_path (studies/ goes there)."""
    monkeypatch.chdir(tmp_path)

    def write(name: str = "spec.yaml", **overrides: Any) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(tiny_spec(tmp_path, **overrides)))
        return path

    return write


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny spec's teacher, trained once: given as ``teacher.checkpoint``, separate run
    processes skip training it."""
    from mdsnn_search.job import TrainSpec, run_job

    spec = tiny_spec(tmp_path_factory.mktemp("teacher"))
    path = tmp_path_factory.getbasetemp() / "tiny-teacher.pt"
    job = TrainSpec.model_validate(
        {
            "name": "tiny-teacher",
            "data": spec["data"],
            "model": spec["model"],
            "training": spec["teacher"]["training"],
            "output": str(path),
        }
    )
    run_job(job, progress=False)
    return path


@pytest.fixture(scope="session")
def postgres_port() -> Iterator[int]:
    """A real PostgreSQL server on 127.0.0.1 with password authentication, from Debian's package
    (``.ci/run`` installs it when absent). As root, it runs as the ``postgres`` user (or
    ``nobody``): PostgreSQL refuses to run as root."""
    initdbs = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if not initdbs:
        pytest.skip(
            "no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql; .ci/run "
            "does)"
        )
    bindir = initdbs[-1].parent
    root = Path(tempfile.mkdtemp(prefix="mdsnn-pg-"))  # short: the server's socket lives here
    (root / "password").write_text(POSTGRES_PASSWORD)
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = "postgres" if _user_exists("postgres") else "nobody"
        for path in (root, root / "password"):
            shutil.chown(path, user)
        as_user = ["runuser", "-u", user, "--"]
    data, port = root / "data", free_port()
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "mdsnn",
            "--auth=scram-sha-256",
            f"--pwfile={root / 'password'}",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
        "-c fsync=off"
    )
    pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        [*pg_ctl, "-l", str(root / "server.log"), "-w", "-t", "120", "-o", options, "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield port
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_port: int, request: pytest.FixtureRequest) -> str:
    """A fresh database on the test server, as a plain ``postgresql://`` URL with the password."""
    psycopg = pytest.importorskip("psycopg", reason="the [postgres] extra is not installed")
    name = f"t{abs(hash(request.node.nodeid)) % 10**8}"
    admin = f"postgresql://mdsnn:{POSTGRES_PASSWORD}@127.0.0.1:{postgres_port}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://mdsnn:{POSTGRES_PASSWORD}@127.0.0.1:{postgres_port}/{name}"


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
