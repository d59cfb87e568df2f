"""Real, local datasets (numpy only): loaders, operator-named data roots, safe CIFAR-10 reading.

Nothing is downloaded at run time and nothing a client can influence is unpickled.
"""

from epim.datasets._cifar import read_cifar_batch
from epim.datasets._load import (
    DATASETS,
    FASHION_MNIST_DIR,
    ArrayDataset,
    DatasetName,
    check_dataset,
    dataset_shape,
    load_cached_dataset,
    load_dataset,
)
from epim.datasets._roots import ROOT_NAME_PATTERN, check_named_dataset, resolve_data_root

__all__ = [
    "DATASETS",
    "FASHION_MNIST_DIR",
    "ROOT_NAME_PATTERN",
    "ArrayDataset",
    "DatasetName",
    "check_dataset",
    "check_named_dataset",
    "dataset_shape",
    "load_cached_dataset",
    "load_dataset",
    "read_cifar_batch",
    "resolve_data_root",
]
