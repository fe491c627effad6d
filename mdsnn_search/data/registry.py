"""Datasets by name: each dataset module registers one builder ``DataConfig -> DatasetBundle``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from mdsnn_search.data.config import DataConfig, DatasetBundle
from mdsnn_search.registry import Registry

logger = logging.getLogger(__name__)

DatasetBuilder = Callable[[DataConfig], DatasetBundle]

DATASETS: Registry[DatasetBuilder] = Registry("dataset")


def load_dataset(cfg: DataConfig) -> DatasetBundle:
    """Build both splits of ``cfg.name``; raises DataError if its files are missing or malformed."""
    bundle = DATASETS.get(cfg.name)(cfg)
    logger.info(
        "loaded %s: %d train / %d test samples, input %s x T=%d",
        bundle.source,
        len(bundle.train),  # type: ignore[arg-type]  # every registered dataset is sized
        len(bundle.test),  # type: ignore[arg-type]
        bundle.input_shape,
        cfg.timesteps,
    )
    return bundle
