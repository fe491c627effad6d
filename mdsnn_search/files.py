"""Reading YAML/JSON files a user hands us, with errors that name the file; writing files whole.

Every file the tool writes goes through :func:`write_atomic`: into a temporary file beside it,
renamed over it once complete, so a full disk (or a kill) leaves the old file or none, never half
of one, and the failure is one :class:`~mdsnn_search.errors.WriteError` naming the file.

Stricter than the parsers' defaults in ways a careless edit (or a hostile file) can trip over: a
key given twice is an error (both parsers would silently keep the last value), and so is a
document nested too deeply to parse (both parsers recurse, and would raise RecursionError). A
document is bounded too: at most :data:`MAX_DOCUMENT_CHARS` characters, and at most
:data:`MAX_NODES` values once YAML aliases are expanded (a few lines of nested aliases, "billion
laughs", would otherwise expand to more values than memory holds when anything walks them).
Messages about a document are cut short (:func:`~mdsnn_search.errors.shortened`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mdsnn_search.checksums import publish
from mdsnn_search.errors import ConfigError, WriteError, shortened
from mdsnn_search.finite import non_finite_fields

MAX_DOCUMENT_CHARS = 1 << 20
"""A spec or train config is a few kB; 1 MiB leaves room for long layer lists."""
MAX_NODES = 100_000
"""Values (mappings, lists, scalars) in a document with every alias expanded."""
MAX_PROBLEMS = 10
"""Validation problems listed in one message (the rest are counted)."""


def _expanded_nodes(root: yaml.Node) -> int:
    """How many values ``root`` holds with every alias expanded; above MAX_NODES (or a
    recursive alias) counts as MAX_NODES + 1. Each distinct node is counted once (memoised)."""
    sizes: dict[int, int] = {}
    over = MAX_NODES + 1

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = over  # a node reached again while being counted is recursive
        total = 1
        if isinstance(node, yaml.SequenceNode):
            children: list[yaml.Node] = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            total = min(over, total + size(child))
        sizes[id(node)] = total
        return total

    return size(root)


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping key given twice (merge keys ``<<`` excepted)
    and a document that expands to more than MAX_NODES values."""

    def construct_document(self, node: yaml.Node) -> Any:
        if _expanded_nodes(node) > MAX_NODES:
            raise yaml.constructor.ConstructorError(
                problem=f"more than {MAX_NODES} values once its aliases are expanded "
                "(or a recursive alias)"
            )
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float)):
                continue  # an unhashable key is the base loader's error to report
            if key in seen:
                line = key_node.start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    problem=f"duplicate key {key!r} at line {line}"
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _unique_json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"duplicate key {key!r}")
        document[key] = value
    return document


def read_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file (JSON is valid YAML); raise ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        too_big = path.stat().st_size > 4 * MAX_DOCUMENT_CHARS  # UTF-8: at most 4 bytes a char
        text = "" if too_big else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    if too_big:
        raise ConfigError(f"{path}: more than a config may hold ({MAX_DOCUMENT_CHARS} characters)")
    if len(text) > MAX_DOCUMENT_CHARS:
        raise ConfigError(
            f"{path}: {len(text)} characters, more than a config may hold ({MAX_DOCUMENT_CHARS})"
        )
    kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
    try:
        if kind == "JSON":
            return json.loads(text, object_pairs_hook=_unique_json_object)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: builds plain data only
    except (yaml.YAMLError, ValueError) as exc:  # JSONDecodeError is a ValueError
        detail = shortened(" ".join(str(exc).split()), 500)
        raise ConfigError(f"{path}: not valid {kind}: {detail}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid {kind}: nested too deeply to read") from None


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Like :func:`read_document` but the top level must be a mapping."""
    document = read_document(path)
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(document).__name__}")
    return document


ModelT = TypeVar("ModelT", bound=BaseModel)


def format_validation_error(exc: ValidationError, source: str | Path) -> str:
    """One line per problem, ``file: field.path: message``, joined: at most MAX_PROBLEMS of them
    (the rest counted), each cut short."""
    errors = exc.errors()
    lines = []
    for error in errors[:MAX_PROBLEMS]:
        where = shortened(".".join(str(part) for part in error["loc"]) or "(top level)", 200)
        message = shortened(error["msg"].removeprefix("Value error, "), 500)
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{source}: {where}: {message}")
    if len(errors) > MAX_PROBLEMS:
        lines.append(f"and {len(errors) - MAX_PROBLEMS} more problems")
    return "; ".join(lines)


def validate_mapping(model: type[ModelT], data: Any, source: str | Path) -> ModelT:
    """Validate ``data`` as ``model``; ConfigError names the file and every offending field.

    Every number must be finite as well (:mod:`mdsnn_search.finite`).
    """
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to validate") from None
    bad = [
        f"{source}: {where}: must be a finite number, but got {value}"
        for where, value in non_finite_fields(validated)
    ]
    if bad:
        raise ConfigError("; ".join(bad))
    return validated


def load_config(model: type[ModelT], path: str | Path) -> ModelT:
    """Read a YAML/JSON file and validate it as ``model``."""
    return validate_mapping(model, read_mapping(path), path)


class _RecordingStream:
    """A binary stream that remembers the OSError a write or flush raised: torch's zip writer
    turns it into a RuntimeError without one."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.stream.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            self.error = exc
            raise


def write_atomic(
    path: str | Path, write: Callable[[Any], object], *, checksum: bool = False
) -> Path:
    """Create ``path`` whole from ``write(stream)`` (a binary stream; parent folders are
    created): through a temporary file renamed over it, or, with ``checksum``, published with
    its checksum (:mod:`mdsnn_search.checksums`). WriteError naming ``path`` when the disk is
    full or the file cannot be written; nothing is left behind."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    stream: _RecordingStream | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as raw:
            stream = _RecordingStream(raw)
            write(stream)
            stream.flush()
            os.fsync(raw.fileno())
        if checksum:
            publish(tmp, path)
        else:
            tmp.replace(path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        failure = exc if isinstance(exc, OSError) else stream.error if stream else None
        if failure is not None and isinstance(exc, (OSError, RuntimeError)):
            reason = failure.strerror or str(failure)
            raise WriteError(f"{path}: cannot write ({reason}); nothing was written") from None
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """:func:`write_atomic` of UTF-8 text."""
    return write_atomic(path, lambda stream: stream.write(text.encode("utf-8")))
