"""The study-selecting arguments shared by ``status``, ``pareto``, ``export`` and ``dashboard``.

A study is named by its spec file (``status SPEC``) or by storage and name
(``status --storage URL --study NAME``); ``--storage``/``--study`` also override a spec's values.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mdsnn_search.results import StoredStudy, open_stored_study
from mdsnn_search.study import folder


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "spec", type=Path, nargs="?", help="study spec (YAML) naming the study and its storage"
    )
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="storage URL (default: the spec's, e.g. sqlite:///studies/NAME.db)",
    )
    parser.add_argument(
        "--study",
        metavar="NAME",
        help="study name (default: the spec's; optional if the storage holds one)",
    )


def open_from_args(args: argparse.Namespace) -> StoredStudy:
    return open_stored_study(args.spec, storage=args.storage, study_name=args.study)


def study_folder(stored: StoredStudy) -> Path:
    """Where results of a study go by default: its folder, one per storage and name
    (:mod:`mdsnn_search.study.folder`)."""
    return folder.study_folder(stored.name, stored.storage_url)
