"""Checkpoints that carry their own config and load with ``torch.load(weights_only=True)``.

A checkpoint holds only plain containers, numbers, strings and tensors: the model config (enough
to rebuild the network), the input shape and class count, the state dict, and free-form JSON
metadata (data and training settings, metrics). Nothing is unpickled as code.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from mdsnn_search.errors import ConfigError
from mdsnn_search.files import format_validation_error, write_atomic
from mdsnn_search.outputs import OutputKind
from mdsnn_search.snn.config import ModelConfig
from mdsnn_search.snn.models import SpikingNetwork, build_model

CHECKPOINT_FORMAT = "mdsnn-search/checkpoint/1"


@dataclass
class Checkpoint:
    model: SpikingNetwork
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> ModelConfig:
        return self.model.config


def save_checkpoint(
    path: str | Path, model: SpikingNetwork, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` and ``metadata`` to ``path`` (parent folders are created)."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model": model.config.model_dump(mode="json"),
        "input_shape": list(model.input_shape),
        "num_classes": model.num_classes,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": metadata or {},
    }
    return save_atomic(payload, path)


def save_atomic(payload: Any, path: str | Path, *, checksum: bool = False) -> Path:
    """``torch.save`` to ``path`` whole (:func:`~mdsnn_search.files.write_atomic`: a reader, a run
    killed mid-write or a full disk never leaves half a file); parent folders are created.
    ``checksum``: a file a study reads back, published with its checksum."""
    return write_atomic(path, lambda stream: torch.save(payload, stream), checksum=checksum)


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` was written by :func:`save_checkpoint` (tensors are mapped, not read)."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # anything torch cannot map is not one of ours
        return False
    return isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT


CHECKPOINT = OutputKind("checkpoint", is_checkpoint)
"""What ``train`` writes: an existing file at its output is replaced only if it is one of these."""


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the network saved at ``path``; ConfigError names the file if it is not ours."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such checkpoint")
    if not zipfile.is_zipfile(path):
        raise ConfigError(
            f"{path}: not a checkpoint (torch.save writes a zip archive; "
            "this is another format or truncated)"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for a foreign or damaged archive
        raise ConfigError(f"{path}: not a readable checkpoint ({_load_failure(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(
            f"{path}: not an mdsnn-search checkpoint (expected format {CHECKPOINT_FORMAT})"
        )
    try:
        config = ModelConfig.model_validate(payload["model"])
        channels, height, width = (int(side) for side in payload["input_shape"])
        model = build_model(config, (channels, height, width), int(payload["num_classes"]))
        model.load_state_dict(payload["state_dict"])
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"{path}: model config")) from None
    except (ConfigError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        # A checkpoint edited or written by another version: its parts do not fit together.
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: damaged checkpoint ({type(exc).__name__}: {detail})") from None
    return Checkpoint(model=model, metadata=dict(payload.get("metadata", {})))


def _load_failure(exc: Exception) -> str:
    """One line on why ``torch.load(weights_only=True)`` refused a file, without torch's advice
    to load it with ``weights_only=False`` (which would run code from the file)."""
    if isinstance(exc, pickle.UnpicklingError):
        return (
            "it holds Python objects, not only tensors and plain containers; "
            "it was not saved by mdsnn-search"
        )
    first = str(exc).split(". ")[0].splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
