"""Writers of tiny datasets in the real on-disk formats, so tests read them through the real code.

- N-MNIST/N-Caltech101 ``.bin``: 5 bytes per event, x, y, polarity bit + 23-bit timestamp.
- CIFAR python pickles: dicts with uint8 ``data [N, 3072]`` and label lists, plus the meta file.
- Tiny ImageNet: JPEG tree with ``wnids.txt``, ``words.txt`` and ``val_annotations.txt``.
- MNIST IDX: magic ``0 0 8 ndim``, big-endian int32 sizes, then the bytes (optionally gzipped).
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def write_atis_bin(path: Path, x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray) -> None:
    """Encode events byte for byte as in Orchard's N-MNIST/N-Caltech101 files."""
    x, y, t, p = (np.asarray(a, dtype=np.int64) for a in (x, y, t, p))
    assert np.all(t < 2**23) and np.all((p == 0) | (p == 1)) and np.all(y != 240)
    record = np.stack(
        [x & 0xFF, y & 0xFF, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF], axis=1
    ).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(record.tobytes())


def random_events(
    rng: np.random.Generator, n: int, width: int, height: int, duration_us: int = 20_000
) -> tuple[np.ndarray, ...]:
    """``n`` events in time order on a ``width x height`` sensor, spanning ``duration_us``."""
    t = np.sort(rng.integers(0, duration_us, n))
    t[0], t[-1] = 0, duration_us
    return rng.integers(0, width, n), rng.integers(0, height, n), t, rng.integers(0, 2, n)


def make_event_folder(root: Path, classes: int = 3, per_class: int = 5, side: int = 34) -> Path:
    rng = np.random.default_rng(0)
    for c in range(classes):
        for k in range(per_class):
            write_atis_bin(
                root / f"class_{c}" / f"image_{k:04d}.bin", *random_events(rng, 300, side, side)
            )
    return root


def make_learnable_event_folder(
    root: Path,
    classes: int = 3,
    per_class: int = 20,
    side: int = 34,
    events: int = 600,
    seed: int = 0,
    *,
    spread: float = 3.0,
    noise: float = 0.25,
) -> Path:
    """An N-MNIST-layout folder a network can learn: class c's events cluster around its own
    point of the sensor (Gaussian, ``spread`` pixels), over uniform background noise (a fraction
    ``noise`` of the events)."""
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(classes) / classes
    centres = side / 2 + side / 4 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    for c in range(classes):
        for k in range(per_class):
            _, _, t, p = random_events(rng, events, side, side)
            x, y = (
                np.clip(rng.normal(centres[c, i], spread, events), 0, side - 1).astype(np.int64)
                for i in (0, 1)
            )
            background = rng.random(events) < noise
            x[background] = rng.integers(0, side, background.sum())
            y[background] = rng.integers(0, side, background.sum())
            write_atis_bin(root / f"class_{c}" / f"image_{k:04d}.bin", x, y, t, p)
    return root


def _pickle(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        pickle.dump(obj, stream, protocol=2)


def cifar_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def make_cifar10(root: Path, per_batch: int = 10, test: int = 20) -> Path:
    """``root/cifar-10-batches-py`` with 5 training batches; labels cycle over the 10 classes."""
    folder = root / "cifar-10-batches-py"
    for i in range(1, 6):
        _pickle(
            folder / f"data_batch_{i}",
            {
                "batch_label": f"training batch {i} of 5",
                "labels": [(i + k) % 10 for k in range(per_batch)],
                "data": cifar_images(per_batch, i),
                "filenames": [f"img_{i}_{k}.png" for k in range(per_batch)],
            },
        )
    _pickle(
        folder / "test_batch",
        {
            "batch_label": "testing batch 1 of 1",
            "labels": [k % 10 for k in range(test)],
            "data": cifar_images(test, 99),
            "filenames": [f"test_{k}.png" for k in range(test)],
        },
    )
    _pickle(
        folder / "batches.meta",
        {
            "num_cases_per_batch": per_batch,
            "label_names": [
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            ],
            "num_vis": 3072,
        },
    )
    return root


def make_cifar100(root: Path, train: int = 200, test: int = 100) -> Path:
    """``root/cifar-100-python``; fine labels cycle over 100 classes, coarse ones differ."""
    folder = root / "cifar-100-python"
    for name, n, seed in (("train", train, 1), ("test", test, 2)):
        _pickle(
            folder / name,
            {
                "filenames": [f"{name}_{k}.png" for k in range(n)],
                "batch_label": f"{name}ing batch 1 of 1",
                "fine_labels": [k % 100 for k in range(n)],
                "coarse_labels": [k % 20 for k in range(n)],
                "data": cifar_images(n, seed),
            },
        )
    _pickle(
        folder / "meta",
        {
            "fine_label_names": [f"fine_{k}" for k in range(100)],
            "coarse_label_names": [f"coarse_{k}" for k in range(20)],
        },
    )
    return root


TINY_WNIDS = ["n02124075", "n01443537", "n04067472"]
TINY_WORDS = {
    "n01443537": "goldfish, Carassius auratus",
    "n02124075": "Egyptian cat",
    "n04067472": "reel",
    "n00001740": "entity",
}


def tiny_colour(label: int) -> tuple[int, int, int]:
    """A flat colour per class: JPEG keeps flat colours nearly exact, so tests can check pixels."""
    return [(200, 30, 30), (30, 200, 30), (30, 30, 200)][label]


def make_tinyimagenet(root: Path, train_per_class: int = 4, val_per_class: int = 2) -> Path:
    """``root/tiny-imagenet-200``; class k of the sorted wnids is painted ``tiny_colour(k)``."""
    folder = root / "tiny-imagenet-200"
    folder.mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(TINY_WNIDS) + "\n")
    (folder / "words.txt").write_text("".join(f"{w}\t{n}\n" for w, n in TINY_WORDS.items()))
    annotations = []
    for label, wnid in enumerate(sorted(TINY_WNIDS)):
        images = folder / "train" / wnid / "images"
        images.mkdir(parents=True)
        for k in range(train_per_class):
            Image.new("RGB", (64, 64), tiny_colour(label)).save(images / f"{wnid}_{k}.JPEG")
        for k in range(val_per_class):
            name = f"val_{label * val_per_class + k}.JPEG"
            (folder / "val" / "images").mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (64, 64), tiny_colour(label)).save(folder / "val" / "images" / name)
            annotations.append(f"{name}\t{wnid}\t0\t0\t63\t63")
    (folder / "val" / "val_annotations.txt").write_text("\n".join(annotations) + "\n")
    return root


def write_idx(path: Path, array: np.ndarray, *, gzipped: bool = False) -> Path:
    """An IDX file of unsigned bytes, as on Yann LeCun's MNIST page."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    data = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gzipped:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def make_mnist(root: Path, train: int = 40, test: int = 20, *, gzipped: bool = True) -> Path:
    """The four MNIST IDX files with ``train``/``test`` images; image i is filled with value
    ``10 * label`` so a test can tell which image it got."""
    for split, count in (("train", train), ("t10k", test)):
        labels = np.arange(count) % 10
        images = np.broadcast_to((10 * labels)[:, None, None], (count, 28, 28))
        write_idx(root / f"{split}-images-idx3-ubyte", images, gzipped=gzipped)
        write_idx(root / f"{split}-labels-idx1-ubyte", labels, gzipped=gzipped)
    return root
