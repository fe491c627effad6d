"""``mdsnn-search dashboard``: optuna-dashboard serves the study on 127.0.0.1, then is stopped.

The command runs in a thread of this process (a child process would import scikit-learn again,
through optuna-dashboard, for several seconds). To stop it, the test keeps a handle on the WSGI
server that ``optuna_dashboard.run_server`` starts through bottle, and shuts it down.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from results_studies import CONSTRAINED_ROWS, Built

from mdsnn_search import cli
from mdsnn_search.results import open_stored_study
from mdsnn_search.results.read_only import LOOPBACK_HOSTS, HostCheckApp, ReadOnlyApp
from mdsnn_search.study.documents import save_spec_artifact
from mdsnn_search.study.trial_attrs import MAX_ATTR_CHARS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                assert response.status == 200
                return bytes(response.read())
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def serving(
    built: Built, monkeypatch: pytest.MonkeyPatch, *extra: str
) -> Iterator[tuple[int, list[Any], list[int]]]:
    """Run ``mdsnn-search dashboard`` in a thread; yields its port, bottle servers and exit codes,
    and shuts the server down afterwards."""
    import bottle

    servers: list[Any] = []
    original = bottle.WSGIRefServer.run

    def run_and_keep(self: Any, handler: Any) -> None:
        servers.append(self)
        original(self, handler)

    monkeypatch.setattr(bottle.WSGIRefServer, "run", run_and_keep)
    port = free_port()
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(
            cli.main(["dashboard", *built.args(), "--port", str(port), *extra])
        ),
        daemon=True,
    )
    thread.start()
    try:
        yield port, servers, codes
    finally:
        while servers and not hasattr(servers[0], "srv") and thread.is_alive():
            time.sleep(0.05)
        if servers:
            servers[0].srv.shutdown()
        thread.join(timeout=10)
    assert not thread.is_alive() and codes == [0]


def test_dashboard_serves_the_study_on_loopback(
    make_study: Callable[..., Built],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = make_study()
    with serving(built, monkeypatch) as (port, servers, _):
        deadline = time.monotonic() + 60
        page = get(f"http://127.0.0.1:{port}/dashboard/", deadline)
        assert b"<html" in page.lower()
        studies = json.loads(get(f"http://127.0.0.1:{port}/api/studies", deadline))
        assert [s["study_name"] for s in studies["study_summaries"]] == ["t"]
        assert servers and servers[0].host == "127.0.0.1"
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:{port}/dashboard/studies/" in out
    assert "read-only" in out


def test_dashboard_shows_what_pareto_shows(
    make_study: Callable[..., Built],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Through the dashboard's own API: each trial's constraints as its Pareto view reads them
    (feasibility as ``pareto`` has it, an infeasible baseline included), baselines with their
    parameters, every attribute under the 1,024-character cut, and the spec whole as an artifact."""
    built = make_study(CONSTRAINED_ROWS, constraints={"max_edap": 4.5e-10})
    monkeypatch.chdir(tmp_path)
    stored = open_stored_study(built.spec_path)
    assert stored.storage is not None
    save_spec_artifact(stored.storage, stored.study, stored.spec_document, built.url)
    assert cli.main(["pareto", *built.args(), "--json", "--no-files"]) == 0
    front = [t["number"] for t in json.loads(capsys.readouterr().out)["front"]]
    study_id = stored.storage.get_study_id_from_name(stored.name)
    with serving(built, monkeypatch) as (port, _, _):
        deadline = time.monotonic() + 60
        detail = json.loads(get(f"http://127.0.0.1:{port}/api/studies/{study_id}", deadline))
        trials = {t["number"]: t for t in detail["trials"]}
        feasible = {n for n, t in trials.items() if all(c <= 0 for c in t["constraints"])}
        assert feasible == {1, 2, 3} and set(front) <= feasible
        baseline = trials[0]
        assert baseline["params"] and {"key": "baseline", "value": "w8u8"} in baseline["user_attrs"]
        # Beside the state ("Complete"), the trial table and page show whether it is feasible
        # and which limit it breaks.
        readable = {
            n: next(a["value"] for a in t["user_attrs"] if a["key"] == "feasibility")
            for n, t in trials.items()
        }
        assert readable == {
            0: "infeasible: EDAP 1 J s mm2 over max_edap",
            1: "feasible",
            2: "feasible",
            3: "feasible",
        }
        shown = [a for t in detail["trials"] for a in t["user_attrs"]] + detail["user_attrs"]
        assert shown and all(len(a["value"]) < MAX_ATTR_CHARS for a in shown)
        (artifact,) = detail["artifacts"]
        assert artifact["filename"] == "spec.yaml"
        text = get(
            f"http://127.0.0.1:{port}/artifacts/{study_id}/{artifact['artifact_id']}", deadline
        )
        assert yaml.safe_load(text) == stored.spec_document
    capsys.readouterr()


