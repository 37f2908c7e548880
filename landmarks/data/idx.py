"""The IDX format of the MNIST database: a reader, a writer and ``load_mnist``.

An IDX file is, all integers big-endian::

    bytes 0-1   0x00 0x00
    byte  2     data type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4·d bytes   the size of each dimension (uint32)
    then        the data, row-major, prod(sizes) items

MNIST's images are ``0x00000803`` (uint8, 3 dims: N, 28, 28), its labels ``0x00000801``. Files
may be gzip-compressed as distributed (``.gz``); the reader recognises gzip by its first two
bytes, whatever the name. Nothing is ever unpickled.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from landmarks.data.errors import DataFormatError
from landmarks.files import atomic_write_bytes

IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"

# The four files of the MNIST database, by role, as distributed.
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MNIST_NUM_CLASSES = 10


def _known_codes() -> str:
    return ", ".join(f"0x{code:02X} ({dtype.name})" for code, dtype in IDX_DTYPES.items())


def _open(path: Path) -> BinaryIO:
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
        return gzip.open(path, "rb") if magic == GZIP_MAGIC else open(path, "rb")
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file") from None
    except OSError as e:
        raise DataFormatError(f"{path}: cannot be read ({e.strerror or e})") from None


def _read_exactly(f: BinaryIO, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = f.read(min(n - got, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _count_rest(f: BinaryIO) -> int:
    total = 0
    while chunk := f.read(1 << 20):
        total += len(chunk)
    return total


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (gzip or not), in native byte order, writable."""
    path = Path(path)
    try:
        with _open(path) as f:
            header = f.read(4)
            if len(header) < 4:
                raise DataFormatError(
                    f"{path}: {len(header)} bytes is too short to be an IDX file (the magic number alone is 4)"
                )
            if header[:2] != b"\x00\x00":
                raise DataFormatError(
                    f"{path}: not an IDX file: its magic number is 0x{header.hex().upper()}, "
                    "an IDX magic number starts with 0x0000 (e.g. 0x00000803 for MNIST images)"
                )
            code, ndim = header[2], header[3]
            if code not in IDX_DTYPES:
                raise DataFormatError(
                    f"{path}: unknown IDX data type code 0x{code:02X} in magic number "
                    f"0x{header.hex().upper()}; known codes: {_known_codes()}"
                )
            dims_raw = f.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise DataFormatError(
                    f"{path}: truncated header: it declares {ndim} dimensions, expected {4 * ndim} bytes "
                    f"of dimension sizes, found {len(dims_raw)}"
                )
            shape = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
            dtype = IDX_DTYPES[code]
            expected = math.prod(shape) * dtype.itemsize
            data = _read_exactly(f, expected)
            found = len(data) + _count_rest(f)
    except (OSError, EOFError, zlib.error) as e:  # gzip reports corruption while reading
        raise DataFormatError(f"{path}: corrupt or truncated gzip data ({e})") from None
    if found != expected:
        raise DataFormatError(
            f"{path}: {'truncated' if found < expected else 'trailing bytes'}: the header declares shape "
            f"{shape} of {dtype.name} after a {4 + 4 * ndim}-byte header, so expected {expected} bytes "
            f"of data, found {found}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed if ``path`` ends in ``.gz``.

    Deterministic: gzip's timestamp is zeroed, so the same array gives the same bytes.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX cannot store {array.dtype}; it stores {', '.join(str(d) for d in codes)}")
    if array.ndim > 255:
        raise ValueError(f"IDX stores at most 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, codes[native], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[native]]).tobytes()
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    atomic_write_bytes(path, lambda f: f.write(payload))


class MNIST(NamedTuple):
    x_train: np.ndarray  # (60000, 28, 28) uint8
    y_train: np.ndarray  # (60000,) uint8 in 0..9
    x_test: np.ndarray  # (10000, 28, 28) uint8
    y_test: np.ndarray  # (10000,) uint8


def _candidate_dirs(data_dir: Path) -> list[Path]:
    # As distributed; torchvision's layout; a folder named after the data set.
    return [data_dir, data_dir / "MNIST" / "raw", data_dir / "mnist"]


def _candidate_names(stem: str) -> list[str]:
    # train-images-idx3-ubyte, and train-images.idx3-ubyte as some mirrors name it.
    names = [stem, stem.replace("-idx", ".idx")]
    return [n + gz for n in names for gz in ("", ".gz")]


def find_mnist_files(data_dir: str | Path) -> dict[str, Path]:
    """The four MNIST files under ``data_dir``, by role; a DataFormatError lists what is missing."""
    data_dir = Path(data_dir).expanduser().absolute()
    if not data_dir.is_dir():
        raise DataFormatError(f"MNIST: --data-dir {data_dir} is not a directory")
    dirs = _candidate_dirs(data_dir)
    found, missing = {}, []
    for role, stem in MNIST_FILES.items():
        hits = [d / n for d in dirs for n in _candidate_names(stem) if (d / n).is_file()]
        if hits:
            found[role] = hits[0]
        else:
            missing.append(stem)
    if missing:
        raise DataFormatError(
            f"MNIST files not found: {', '.join(missing)} (each looked for also with a .gz suffix and "
            f"'.idx' for '-idx') in {', '.join(str(d) for d in dirs)}. Put the four files of the MNIST "
            "database (train-images, train-labels, t10k-images, t10k-labels) in one folder and pass it "
            "as --data-dir."
        )
    return found


def _check_images(path: Path, x: np.ndarray) -> None:
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataFormatError(
            f"{path}: expected uint8 images of shape (N, rows, cols) (magic 0x00000803), "
            f"found {x.dtype} of shape {x.shape}"
        )


def _check_labels(path: Path, y: np.ndarray, n_images: int, images_path: Path) -> None:
    if y.ndim != 1 or y.dtype != np.uint8:
        raise DataFormatError(
            f"{path}: expected uint8 labels of shape (N,) (magic 0x00000801), found {y.dtype} of shape {y.shape}"
        )
    if len(y) != n_images:
        raise DataFormatError(f"{images_path} holds {n_images} images but {path} holds {len(y)} labels")
    bad = np.flatnonzero(y >= MNIST_NUM_CLASSES)
    if bad.size:
        raise DataFormatError(
            f"{path}: label {int(y[bad[0]])} at index {int(bad[0])} ({bad.size} labels in all are "
            f"outside 0..{MNIST_NUM_CLASSES - 1})"
        )


def load_mnist(data_dir: str | Path) -> MNIST:
    """MNIST (or Fashion-MNIST, same format) from a user's folder, as uint8 arrays."""
    paths = find_mnist_files(data_dir)
    arrays = {role: read_idx(path) for role, path in paths.items()}
    for split in ("train", "test"):
        images, labels = f"{split}_images", f"{split}_labels"
        _check_images(paths[images], arrays[images])
        _check_labels(paths[labels], arrays[labels], len(arrays[images]), paths[images])
    return MNIST(arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"])
