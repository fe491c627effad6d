"""Opening a study's storage without changing it.

Reading must never change what a search wrote, so a SQLite path is checked before anything
connects to it (SQLite would otherwise create an empty file), a SQLite file without Optuna's
tables is refused before Optuna could create them, and the storage is opened with table creation
switched off. The results side reads through this, and the store checks an existing SQLite file
with it before a run writes.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import optuna
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from mdsnn_search.errors import ConfigError, StudyError
from mdsnn_search.study.storage_url import masked, missing_driver_message, parse, redact

_OPTUNA_TABLES = frozenset({"studies", "trials", "version_info"})


def read_only_storage(url: str) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage for ``url`` that creates nothing: no file, no table, no schema row."""
    parsed = parse(url)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_file(url, parsed.database)
    try:
        return optuna.storages.RDBStorage(url, skip_table_creation=True)
    except ImportError as exc:
        driver_error = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
        raise StudyError(missing_driver_message(url, driver_error)) from None
    except (SQLAlchemyError, RuntimeError, optuna.exceptions.StorageInternalError) as exc:
        cause = exc.__cause__ or exc  # Optuna wraps the driver's error
        detail = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        raise StudyError(f"storage {masked(url)}: cannot open ({redact(detail)})") from None


def sqlite_path(url: str) -> Path | None:
    """The file a ``sqlite:///`` URL points to (relative to the working directory), else None."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # a malformed URL is parse()'s to report
        return None
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    return Path(parsed.database)


def sqlite_tables(path: Path, url: str) -> set[str]:
    """The table names of the SQLite file at ``path``, opened read-only (never created or
    changed); StudyError naming ``url`` if it is no readable SQLite database."""
    try:
        return _table_names(path, "ro")
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") != "SQLITE_READONLY_ROLLBACK":
            raise StudyError(
                f"storage {url}: {path} is not a readable SQLite database ({exc})"
            ) from None
    # A writer killed mid-transaction left a hot journal, which only a writable connection may
    # roll back. Rolling it back restores the last committed state (what any later connection
    # would do), so committed trials stay as the search wrote them; mode=rw never creates a file.
    try:
        return _table_names(path, "rw")
    except sqlite3.DatabaseError as exc:
        raise StudyError(
            f"storage {url}: {path} holds a transaction a killed run left unfinished, and it "
            f"cannot be rolled back ({exc}); open it once with write access"
        ) from None


def _table_names(path: Path, mode: str) -> set[str]:
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True)) as connection:
        return {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }


def _check_sqlite_file(url: str, database: str | None) -> None:
    if not database or database == ":memory:":
        raise ConfigError(
            f"storage {url}: an in-memory SQLite database holds no stored study; give a file"
        )
    path = Path(database)
    if not path.is_file():
        raise StudyError(
            f"storage {url}: no such file {path} (has the study been run from this directory?)"
        )
    tables = sqlite_tables(path, url)
    if not _OPTUNA_TABLES <= tables:
        raise StudyError(
            f"storage {url}: {path} is not an Optuna study database (no Optuna tables)"
        )
