"""scikit-learn's bundled handwritten digits: 1797 images 1x8x8, ten classes, fully offline.

The embedded default dataset: small enough that a whole search runs on two CPU cores in minutes.
The images live in memory as one float tensor (values 0..16 scaled to [0, 1]), so an item costs
an index and an expand.
"""

from __future__ import annotations

import numpy as np
import torch

from mdsnn_search.data.config import DataConfig, DatasetBundle
from mdsnn_search.data.images import StaticImageDataset, TensorImages, image_pipeline
from mdsnn_search.data.registry import DATASETS
from mdsnn_search.data.split import split_and_subset

MAX_INTENSITY = 16.0
"""Largest pixel value of ``load_digits``: a 32x32 bitmap counted in 4x4 blocks."""


@DATASETS.register("digits")
def load_digits_dataset(cfg: DataConfig) -> DatasetBundle:
    """Stratified train/test split of the digits (``cfg.test_fraction``, ``cfg.split_seed``)."""
    from sklearn.datasets import load_digits  # sklearn costs ~1.5 s to import

    digits = load_digits()
    images = torch.from_numpy((digits.images / MAX_INTENSITY).astype(np.float32)).unsqueeze(1)
    labels = digits.target.astype(np.int64)
    what = "digits (scikit-learn load_digits)"
    train, test = (
        StaticImageDataset(
            TensorImages(images[torch.from_numpy(indices)]),
            labels[indices].tolist(),
            image_pipeline(cfg, is_train, mean=None, std=None),
        )
        for indices, is_train in zip(
            split_and_subset(labels, cfg, what), (True, False), strict=True
        )
    )
    side = cfg.frame_size or images.shape[-1]
    return DatasetBundle(
        train=train,
        test=test,
        input_shape=(1, side, side),
        num_classes=len(digits.target_names),
        class_names=[str(name) for name in digits.target_names],
        source=f"{what}: {len(labels)} images 1x8x8",
    )
