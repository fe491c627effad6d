"""optuna-dashboard's web app, read-only unless asked otherwise.

optuna-dashboard 0.21 has no read-only mode: one unauthenticated ``DELETE /api/studies/ID`` deletes
a study, and other requests rename studies, tell trials or write notes. Its web API reads with GET
and writes with POST, PUT and DELETE, so :class:`ReadOnlyApp` answers every other method with
``405 Method Not Allowed`` before optuna-dashboard sees it. Viewing every page and plot still works;
``mdsnn-search dashboard --allow-writes`` serves the app unwrapped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

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
