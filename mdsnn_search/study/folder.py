"""Where a study's files go: one folder per (storage, study name), relative to the working
directory like ``studies/`` itself.

The study of the default storage (``sqlite:///studies/NAME.db``) keeps ``studies/NAME/``, where
it always was. A study of any other storage gets ``studies/NAME-<8 hex digits>/``, the digits a
hash of its storage URL (the password masked; an SQLite file by its absolute path, so the relative
and absolute URLs of one file agree). Two studies of one name in different storages (an SQLite
``digits`` and a PostgreSQL ``digits``) so never write each other's plots, report, exports or
spec artifact. A hash rather than the URL spelled out: a URL holds characters a folder name
cannot (``/``, ``:``, ``?``), and its spelled-out form would be long.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mdsnn_search.errors import ConfigError
from mdsnn_search.outputs import check_plain_name
from mdsnn_search.study.storage_url import parse

STUDIES = Path("studies")


def study_folder(name: str, storage_url: str) -> Path:
    """``studies/NAME`` for the default storage, ``studies/NAME-<hash of the storage>`` else."""
    check_plain_name(name, "the study name (it names the folder studies/NAME)")
    key = storage_key(storage_url)
    if key == storage_key(f"sqlite:///{STUDIES / name}.db"):
        return STUDIES / name
    return STUDIES / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def storage_key(storage_url: str) -> str:
    """What tells storages apart: an SQLite file's absolute path, any other URL with its
    password masked (so a changed password keeps the folder)."""
    try:
        parsed = parse(storage_url)
    except ConfigError:
        return storage_url
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return f"sqlite:///{Path(parsed.database).resolve()}"
    return parsed.render_as_string(hide_password=True)
