"""optuna-dashboard's web app, read-only unless asked otherwise, and only for loopback host names.

optuna-dashboard 0.21 has no read-only mode: one unauthenticated ``DELETE /api/studies/ID`` deletes
a study, and other requests rename studies, tell trials or write notes. Its web API reads with GET
and writes with POST, PUT and DELETE, so :class:`ReadOnlyApp` answers every other method with
``405 Method Not Allowed`` before optuna-dashboard sees it. Viewing every page and plot still works;
``mdsnn-search dashboard --allow-writes`` serves the app without that guard.

The server listens on 127.0.0.1, but a page of another origin can still reach it through DNS
rebinding (its own name, re-pointed at 127.0.0.1): :class:`HostCheckApp` answers ``403`` to any
request whose ``Host`` header is not a loopback name (or one given with ``dashboard --host``),
in either mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

REFUSAL = (
    b"read-only dashboard: start it with mdsnn-search dashboard --allow-writes "
    b"to change the study\n"
)


class ReadOnlyApp:
    """A WSGI app that passes read requests to ``app`` and refuses the rest."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET").upper() in READ_METHODS:
            return self.app(environ, start_response)
        start_response(
            "405 Method Not Allowed",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Allow", ", ".join(sorted(READ_METHODS))),
            ],
        )
        return [REFUSAL]


class HostCheckApp:
    """A WSGI app that passes requests whose ``Host`` names one of ``hosts`` (any port) to
    ``app`` and refuses the rest with ``403 Forbidden``."""

    def __init__(self, app: WSGIApp, hosts: Iterable[str] = LOOPBACK_HOSTS) -> None:
        self.app = app
        self.hosts = frozenset(_normalised(host) for host in hosts)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if _host_name(environ.get("HTTP_HOST", "")) in self.hosts:
            return self.app(environ, start_response)
        start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
        return [
            b"dashboard: this Host header is not a loopback name; "
            b"start it with mdsnn-search dashboard --host NAME to accept NAME\n"
        ]


def _host_name(header: str) -> str:
    """The name of a ``Host`` header without its port: ``[::1]:8080`` -> ``::1``."""
    header = header.strip()
    if header.startswith("["):
        return _normalised(header[1:].partition("]")[0])
    return _normalised(header.rpartition(":")[0] if ":" in header else header)


def _normalised(host: str) -> str:
    return host.strip().lower().rstrip(".")
