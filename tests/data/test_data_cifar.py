"""CIFAR-10/100 read from python-pickle folders written in the distributed format."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from data_formats import cifar_images, make_cifar10, make_cifar100

from mdsnn_search.data import DataConfig, load_dataset, make_loader
from mdsnn_search.data.cifar import CIFAR10
from mdsnn_search.errors import DataError


def normalised(raw_row: np.ndarray, mean, std) -> torch.Tensor:
    image = torch.from_numpy(raw_row.reshape(3, 32, 32)).float() / 255
    return (image - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


def test_cifar10_reads_all_training_batches_and_normalises_per_channel(tmp_path) -> None:
    bundle = load_dataset(DataConfig(name="cifar10", root=make_cifar10(tmp_path), timesteps=2))
    assert bundle.input_shape == (3, 32, 32) and bundle.num_classes == 10
    assert bundle.class_names[:3] == ["airplane", "automobile", "bird"]
    assert len(bundle.train) == 50 and len(bundle.test) == 20
    assert bundle.train.labels[10:13] == [2, 3, 4]  # data_batch_2 starts at label (2 + 0) % 10
    x, y = bundle.train[12]
    assert x.shape == (2, 3, 32, 32) and y == 4
    torch.testing.assert_close(x[1], normalised(cifar_images(10, 2)[2], CIFAR10.mean, CIFAR10.std))
    x_test, _ = bundle.test[7]
    torch.testing.assert_close(
        x_test[0], normalised(cifar_images(20, 99)[7], CIFAR10.mean, CIFAR10.std)
    )


def test_cifar100_uses_the_fine_labels_and_names(tmp_path) -> None:
    bundle = load_dataset(
        DataConfig(name="cifar100", root=make_cifar100(tmp_path) / "cifar-100-python", timesteps=1)
    )
    assert bundle.num_classes == 100 and bundle.class_names[42] == "fine_42"
    assert bundle.train.labels[:3] == [0, 1, 2] and bundle.train.labels[142] == 42
    assert len(bundle.train) == 200 and len(bundle.test) == 100


def test_augmentation_applies_to_training_only_and_follows_the_loader_seed(tmp_path) -> None:
    root = make_cifar10(tmp_path)
    plain = load_dataset(DataConfig(name="cifar10", root=root, timesteps=2))
    augmented = load_dataset(DataConfig(name="cifar10", root=root, timesteps=2, augment=True))
    assert torch.equal(augmented.test[3][0], plain.test[3][0])
    batches = [next(iter(make_loader(augmented.train, batch_size=50, seed=s))) for s in (0, 0, 1)]
    assert torch.equal(batches[0][0], batches[1][0]) and not torch.equal(
        batches[0][0], batches[2][0]
    )
    reference = next(iter(make_loader(plain.train, batch_size=50)))[0]
    changed = (batches[0][0] != reference).flatten(2).any(dim=2)[0]
    assert changed.float().mean() > 0.8  # crop offset (0, 0) without a flip is 1 in 162
    assert torch.equal(batches[0][0][0], batches[0][0][1])  # one augmentation for all T frames


def test_poisson_coding_emits_spikes_from_unnormalised_intensities(tmp_path) -> None:
    bundle = load_dataset(
        DataConfig(
            name="cifar10", root=make_cifar10(tmp_path), timesteps=500, encoding="poisson", limit=1
        )
    )
    spikes, _ = bundle.test[0]
    assert set(spikes.unique().tolist()) == {0.0, 1.0}
    intensity = bundle.test.source.images[0].float() / 255
    assert abs(spikes.mean().item() - intensity.mean().item()) < 0.01


def test_subset_caps_both_official_splits(tmp_path) -> None:
    bundle = load_dataset(
        DataConfig(name="cifar10", root=make_cifar10(tmp_path), timesteps=1, max_per_class=3)
    )
    assert np.bincount(bundle.train.labels).tolist() == [3] * 10
    assert np.bincount(bundle.test.labels).tolist() == [2] * 10


def test_a_missing_folder_names_the_path_and_the_download_page(tmp_path) -> None:
    with pytest.raises(DataError, match=r"cs\.toronto\.edu/~kriz/cifar\.html") as caught:
        load_dataset(DataConfig(name="cifar10", root=tmp_path, timesteps=1))
    assert f"{tmp_path / 'cifar-10-batches-py' / 'batches.meta'} not found" in str(caught.value)
    make_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(DataError, match="data_batch_4 not found"):
        load_dataset(DataConfig(name="cifar10", root=tmp_path, timesteps=1))


def test_malformed_batches_raise_naming_the_file(tmp_path) -> None:
    folder = make_cifar10(tmp_path) / "cifar-10-batches-py"
    cfg = DataConfig(name="cifar10", root=tmp_path, timesteps=1)
    batch = folder / "data_batch_3"
    original = batch.read_bytes()
    batch.write_bytes(original[: len(original) // 2])
    with pytest.raises(DataError, match=f"{batch} is not a CIFAR pickle"):
        load_dataset(cfg)
    for broken, message in (
        ({"data": cifar_images(10, 3)}, "lacks labels"),
        (
            {"data": np.zeros((10, 1024), np.uint8), "labels": [0] * 10},
            r"expected uint8 \[N, 3072\]",
        ),
        ({"data": cifar_images(10, 3), "labels": [10] * 10}, r"expected 10 labels in 0\.\.9"),
    ):
        batch.write_bytes(pickle.dumps(broken))
        with pytest.raises(DataError, match=f"{batch}.*{message}"):
            load_dataset(cfg)
