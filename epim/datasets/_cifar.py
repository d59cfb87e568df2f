"""CIFAR-10 "python version" batches, read without running code from the file.

The batches are pickles. ``pickle.load`` would run whatever callable a crafted file names, so
they are read with an unpickler that resolves only the globals a numpy array needs
(``numpy.ndarray``, ``numpy.dtype`` and numpy's ``_reconstruct``) and ``_codecs.encode`` (how
protocol-2 pickles written by Python 3 spell a bytes object); every other global, and so every
``__reduce__`` payload, is refused before it runs. The result is then checked to be a
CIFAR-10 batch (a ``uint8`` image array and integer labels).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from epim.errors import InputError

#: The only globals a CIFAR-10 batch may name (numpy 1.x and 2.x spell the module two ways).
ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("_codecs", "encode"),
})
IMAGE_BYTES = 3 * 32 * 32


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler that admits builtins (by opcode) and plain numpy arrays, nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Read one CIFAR-10 batch file: images ``(N, 3072)`` uint8 and labels ``(N,)``.

    Raises:
        InputError: If the file is not a CIFAR-10 batch (names the file and what was found),
            in particular if it names any global other than numpy's array constructors.

    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", source=str(path)) from None
    try:
        data = _ArrayOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:  # any malformed or hostile pickle: refuse, never run it
        raise InputError(f"not a CIFAR-10 batch: {exc}", source=str(path),
                         expected="a CIFAR-10 'python version' batch") from None
    if not isinstance(data, dict):
        raise InputError("not a CIFAR-10 batch: not a dictionary", source=str(path))
    images, labels = data.get(b"data"), data.get(b"labels")
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 \
            or images.shape[1] != IMAGE_BYTES:
        raise InputError("not a CIFAR-10 batch: 'data' is not a uint8 array of 3072 columns",
                         source=str(path))
    if not isinstance(labels, list) or len(labels) != images.shape[0] or not all(
            isinstance(v, int) and 0 <= v < 10 for v in labels):
        raise InputError("not a CIFAR-10 batch: 'labels' is not one class 0..9 per image",
                         source=str(path))
    return images, np.asarray(labels, dtype=np.int64)