def test_dashboard_refuses_to_delete_the_study(
    make_study: Callable[..., Built],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """optuna-dashboard deletes a study on one unauthenticated request; ours is read-only."""
    built = make_study()
    before = built.db_digest()
    with serving(built, monkeypatch) as (port, _, _):
        get(f"http://127.0.0.1:{port}/api/studies", time.monotonic() + 60)
        study_id = built.study._study_id
        for method, path in (
            ("DELETE", f"/api/studies/{study_id}"),
            ("POST", f"/api/studies/{study_id}/rename"),
        ):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}", data=b"{}", method=method
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=5)
            assert refused.value.code == 405 and b"--allow-writes" in refused.value.read()
    assert built.db_digest() == before
    with serving(built, monkeypatch, "--allow-writes") as (port, _, _):  # the opt-in really writes
        get(f"http://127.0.0.1:{port}/api/studies", time.monotonic() + 60)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/studies/{study_id}", method="DELETE"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status in (200, 204)
    assert optuna.get_all_study_names(built.url) == []
    capsys.readouterr()


def test_read_only_app_passes_reads_and_refuses_writes() -> None:
    calls: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        calls.append(environ["REQUEST_METHOD"])
        start_response("200 OK", [])
        return [b"ok"]

    statuses: list[str] = []
    wrapped = ReadOnlyApp(app)
    for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"):
        body = wrapped({"REQUEST_METHOD": method}, lambda status, headers: statuses.append(status))
        assert (body == [b"ok"]) == (method in ("GET", "HEAD"))
    assert calls == ["GET", "HEAD"] and statuses.count("405 Method Not Allowed") == 4


def test_port_in_use_is_a_user_error(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]
) -> None:
    built = make_study()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["dashboard", *built.args(), "--port", str(port)]) == 2
    assert f"cannot serve on 127.0.0.1:{port}" in capsys.readouterr().err


def test_host_check_app_accepts_loopback_names_only() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    statuses: list[str] = []
    checked = HostCheckApp(app, {*LOOPBACK_HOSTS, "tunnel.example"})
    accepted = ["localhost:8080", "127.0.0.1", "[::1]:8080", "LOCALHOST.", "tunnel.example:80"]
    refused = ["evil.example:8080", "127.0.0.1.evil.example", "", "[::2]:8080", "localhost.evil"]
    for host in accepted + refused:
        body = checked({"HTTP_HOST": host}, lambda status, headers: statuses.append(status))
        assert (body == [b"ok"]) == (host in accepted), host
    assert statuses.count("403 Forbidden") == len(refused)


def test_dashboard_refuses_a_rebound_host_name_unless_given_with_host(
    make_study: Callable[..., Built], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = make_study()
    rebound = "attacker.example"

    def status_for(port: int, host: str) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/studies", headers={"Host": host}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    for extra, accepted in (((), False), (("--host", rebound), True)):
        with serving(built, monkeypatch, *extra) as (port, _, _):
            get(f"http://127.0.0.1:{port}/api/studies", time.monotonic() + 60)
            assert status_for(port, f"{rebound}:{port}") == (200 if accepted else 403)
            assert status_for(port, f"localhost:{port}") == 200
    with serving(built, monkeypatch, "--allow-writes") as (port, _, _):
        get(f"http://127.0.0.1:{port}/api/studies", time.monotonic() + 60)
        assert status_for(port, rebound) == 403
