"""Real, local datasets for proxy accuracy; nothing is downloaded at run time.

- ``fashion-mnist``: IDX files (``.gz`` or not) in a directory; Debian's
  ``dataset-fashion-mnist`` package installs them in ``/usr/share/datasets/fashion-mnist``.
- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images).
- ``cifar10``: the CIFAR-10 "python version" batches in a user directory.
- ``imagefolder``: ``ROOT/<class>/<image>`` (or ``ROOT/train/<class>`` and ``ROOT/test/<class>``).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from epim.datasets._cifar import read_cifar_batch
from epim.errors import InputError

DatasetName = Literal["fashion-mnist", "digits", "cifar10", "imagefolder"]
DATASETS: tuple[str, ...] = get_args(DatasetName)
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
_HOW_TO_GET = {
    "fashion-mnist": "install Debian's dataset-fashion-mnist package (apt-get install "
                     "dataset-fashion-mnist; `make test` does this as root) or name a data root "
                     "holding the four Fashion-MNIST IDX files",
    "cifar10": "unpack the CIFAR-10 'python version' archive and name its cifar-10-batches-py "
               "directory as a data root",
    "imagefolder": "name a data root with one sub-directory of images per class",
}


@dataclass(frozen=True)
class ArrayDataset:
    """A dataset held in memory as float32 images ``(N, C, H, W)`` standardized per channel.

    Attributes:
        name: Dataset name.
        x_train: Training images. ``y_train``: their labels (int64).
        x_test: Held-out images. ``y_test``: their labels.
        num_classes: Number of classes.

    """

    name: str
    x_train: npt.NDArray[np.float32]
    y_train: npt.NDArray[np.int64]
    x_test: npt.NDArray[np.float32]
    y_test: npt.NDArray[np.int64]
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        c, h, w = self.x_train.shape[1:]
        return (int(c), int(h), int(w))


def load_dataset(name: str, data_root: str | Path | None = None) -> ArrayDataset:
    """Load a dataset by name.

    Args:
        name: One of ``DATASETS``.
        data_root: Where the files are (required for ``cifar10`` and ``imagefolder``; defaults
            to Debian's directory for ``fashion-mnist``; unused for ``digits``). A directory the
            operator chose (``EPIM_DATA_ROOTS``), never one a client names.

    Raises:
        InputError: On an unknown name, or missing data (naming the path and how to get it).

    """
    if name == "digits":
        return _digits()
    root = _root(name, data_root)
    if name == "fashion-mnist":
        return _fashion_mnist(root)
    if name == "cifar10":
        return _cifar10(root)
    return _image_folder(root)


@lru_cache(maxsize=4)
def load_cached_dataset(name: str, data_root: str | Path | None = None) -> ArrayDataset:
    """``load_dataset``, memoized per process (datasets are read-only)."""
    return load_dataset(name, data_root)


def check_dataset(name: str, data_root: str | Path | None = None) -> None:
    """Check that the files ``load_dataset(name, data_root)`` needs are there (reads none).

    Raises:
        InputError: As ``load_dataset`` would, before any image is read.

    """
    if name == "digits":
        return
    root = _root(name, data_root)
    if name == "fashion-mnist":
        for stem in FASHION_MNIST_FILES:
            _find(root, stem)
    elif name == "cifar10":
        for batch in CIFAR10_FILES:
            if not (root / batch).is_file():
                raise InputError(f"missing {batch} in {root}", field="data_root",
                                 expected=_HOW_TO_GET["cifar10"])
    else:
        _classes(root / "train" if _split(root) else root)


#: ``(C, H, W)`` of one image of each dataset as :func:`load_dataset` returns it.
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "fashion-mnist": (1, 28, 28), "digits": (1, 8, 8), "cifar10": (3, 32, 32),
    "imagefolder": (3, 32, 32),
}


def dataset_shape(name: str, data_root: str | Path | None = None
                  ) -> tuple[tuple[int, int, int], int]:
    """``(C, H, W)`` of one image and the number of classes, without reading an image.

    Raises:
        InputError: As :func:`check_dataset` would (an ``imagefolder`` root is listed).

    """
    if name not in DATASETS:
        raise InputError(f"unknown dataset '{name}'", field="dataset",
                         expected="one of " + ", ".join(DATASETS))
    if name != "imagefolder":
        return IMAGE_SHAPES[name], 10
    root = _root(name, data_root)
    return IMAGE_SHAPES[name], len(_classes(root / "train" if _split(root) else root))


def _root(name: str, data_root: str | Path | None) -> Path:
    if name not in DATASETS:
        raise InputError(f"unknown dataset '{name}'", field="dataset",
                         expected="one of " + ", ".join(DATASETS))
    if data_root is None and name != "fashion-mnist":
        raise InputError(f"the {name} dataset needs a data_root", field="data_root",
                         expected=_HOW_TO_GET[name])
    root = Path(data_root) if data_root is not None else FASHION_MNIST_DIR
    if not root.is_dir():
        raise InputError(f"no {name} data at {root}", field="data_root",
                         expected=_HOW_TO_GET[name])
    return root


def _standardize(train: npt.NDArray[np.float32], test: npt.NDArray[np.float32]
                 ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    mean = train.mean(axis=(0, 2, 3), keepdims=True)
    std = train.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    return ((train - mean) / std).astype(np.float32), ((test - mean) / std).astype(np.float32)


def _digits() -> ArrayDataset:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[:, None]
    labels = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))  # fixed, seed-independent split
    cut = int(0.8 * len(labels))
    train, test = order[:cut], order[cut:]
    x_train, x_test = _standardize(images[train], images[test])
    return ArrayDataset("digits", x_train, labels[train], x_test, labels[test], 10)


def _read_idx(path: Path) -> npt.NDArray[np.uint8]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise InputError("not an unsigned-byte IDX file", source=str(path))
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _find(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.exists():
            return candidate
    raise InputError(f"missing {stem}(.gz) in {root}", field="data_root",
                     expected=_HOW_TO_GET["fashion-mnist"])


def _fashion_mnist(root: Path) -> ArrayDataset:
    arrays = {stem: _read_idx(_find(root, stem)) for stem in FASHION_MNIST_FILES}
    x_train = arrays["train-images-idx3-ubyte"].astype(np.float32)[:, None] / 255.0
    x_test = arrays["t10k-images-idx3-ubyte"].astype(np.float32)[:, None] / 255.0
    x_train, x_test = _standardize(x_train, x_test)
    return ArrayDataset("fashion-mnist", x_train,
                        arrays["train-labels-idx1-ubyte"].astype(np.int64), x_test,
                        arrays["t10k-labels-idx1-ubyte"].astype(np.int64), 10)


def _cifar10(root: Path) -> ArrayDataset:
    def batch(name: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        path = root / name
        if not path.exists():
            raise InputError(f"missing {name} in {root}", field="data_root",
                             expected=_HOW_TO_GET["cifar10"])
        pixels, labels = read_cifar_batch(path)
        return pixels.astype(np.float32).reshape(-1, 3, 32, 32) / 255.0, labels

    *train_batches, test_batch = CIFAR10_FILES
    parts = [batch(name) for name in train_batches]
    x_test, y_test = batch(test_batch)
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_train, x_test = _standardize(x_train, x_test)
    return ArrayDataset("cifar10", x_train, y_train, x_test, y_test, 10)


def _image_folder(root: Path, size: int = 32) -> ArrayDataset:
    from PIL import Image

    def read(directory: Path, classes: list[str]
             ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        images, labels = [], []
        for label, cls in enumerate(classes):
            for path in sorted((directory / cls).iterdir()):
                if path.suffix.lower() not in {".png", ".jpg", ".jpeg", ".bmp", ".gif"}:
                    continue
                with Image.open(path) as image:
                    pixels = np.asarray(image.convert("RGB").resize((size, size)), np.float32)
                images.append(pixels.transpose(2, 0, 1) / 255.0)
                labels.append(label)
        if not images:
            raise InputError(f"no images under {directory}", field="data_root",
                             expected=_HOW_TO_GET["imagefolder"])
        return np.stack(images), np.asarray(labels, dtype=np.int64)

    split = _split(root)
    classes = _classes(root / "train" if split else root)
    if split:
        x_train, y_train = read(root / "train", classes)
        x_test, y_test = read(root / "test", classes)
    else:
        x_all, y_all = read(root, classes)
        order = np.random.default_rng(0).permutation(len(y_all))
        cut = max(1, int(0.8 * len(y_all)))
        x_train, y_train = x_all[order[:cut]], y_all[order[:cut]]
        x_test, y_test = x_all[order[cut:]], y_all[order[cut:]]
    x_train, x_test = _standardize(x_train, x_test)
    return ArrayDataset(root.name, x_train, y_train, x_test, y_test, len(classes))


def _split(root: Path) -> bool:
    return (root / "train").is_dir() and (root / "test").is_dir()


def _classes(base: Path) -> list[str]:
    classes = sorted(p.name for p in base.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise InputError(f"fewer than two class directories in {base}", field="data_root",
                         expected=_HOW_TO_GET["imagefolder"])
    return classes
