"""Every registered dataset keeps the same contract: items [T, C, H, W], batches [T, B, C, H, W]."""

from __future__ import annotations

import pytest
import torch

from mdsnn_search.data import DATASETS, DatasetBundle, load_dataset, make_loader


@pytest.mark.parametrize("name", DATASETS.names())
def test_registered_dataset_keeps_the_item_and_batch_contract(name, config_for) -> None:
    bundle = load_dataset(config_for(name, timesteps=3))
    assert isinstance(bundle, DatasetBundle)
    assert bundle.num_classes == len(bundle.class_names) >= 2
    assert len(bundle.train) > 0 and len(bundle.test) > 0
    x, y = bundle.train[0]
    assert x.dtype == torch.float32 and x.shape == (3, *bundle.input_shape)
    assert isinstance(y, int) and 0 <= y < bundle.num_classes
    x_seq, labels = next(iter(make_loader(bundle.train, batch_size=4, seed=0)))
    assert x_seq.dtype == torch.float32 and x_seq.shape == (3, 4, *bundle.input_shape)
    assert labels.dtype == torch.int64 and labels.shape == (4,)
    assert torch.isfinite(x_seq).all()
    assert bundle.source


def test_every_dataset_name_in_the_config_is_registered() -> None:
    from typing import get_args

    from mdsnn_search.data import DatasetName

    assert sorted(get_args(DatasetName)) == DATASETS.names()


def test_unknown_dataset_names_the_closest_match() -> None:
    from mdsnn_search.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean 'cifar10'"):
        DATASETS.get("cifar1O")
