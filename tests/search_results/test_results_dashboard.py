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
from collections.abc import Callable
from typing import Any

import pytest
from results_studies import Built

from mdsnn_search import cli


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


def test_dashboard_serves_the_study_on_loopback(
    make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bottle

    servers: list[Any] = []
    original = bottle.WSGIRefServer.run

    def run_and_keep(self: Any, handler: Any) -> None:
        servers.append(self)
        original(self, handler)

    monkeypatch.setattr(bottle.WSGIRefServer, "run", run_and_keep)
    built = make_study()
    port = free_port()
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(cli.main(["dashboard", *built.args(), "--port", str(port)])), daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        page = get(f"http://127.0.0.1:{port}/dashboard/", deadline)
        assert b"<html" in page.lower()
        studies = json.loads(get(f"http://127.0.0.1:{port}/api/studies", deadline))
        assert [s["study_name"] for s in studies["study_summaries"]] == ["t"]
        assert servers and servers[0].host == "127.0.0.1"
    finally:
        while servers and not hasattr(servers[0], "srv") and thread.is_alive():
            time.sleep(0.05)
        if servers:
            servers[0].srv.shutdown()
        thread.join(timeout=10)
    assert not thread.is_alive() and codes == [0]
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:{port}/dashboard/studies/" in out
    assert "ignores constraints" in out


def test_port_in_use_is_a_user_error(make_study: Callable[..., Built], capsys: pytest.CaptureFixture[str]) -> None:
    built = make_study()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["dashboard", *built.args(), "--port", str(port)]) == 2
    assert f"cannot serve on 127.0.0.1:{port}" in capsys.readouterr().err
