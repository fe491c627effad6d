"""The ``mdsnn-search`` command.

Each subcommand lives in its own module of this package with ``register(subparsers)``; modules are
listed in :data:`SUBCOMMANDS`. This module only builds the parser, turns user errors
(:class:`MdsnnError`) into one line on stderr and exit status 2 and a stopping signal into one line
and 128 + its number, and keeps storage passwords out of everything it prints or logs (argument
errors included). Subcommand modules import their heavy dependencies (torch, ray) inside their
handlers, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from mdsnn_search import __version__
from mdsnn_search.errors import MdsnnError, shortened
from mdsnn_search.tables import counted

EXIT_USER_ERROR = 2

SUBCOMMANDS = ("run", "validate", "status", "pareto", "export", "dashboard", "retrain", "cost")
"""Subcommand modules, in help order."""


class RedactingParser(argparse.ArgumentParser):
    """An argument parser whose errors never show a password: argparse echoes what it refuses
    (``unrecognized arguments: --storage postgresql://user:secret@...``). Subcommand parsers are
    of this class too (``add_subparsers`` makes its parsers of the parent's class)."""

    def error(self, message: str) -> NoReturn:
        from mdsnn_search.study.storage_url import redact

        self.print_usage(sys.stderr)
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {redact(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = RedactingParser(
        prog="mdsnn-search",
        description="Search quantized spiking networks for accuracy against crossbar EDAP.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"mdsnn_search.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # After parsing, so that --help imports nothing of the study (torch comes with its spec).
    from mdsnn_search.study.storage_errors import storage_errors_as_user_errors
    from mdsnn_search.study.storage_url import RedactingFilter, redact

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    _quiet_libraries(args.verbose)
    try:
        with storage_errors_as_user_errors():
            return int(args.handler(args) or 0)
    except MdsnnError as exc:
        message = shortened(" ".join(redact(str(exc)).splitlines()))
        print(f"mdsnn-search {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        requeued = getattr(exc, "requeued", 0)
        done = (
            f"; {counted(requeued, 'unfinished trial')} marked FAIL (interrupted) and queued "
            "again; rerun to resume"
            if requeued
            else ""
        )
        print(
            f"mdsnn-search {args.command}: interrupted by {signal.Signals(signum).name}{done}",
            file=sys.stderr,
        )
        return 128 + signum


def _quiet_libraries(verbose: bool) -> None:
    """Optuna logs every study creation and trial at INFO; our progress display says it better."""
    if not verbose:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
