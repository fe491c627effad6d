"""The project's exception family.

Every error a user can cause (a bad config value, a missing file, a mismatched study) is one of
these. The CLI prints its message on one line and exits with status 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

MAX_MESSAGE_CHARS = 2000
"""The longest error line the CLI prints (a message quoting a huge value is cut)."""


def shortened(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


class MdsnnError(Exception):
    """Base class of the errors a user can cause; the message names the field or file."""


class ConfigError(MdsnnError):
    """A config file or value is malformed, unknown or out of range."""


class DataError(MdsnnError):
    """A dataset is missing or malformed; the message names the path and where the data is from."""


class StudyError(MdsnnError):
    """A stored study does not match what was asked of it (directions, name, storage)."""


class InfrastructureError(MdsnnError):
    """Something outside a trial's configuration broke (a damaged cache file, a full disk): a
    trial that raises it is queued again and does not count against n_trials."""


class WriteError(InfrastructureError):
    """A file could not be written (a full disk, a file-size limit, no permission); the write
    left nothing behind."""
