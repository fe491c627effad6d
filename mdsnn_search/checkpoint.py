"""Checkpoints that carry their own config and load with ``torch.load(weights_only=True)``.

A checkpoint holds only plain containers, numbers, strings and tensors: the model config (enough
to rebuild the network), the input shape and class count, the state dict, and free-form JSON
metadata (data and training settings, metrics). Nothing is unpickled as code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from mdsnn_search.errors import ConfigError
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


def save_checkpoint(path: str | Path, model: SpikingNetwork, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` and ``metadata`` to ``path`` (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model": model.config.model_dump(mode="json"),
        "input_shape": list(model.input_shape),
        "num_classes": model.num_classes,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": metadata or {},
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the network saved at ``path``; ConfigError names the file if it is not one of ours."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for a foreign or truncated file
        raise ConfigError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path}: not an mdsnn-search checkpoint (expected format {CHECKPOINT_FORMAT})")
    try:
        config = ModelConfig.model_validate(payload["model"])
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid model config in checkpoint: {exc}") from None
    model = build_model(config, tuple(payload["input_shape"]), int(payload["num_classes"]))
    model.load_state_dict(payload["state_dict"])
    return Checkpoint(model=model, metadata=dict(payload.get("metadata", {})))
