"""Datasets by name: each dataset module registers one builder ``DataConfig -> DatasetBundle``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from mdsnn_search.data.config import DataConfig, DatasetBundle
from mdsnn_search.errors import DataError
from mdsnn_search.registry import Registry

logger = logging.getLogger(__name__)

DatasetBuilder = Callable[[DataConfig], DatasetBundle]

DATASETS: Registry[DatasetBuilder] = Registry("dataset")

MIN_CLASSES = 2
"""A classifier of one class scores 100 % while learning nothing: such a folder is a mistake."""


def load_dataset(cfg: DataConfig) -> DatasetBundle:
    """Build both splits of ``cfg.name``; raises DataError if its files are missing or malformed,
    or if they hold fewer than :data:`MIN_CLASSES` classes."""
    bundle = DATASETS.get(cfg.name)(cfg)
    if bundle.num_classes < MIN_CLASSES:
        where = cfg.name if cfg.root is None else f"{cfg.name} {cfg.root}"
        raise DataError(
            f"{where}: found {bundle.num_classes} class "
            f"({', '.join(bundle.class_names) or 'none'}); "
            f"a classifier needs at least {MIN_CLASSES}"
        )
    logger.info(
        "loaded %s: %d train / %d test samples, input %s x T=%d",
        bundle.source,
        len(bundle.train),  # type: ignore[arg-type]  # every registered dataset is sized
        len(bundle.test),  # type: ignore[arg-type]
        bundle.input_shape,
        cfg.timesteps,
    )
    return bundle


def load_search_dataset(cfg: DataConfig) -> DatasetBundle:
    """``cfg``'s dataset as a search uses it: the stratified, seeded validation split
    (``cfg.val_fraction``, ``cfg.split_seed``) held out of the training split; trials are chosen by
    it and train on the rest."""
    return load_dataset(cfg).with_validation(cfg.val_fraction, cfg.split_seed)
