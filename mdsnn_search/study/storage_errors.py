"""Storage failures as user errors: one line and exit status 2, in every command.

A storage that cannot be reached, read or written (a PostgreSQL server that is down, a read-only or
locked SQLite file, a database of another schema) fails deep inside Optuna or SQLAlchemy, at any
step of any command. Optuna wraps the driver's error in ``StorageInternalError``, whose own message
("... e.g. exceeding max length") points the wrong way. The CLI runs every command inside
:func:`storage_errors_as_user_errors`, which re-raises such failures as a :class:`StudyError`
quoting the database's own first line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from mdsnn_search.errors import StudyError


@contextmanager
def storage_errors_as_user_errors() -> Iterator[None]:
    """Re-raise a storage failure raised inside the block as a one-line StudyError."""
    try:
        yield
    except Exception as exc:
        error = storage_error(exc)
        if error is None:
            raise
        raise error from None


def storage_error(exc: BaseException) -> StudyError | None:
    """The StudyError for ``exc`` if it is a storage failure, else None.

    Looked up in ``sys.modules``: an exception of Optuna's or SQLAlchemy's can only exist once they
    are imported, so commands that never touch a storage do not pay for importing them.
    """
    kinds = tuple(
        kind
        for module, name in (
            ("optuna.exceptions", "StorageInternalError"),
            ("sqlalchemy.exc", "DBAPIError"),
        )
        if (kind := getattr(sys.modules.get(module), name, None)) is not None
    )
    if not kinds or not isinstance(exc, kinds):
        return None
    cause = exc.__cause__ if exc.__cause__ is not None else exc  # Optuna wraps the database's error
    lines = str(cause).strip().splitlines()
    detail = lines[0] if lines else type(cause).__name__
    return StudyError(
        f"storage: {detail}; check the storage URL (study.storage or --storage), that its server "
        "is reachable and that its file is writable"
    )
