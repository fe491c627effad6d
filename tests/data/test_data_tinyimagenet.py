"""Tiny ImageNet read from a JPEG tree in the cs231n layout."""

from __future__ import annotations

import pytest
import torch
from data_formats import TINY_WNIDS, make_tinyimagenet, tiny_colour
from PIL import Image

from mdsnn_search.data import DataConfig, load_dataset
from mdsnn_search.data.tinyimagenet import MEAN, STD
from mdsnn_search.errors import DataError


def expected_pixel(label: int) -> torch.Tensor:
    colour = torch.tensor(tiny_colour(label), dtype=torch.float32) / 255
    return (colour - torch.tensor(MEAN)) / torch.tensor(STD)


def test_train_and_val_images_with_labels_and_class_names(tmp_path) -> None:
    bundle = load_dataset(
        DataConfig(name="tinyimagenet", root=make_tinyimagenet(tmp_path), timesteps=2)
    )
    assert bundle.input_shape == (3, 64, 64) and bundle.num_classes == 3
    assert bundle.class_names == ["goldfish", "Egyptian cat", "reel"]  # sorted wnids
    assert len(bundle.train) == 12 and len(bundle.test) == 6
    assert sorted(bundle.test.labels) == [0, 0, 1, 1, 2, 2]
    for split in (bundle.train, bundle.test):
        for index in range(len(split)):
            x, y = split[index]
            assert x.shape == (2, 3, 64, 64) and x.dtype == torch.float32
            centre = x[0, :, 32, 32]
            assert torch.allclose(centre, expected_pixel(y), atol=0.1), (index, y, centre)


def test_classes_sharing_a_name_are_told_apart_by_their_id(tmp_path) -> None:
    folder = make_tinyimagenet(tmp_path) / "tiny-imagenet-200"
    (folder / "words.txt").write_text("n01443537\tmaillot\nn02124075\tmaillot, tank suit\n")
    names = load_dataset(DataConfig(name="tinyimagenet", root=tmp_path, timesteps=1)).class_names
    assert names == ["maillot (n01443537)", "maillot (n02124075)", "n04067472"]


def test_greyscale_images_become_rgb_and_root_may_be_the_inner_folder(tmp_path) -> None:
    folder = make_tinyimagenet(tmp_path) / "tiny-imagenet-200"
    wnid = sorted(TINY_WNIDS)[0]
    Image.new("L", (64, 64), 128).save(folder / "train" / wnid / "images" / f"{wnid}_0.JPEG")
    bundle = load_dataset(DataConfig(name="tinyimagenet", root=folder, timesteps=1, limit=20))
    x, _ = bundle.train[
        bundle.train.source.paths.index(folder / "train" / wnid / "images" / f"{wnid}_0.JPEG")
    ]
    assert x.shape == (1, 3, 64, 64)
    grey = (128 / 255 - torch.tensor(MEAN)) / torch.tensor(STD)
    assert torch.allclose(x[0, :, 10, 10], grey, atol=0.05)


def test_a_missing_folder_names_the_path_and_the_download(tmp_path) -> None:
    with pytest.raises(DataError, match=r"cs231n\.stanford\.edu/tiny-imagenet-200\.zip") as caught:
        load_dataset(DataConfig(name="tinyimagenet", root=tmp_path, timesteps=1))
    assert str(tmp_path / "tiny-imagenet-200" / "wnids.txt") in str(caught.value)


def test_broken_layouts_raise_naming_the_file(tmp_path) -> None:
    folder = make_tinyimagenet(tmp_path) / "tiny-imagenet-200"
    cfg = DataConfig(name="tinyimagenet", root=tmp_path, timesteps=1)
    annotations = folder / "val" / "val_annotations.txt"
    good = annotations.read_text()
    annotations.write_text(good + "val_99.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(DataError, match=f"{annotations}:7: expected"):
        load_dataset(cfg)
    annotations.write_text(good.replace("val_0.JPEG", "val_missing.JPEG"))
    with pytest.raises(
        DataError, match=f"{folder / 'val' / 'images' / 'val_missing.JPEG'} .* not found"
    ):
        load_dataset(cfg)
    annotations.unlink()
    with pytest.raises(DataError, match=f"{annotations} not found"):
        load_dataset(cfg)


def test_unreadable_or_wrong_sized_images_raise_naming_the_file(tmp_path) -> None:
    folder = make_tinyimagenet(tmp_path) / "tiny-imagenet-200"
    wnid = sorted(TINY_WNIDS)[1]
    corrupt = folder / "train" / wnid / "images" / f"{wnid}_1.JPEG"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    small = folder / "train" / wnid / "images" / f"{wnid}_2.JPEG"
    Image.new("RGB", (32, 48), (1, 2, 3)).save(small)
    train = load_dataset(DataConfig(name="tinyimagenet", root=tmp_path, timesteps=1)).train
    with pytest.raises(DataError, match=f"{corrupt} is not a readable image"):
        train[train.source.paths.index(corrupt)]
    with pytest.raises(DataError, match=f"{small} is 32x48, expected 64x64"):
        train[train.source.paths.index(small)]
