"""Where commands may write: never over a file they did not write, never into a folder by accident.

Every command that writes a file (``train`` its checkpoint, ``export`` its configs, ``pareto`` its
plot and page, ``cost --plot`` its figure) checks the path before any work starts:

- a folder is never taken for a file;
- an existing file is replaced only when it is the same kind of output of ours (recognised by a
  signature the writer puts in it) or the user passed ``--force``, so a config, a spec or a foreign
  file is never destroyed by a mistyped path;
- an explicit path must lie in an existing, writable folder (a typo does not create a tree of
  folders); default places under ``studies/`` are created, so only their nearest existing folder
  has to be writable.

Names that become file or folder names (study and run names) are plain names: no separator, and not
``.``, ``..`` or hidden, so ``studies/NAME/`` always stays inside ``studies/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from mdsnn_search.errors import ConfigError

GENERATOR = "mdsnn-search"
"""Written into every figure (matplotlib's ``Creator``) and page (``<meta name="generator">``) we
save, so a later run recognises the file as its own."""

_SIGNATURE_BYTES = 4 << 20
"""How much of a figure or page is searched for the signature (ours are far smaller)."""

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
MAX_NAME_CHARS = 100
"""File names may have 255 bytes; a name also gets suffixes (``NAME-proxy``, ``NAME.db``)."""


def check_plain_name(name: str, what: str) -> str:
    """``name`` if it can name a file or folder alone; ConfigError naming ``what`` otherwise."""
    if len(name) > MAX_NAME_CHARS:
        raise ConfigError(
            f"{what} must be at most {MAX_NAME_CHARS} characters, but got {len(name)}"
        )
    if not _PLAIN_NAME.fullmatch(name):
        raise ConfigError(
            f"{what} must be a plain name "
            "(letters, digits, '_', '-' and '.', not starting with '.'), "
            f"but got {name!r}"
        )
    return name


def _plain(name: str) -> str:
    try:
        return check_plain_name(name, "the name")
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


PlainName = Annotated[str, AfterValidator(_plain)]
"""A config field that names files or folders (see :func:`check_plain_name`)."""


@dataclass(frozen=True)
class OutputKind:
    """One kind of file a command writes, and how to recognise an earlier one of ours."""

    what: str
    is_ours: Callable[[Path], bool]


def has_signature(path: Path, signature: str = GENERATOR) -> bool:
    """Whether ``signature`` occurs in the first few MiB of ``path`` (figures, pages)."""
    try:
        with path.open("rb") as stream:
            return signature.encode() in stream.read(_SIGNATURE_BYTES)
    except OSError:
        return False


FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
"""Figure formats that carry the signature (matplotlib refuses metadata for JPEG, TIFF and WebP)."""

FIGURE_METADATA = {"Creator": GENERATOR}
"""``savefig(..., metadata=FIGURE_METADATA)`` signs a figure in every format of FIGURE_SUFFIXES."""

PAGE_META = f'<meta name="generator" content="{GENERATOR}">'
"""Put in the ``<head>`` of every page we write."""

FIGURE = OutputKind("figure", has_signature)
PAGE = OutputKind("page", lambda path: has_signature(path, PAGE_META))


def check_output_file(
    path: Path, kind: OutputKind, *, where: str, force: bool, create_folder: bool = False
) -> Path:
    """Refuse to write ``kind`` at ``path`` unless it is safe; nothing is created.

    ``where`` names the flag or field in messages (``--output``, ``train.yaml: output``).
    ``create_folder`` says the file's folder may be created (a default place, or a folder checked
    with :func:`check_output_folder`); otherwise it must exist.
    """
    if path.is_dir():
        raise ConfigError(f"{where} {path}: is a folder; give a file path")
    if path.exists() and not force and not kind.is_ours(path):
        raise ConfigError(
            f"{where} {path}: exists and is not a {kind.what} written by mdsnn-search; "
            "pass --force to overwrite it, or choose another path"
        )
    if create_folder:
        check_writable_folder(path.parent, where=where)
    else:
        _check_existing_folder(path.parent, where=where, of=path)
    return path


def check_figure_file(path: Path, *, where: str, force: bool, create_folder: bool = False) -> Path:
    """:func:`check_output_file` for a figure, whose suffix must also be one of FIGURE_SUFFIXES."""
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise ConfigError(
            f"{where} {path}: the file must end in one of {', '.join(FIGURE_SUFFIXES)}"
        )
    return check_output_file(path, FIGURE, where=where, force=force, create_folder=create_folder)


def check_output_folder(path: Path, *, where: str, create_parents: bool = False) -> Path:
    """A folder that will receive outputs: a writable folder, or absent with an existing parent
    (any missing parents may be created when ``create_parents``). Nothing is created."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where} {path}: is a file, not a folder")
    if path.is_dir() or create_parents:
        check_writable_folder(path, where=where)
    else:
        _check_existing_folder(path.parent, where=where, of=path)
    return path


def check_writable_folder(path: Path, *, where: str) -> None:
    """``path``, or the nearest folder above it that exists (it would be created), is writable."""
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{where} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{where} {path}: cannot write in {existing} (permission denied or read-only)"
        )


def _check_existing_folder(folder: Path, *, where: str, of: Path) -> None:
    if not folder.is_dir():
        raise ConfigError(f"{where} {of}: no such folder {folder} (create it first)")
    check_writable_folder(folder, where=where)
