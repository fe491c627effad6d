"""Reading YAML/JSON files a user hands us, with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mdsnn_search.errors import ConfigError


def read_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file (JSON is valid YAML); raise ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        detail = str(exc).replace("\n", " ")
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.').upper() or 'YAML'}: {detail}") from None


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Like :func:`read_document` but the top level must be a mapping."""
    document = read_document(path)
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(document).__name__}")
    return document


ModelT = TypeVar("ModelT", bound=BaseModel)


def format_validation_error(exc: ValidationError, source: str | Path) -> str:
    """One line per problem: ``file: field.path: message``."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{source}: {where}: {message}")
    return "; ".join(lines)


def validate_mapping(model: type[ModelT], data: Any, source: str | Path) -> ModelT:
    """Validate ``data`` as ``model``; ConfigError names the file and every offending field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(model: type[ModelT], path: str | Path) -> ModelT:
    """Read a YAML/JSON file and validate it as ``model``."""
    return validate_mapping(model, read_mapping(path), path)
