"""make_loader: time-major batches, reproducible from its seed alone."""

from __future__ import annotations

import pytest
import torch

from mdsnn_search.data import DataConfig, load_dataset, make_loader, time_major_collate


@pytest.fixture(scope="module")
def poisson_digits():
    return load_dataset(DataConfig(name="digits", timesteps=3, encoding="poisson", limit=40))


def epochs(loader, count: int = 2) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    return [list(loader) for _ in range(count)]


def assert_same(a, b) -> None:
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_collate_puts_time_first() -> None:
    items = [(torch.full((4, 1, 2, 2), float(i)), i) for i in range(3)]
    x_seq, y = time_major_collate(items)
    assert x_seq.shape == (4, 3, 1, 2, 2) and x_seq.is_contiguous()
    assert torch.equal(x_seq[:, 2], items[2][0])
    assert y.dtype == torch.int64 and y.tolist() == [0, 1, 2]


def test_same_seed_same_batches_whatever_the_global_rng_does(poisson_digits) -> None:
    torch.manual_seed(1)
    first = epochs(make_loader(poisson_digits.train, batch_size=8, shuffle=True, seed=5))
    torch.manual_seed(2)
    second = epochs(make_loader(poisson_digits.train, batch_size=8, shuffle=True, seed=5))
    assert_same(first[0], second[0])
    assert_same(first[1], second[1])


def test_each_epoch_reshuffles_and_redraws_spikes(poisson_digits) -> None:
    first, second = epochs(make_loader(poisson_digits.train, batch_size=8, shuffle=True, seed=5))
    assert [y.tolist() for _, y in first] != [y.tolist() for _, y in second]
    unshuffled = epochs(make_loader(poisson_digits.train, batch_size=8, seed=5))
    assert [y.tolist() for _, y in unshuffled[0]] == [y.tolist() for _, y in unshuffled[1]]
    assert not torch.equal(unshuffled[0][0][0], unshuffled[1][0][0])  # same images, new spikes


def test_another_seed_gives_other_batches(poisson_digits) -> None:
    a = list(make_loader(poisson_digits.train, batch_size=8, shuffle=True, seed=5))
    b = list(make_loader(poisson_digits.train, batch_size=8, shuffle=True, seed=6))
    assert any(not torch.equal(xa, xb) for (xa, _), (xb, _) in zip(a, b, strict=True))


def test_worker_processes_are_reproducible_and_draw_fresh_spikes_each_epoch(poisson_digits) -> None:
    make = lambda: make_loader(poisson_digits.train, batch_size=8, seed=3, num_workers=2)  # noqa: E731
    first, second = epochs(make()), epochs(make())
    assert_same(first[0], second[0])
    assert_same(first[1], second[1])
    assert not torch.equal(first[0][0][0], first[1][0][0])
    in_process = list(make_loader(poisson_digits.train, batch_size=8, seed=3))
    assert [y.tolist() for _, y in in_process] == [y.tolist() for _, y in first[0]]


def test_workers_draw_from_different_streams() -> None:
    from mdsnn_search.data.images import ImagePipeline, StaticImageDataset, TensorImages

    grey = StaticImageDataset(
        TensorImages(torch.full((16, 1, 4, 4), 0.5)), [0] * 16, ImagePipeline(8, "poisson")
    )
    batches = list(make_loader(grey, batch_size=8, seed=0, num_workers=2))
    assert not torch.equal(
        batches[0][0], batches[1][0]
    )  # batch 0 from worker 0, batch 1 from worker 1


def test_with_index_each_batch_names_its_samples_and_keeps_the_same_draws(poisson_digits) -> None:
    plain = list(make_loader(poisson_digits.train, batch_size=8, shuffle=True, seed=4))
    indexed = list(
        make_loader(poisson_digits.train, batch_size=8, shuffle=True, seed=4, with_index=True)
    )
    for (x, y), (xi, yi, index) in zip(plain, indexed, strict=True):
        assert torch.equal(x, xi) and torch.equal(y, yi) and index.dtype == torch.int64
        assert yi.tolist() == [poisson_digits.train.labels[i] for i in index.tolist()]
    assert sorted(torch.cat([index for *_, index in indexed]).tolist()) == list(
        range(len(poisson_digits.train))
    )
