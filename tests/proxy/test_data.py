import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from epim.errors import InputError
from epim.proxy import load_dataset
from epim.proxy._data import FASHION_MNIST_DIR


def test_fashion_mnist_from_debian_package() -> None:
    data = load_dataset("fashion-mnist")  # make test installs dataset-fashion-mnist
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert data.num_classes == 10 and set(np.unique(data.y_test)) == set(range(10))
    assert abs(float(data.x_train.mean())) < 1e-3 and abs(float(data.x_train.std()) - 1) < 1e-2
    assert FASHION_MNIST_DIR.is_dir()


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_idx_directory(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (20, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(20) % 10)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (5, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(5))
    data = load_dataset("fashion-mnist", tmp_path)
    assert data.x_train.shape == (20, 1, 28, 28)
    assert list(data.y_test) == [0, 1, 2, 3, 4]


def test_digits_split_is_fixed() -> None:
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.x_train.shape == (1437, 1, 8, 8) and a.x_test.shape == (360, 1, 8, 8)
    assert np.array_equal(a.y_test, b.y_test)


def test_cifar10_python_batches(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name, n in [*((f"data_batch_{i}", 4) for i in range(1, 6)), ("test_batch", 3)]:
        with (tmp_path / name).open("wb") as handle:
            pickle.dump({b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
                         b"labels": list(range(n))}, handle)
    data = load_dataset("cifar10", tmp_path)
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (3, 3, 32, 32)


def test_image_folder(tmp_path: Path) -> None:
    for cls, colour in (("cats", (255, 0, 0)), ("dogs", (0, 0, 255))):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.new("RGB", (40, 30), colour).save(tmp_path / cls / f"{i}.png")
    data = load_dataset("imagefolder", tmp_path)
    assert data.num_classes == 2
    assert data.x_train.shape[1:] == (3, 32, 32)
    assert len(data.y_train) + len(data.y_test) == 10


@pytest.mark.parametrize(("name", "root", "needle"), [
    ("fashion-mnist", "/nonexistent/fmnist", "apt-get install dataset-fashion-mnist"),
    ("cifar10", "/nonexistent/cifar", "/nonexistent/cifar"),
    ("cifar10", None, "data_root"),
    ("imagefolder", "/nonexistent/images", "one sub-directory of images per class"),
    ("mnist-like", None, "one of fashion-mnist, digits, cifar10, imagefolder"),
])
def test_missing_data_names_the_path_and_how_to_get_it(name: str, root: str | None,
                                                       needle: str) -> None:
    with pytest.raises(InputError) as info:
        load_dataset(name, root)
    assert needle in str(info.value)


def test_missing_file_in_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing train-images-idx3-ubyte"):
        load_dataset("fashion-mnist", tmp_path)
    with pytest.raises(InputError, match="missing data_batch_1"):
        load_dataset("cifar10", tmp_path)
