import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from epim.datasets import (
    FASHION_MNIST_DIR,
    check_dataset,
    check_named_dataset,
    load_dataset,
    read_cifar_batch,
)
from epim.errors import InputError


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


def write_cifar(root: Path) -> None:
    rng = np.random.default_rng(0)
    for name, n in [*((f"data_batch_{i}", 4) for i in range(1, 6)), ("test_batch", 3)]:
        with (root / name).open("wb") as handle:  # as CIFAR-10's own files: protocol 2
            pickle.dump({b"batch_label": b"batch", b"data": rng.integers(
                0, 255, (n, 3072), dtype=np.uint8), b"labels": list(range(n)),
                b"filenames": [b"x.png"] * n}, handle, protocol=2)


def test_cifar10_python_batches(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    check_dataset("cifar10", tmp_path)
    data = load_dataset("cifar10", tmp_path)
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (3, 3, 32, 32)


class Payload:
    """Unpickling this runs ``touch MARKER`` (what a hostile file would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_malicious_cifar_batch_is_refused_without_running(tmp_path: Path,
                                                             protocol: int) -> None:
    marker = tmp_path / "pwned"
    batch = tmp_path / "data_batch_1"
    batch.write_bytes(pickle.dumps({b"data": Payload(marker), b"labels": [0]},
                                   protocol=protocol))
    pickle.loads(pickle.dumps(Payload(tmp_path / "control"), protocol=protocol))
    assert (tmp_path / "control").exists()  # the payload does run under plain pickle
    with pytest.raises(InputError, match="forbidden global") as info:
        read_cifar_batch(batch)
    assert "posix.system" in str(info.value) or "os.system" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("content", [
    pickle.dumps([1, 2, 3]),
    pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}),
    pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 11]}),
    b"not a pickle at all",
])
def test_non_cifar_pickles_are_refused(tmp_path: Path, content: bytes) -> None:
    batch = tmp_path / "data_batch_1"
    batch.write_bytes(content)
    with pytest.raises(InputError, match="not a CIFAR-10 batch"):
        read_cifar_batch(batch)


def test_named_roots_never_show_the_path(tmp_path: Path) -> None:
    roots = {"cifar": tmp_path}
    with pytest.raises(InputError) as info:
        check_named_dataset("cifar10", "cifar", roots)
    assert "'cifar'" in str(info.value) and str(tmp_path) not in str(info.value)
    with pytest.raises(InputError, match="no data root named 'home'"):
        check_named_dataset("imagefolder", "home", roots)
    write_cifar(tmp_path)
    assert check_named_dataset("cifar10", "cifar", roots) == tmp_path


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
