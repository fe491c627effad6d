"""Storage URLs as users see them: the password masked everywhere, a missing driver named.

A storage URL may carry a database password (``postgresql://user:secret@host/db``). Every URL that
reaches a message, a log line, a stored document or a written file goes through :func:`masked`.
Every password of a URL parsed here is also remembered, so :func:`redact` can take it out of free
text a database driver wrote (an error message), and the CLI's log handler applies
:class:`RedactingFilter` to every record. :func:`redact` also masks the password of any URL
written out in the text (``scheme://user:secret@``), parsed or not: a command-line error
(argparse echoing an option it does not know, with its value) comes before any URL is parsed.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from mdsnn_search.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

MASK = "***"

DRIVER_EXTRAS: dict[str, str] = {"psycopg": "postgres"}
"""Driver module -> the extra of this package that installs it."""

_passwords: set[str] = set()
_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@]*:)[^\s@]+(?=@)")
"""The password part of ``scheme://user:password@`` anywhere in a text."""

_USERINFO = re.compile(r"^(?P<head>[^:/]+://[^:/@]*:)(?P<password>[^@]*)@")
"""``scheme://user:PASSWORD@``: where a URL SQLAlchemy cannot parse keeps its password."""


def parse(url: str) -> URL:
    """The SQLAlchemy URL of ``url`` (its password remembered for :func:`redact`); ConfigError
    for a malformed one, its password masked (e.g. a port that is not a number)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    userinfo = _USERINFO.match(url)
    if userinfo and userinfo["password"]:
        _passwords.add(userinfo["password"])
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"storage {redact(url)!r} is not a SQLAlchemy URL (e.g. sqlite:///studies/NAME.db)"
        ) from None
    except ValueError:  # SQLAlchemy's int() of the port
        raise ConfigError(
            f"storage {redact(url)!r}: the port must be a number in 1..65535"
        ) from None
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ConfigError(
            f"storage {redact(url)!r}: the port must be a number in 1..65535, but got {parsed.port}"
        )
    if parsed.password:
        _passwords.add(str(parsed.password))
    return parsed


def masked(url: str) -> str:
    """``url`` with its password replaced by ``***``; a URL that does not parse is redacted
    instead."""
    try:
        return parse(url).render_as_string(hide_password=True)
    except ConfigError:
        return redact(url)


def redact(text: str) -> str:
    """``text`` without any password of a URL parsed in this process, nor any URL's password
    written out in it."""
    text = _CREDENTIALS.sub(lambda m: m.group("head") + MASK, text)
    for password in sorted(_passwords, key=len, reverse=True):
        text = text.replace(password, MASK)
    return text


def missing_driver_message(url: str, exc: ImportError) -> str:
    """One line naming the database driver module ``url`` needs and how to install it."""
    module = (exc.name or str(exc)).split(".")[0]
    extra = DRIVER_EXTRAS.get(module)
    install = f"pip install 'mdsnn-search[{extra}]'" if extra else f"pip install {module}"
    return (
        f"storage {masked(url)}: needs the database driver module {module!r}, which is not "
        f"installed; {install}"
    )


class RedactingFilter(logging.Filter):
    """Takes passwords (remembered, or in a URL) out of every log record that passes a
    handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True
