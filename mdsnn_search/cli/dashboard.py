"""``mdsnn-search dashboard SPEC``: optuna-dashboard for a study's storage, on 127.0.0.1 only.

Read-only by default: optuna-dashboard 0.21 has no such mode, and its web API deletes or renames a
study, or tells a trial, on one unauthenticated request from anything that can reach the port; the
app is served behind :class:`~mdsnn_search.results.read_only.ReadOnlyApp`, which refuses
every request but GET/HEAD/OPTIONS. ``--allow-writes`` serves it as optuna-dashboard ships it
(notes, deleting studies, telling trials from the page). In either mode a request is answered
only when its Host header is a loopback name (localhost, 127.0.0.1, ::1), so a page of another
origin cannot reach it through DNS rebinding; ``--host NAME`` accepts NAME too (e.g. the name
of a tunnel to this port).

Constraints are stored in the form optuna-dashboard reads, so its Pareto view tells feasible and
infeasible trials apart as ``mdsnn-search pareto`` does; the study's specs are served from
``artifacts/`` of the study's folder (see the README for what the dashboard shows and what it
does not).
"""

from __future__ import annotations

import argparse
import socket

from mdsnn_search.cli.render import console
from mdsnn_search.cli.study_args import add_study_arguments, open_from_args
from mdsnn_search.errors import ConfigError
from mdsnn_search.results.read_only import LOOPBACK_HOSTS, HostCheckApp, ReadOnlyApp
from mdsnn_search.study.documents import artifact_folder

HOST = "127.0.0.1"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="open optuna-dashboard on the study's storage (127.0.0.1)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_study_arguments(parser)
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    parser.add_argument(
        "--allow-writes",
        action="store_true",
        help="let the dashboard change the study (notes, delete, tell); read-only by default",
    )
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept requests whose Host header is NAME (repeatable); only loopback names "
        "(localhost, 127.0.0.1, ::1) by default",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be in 1..65535, but got {args.port}")
    for name in args.host:
        if not name.strip() or any(c in name for c in "/ @"):
            raise ConfigError(f"--host must be a host name, but got {name[:80]!r}")
    stored = open_from_args(args)
    _check_port_free(args.port)
    storage = stored.storage
    assert storage is not None  # open_stored_study always sets it
    study_id = storage.get_study_id_from_name(stored.name)
    console.print(f"optuna-dashboard for study {stored.name} ({stored.storage_url})")
    console.print(f"open http://{HOST}:{args.port}/dashboard/studies/{study_id}  (Ctrl-C stops it)")
    if not args.allow_writes:
        console.print(
            "read-only: requests that would change the study are refused "
            "(--allow-writes permits them)"
        )
    import bottle
    from optuna.artifacts import FileSystemArtifactStore
    from optuna_dashboard import wsgi  # slow (imports scikit-learn), so after the checks

    artifacts = artifact_folder(stored.name, stored.storage_url)
    app = wsgi(storage, FileSystemArtifactStore(str(artifacts)) if artifacts.is_dir() else None)
    served = HostCheckApp(
        app if args.allow_writes else ReadOnlyApp(app), {*LOOPBACK_HOSTS, *args.host}
    )
    try:
        bottle.run(served, host=HOST, port=args.port)
    except OSError as exc:
        raise _port_error(args.port, exc) from None
    return 0


def _check_port_free(port: int) -> None:
    """Fail fast and clearly on a taken port, before the dashboard's slow import."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise _port_error(port, exc) from None


def _port_error(port: int, exc: OSError) -> ConfigError:
    return ConfigError(
        f"cannot serve on {HOST}:{port} ({exc.strerror or exc}); pick another --port"
    )
