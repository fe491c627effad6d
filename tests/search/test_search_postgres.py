"""A real PostgreSQL server: two runs share one study through a plain ``postgresql://`` URL, and
its password shows nowhere (output, logs, stored specs, exports, the dashboard banner)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState
from study_runs import POSTGRES_PASSWORD, distinct_students, free_port, mdsnn_search, stored_trials

from mdsnn_search import cli
from mdsnn_search.results import open_stored_study
from mdsnn_search.spec.objectives import ATTR_SPEC
from mdsnn_search.study.documents import trial_document
from mdsnn_search.study.folder import study_folder

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

N_TRIALS = 8


def test_two_runs_share_one_postgresql_study_and_never_show_its_password(
    postgres_url: str,
    write_spec: Callable[..., Path],
    tiny_teacher: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    masked = postgres_url.replace(POSTGRES_PASSWORD, "***")
    spec = write_spec(
        study={"heartbeat_interval_s": 1, "grace_period_s": 2, "n_trials": N_TRIALS},
        teacher={"checkpoint": str(tiny_teacher)},
        training={"epochs": 12},  # trials outlast the grace period
    )
    runs = [
        mdsnn_search("run", str(spec), "--storage", postgres_url, cwd=tmp_path) for _ in range(2)
    ]
    printed = [run.communicate(timeout=900) for run in runs]
    for run, (_, err) in zip(runs, printed, strict=True):
        assert run.returncode == 0, err[-3000:]
    trials = stored_trials(postgres_url)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * N_TRIALS
    assert distinct_students(trials)
    assert all(f"study tiny ({masked})" in out for out, _ in printed)

    # Everything else that shows or writes the storage.
    for command in (
        ["status"],
        ["status", "--json"],
        ["pareto", "--json", "--no-files"],
        ["export", "--front"],
    ):
        assert cli.main([*command, "--storage", postgres_url, "--study", "tiny"]) == 0
    shown = capsys.readouterr()
    exports = list((tmp_path / study_folder("tiny", postgres_url) / "exports").glob("*.yaml"))
    assert exports and all(f"({masked})" in path.read_text() for path in exports)
    stored = [
        open_stored_study(storage=postgres_url, study_name="tiny").spec_document,
        *(trial_document(t, ATTR_SPEC) for t in trials),
    ]
    assert {document["study"]["storage"] for document in stored} == {masked}
    banner = dashboard_banner(postgres_url, capsys)
    assert masked in banner
    everything = [*(text for pair in printed for text in pair), shown.out, shown.err, banner]
    everything += [path.read_text() for path in exports] + [
        json.dumps(document) for document in stored
    ]
    assert not [text for text in everything if POSTGRES_PASSWORD in text]


def dashboard_banner(url: str, capsys: pytest.CaptureFixture[str]) -> str:
    """What ``mdsnn-search dashboard`` prints before serving (it serves until its server is shut
    down: the server bottle starts is caught to do that)."""
    import bottle

    servers: list[Any] = []
    original = bottle.WSGIRefServer.run

    def run_and_keep(self: Any, handler: Any) -> None:
        servers.append(self)
        original(self, handler)

    port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bottle.WSGIRefServer, "run", run_and_keep)
        thread = threading.Thread(
            target=cli.main,
            args=(["dashboard", "--storage", url, "--study", "tiny", "--port", str(port)],),
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/dashboard/", timeout=2
                ) as response:
                    assert response.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the dashboard did not come up within 60 s"
                time.sleep(0.2)
        servers[0].srv.shutdown()
        thread.join(timeout=30)
    assert not thread.is_alive()
    return capsys.readouterr().out
