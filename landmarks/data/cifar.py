"""CIFAR-10 in its binary format (``cifar-10-batches-bin``), read without any pickle.

``data_batch_1.bin`` … ``data_batch_5.bin`` (10,000 images each) and ``test_batch.bin`` are runs
of 3,073-byte records: one label byte (0..9), then 3,072 pixel bytes: the 1,024 red values of
the 32×32 image row by row, then the green, then the blue (channel-major, so a record's pixels
reshape straight to (3, 32, 32)).

The "python version" (``cifar-10-batches-py``) holds pickles. Unpickling a file runs whatever
code it names, so a file from elsewhere is never unpickled: we refuse that version and point to
the binary one, which holds the same images.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from landmarks.data.errors import DataFormatError
from landmarks.files import atomic_write_bytes

BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
BINARY_DIR = "cifar-10-batches-bin"
PICKLE_DIR = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + 3 * 32 * 32  # label + pixels = 3073
PICKLE_PROTOCOL_BYTE = 0x80  # first byte of a protocol ≥ 2 pickle; never a valid label


class CIFAR10(NamedTuple):
    x_train: np.ndarray  # (50000, 3, 32, 32) uint8
    y_train: np.ndarray  # (50000,) uint8 in 0..9, index into CLASSES
    x_test: np.ndarray  # (10000, 3, 32, 32) uint8
    y_test: np.ndarray  # (10000,) uint8


def _refuse_pickles(where: Path) -> DataFormatError:
    return DataFormatError(
        f"{where} is the Python (pickle) version of CIFAR-10. landmarks never unpickles files it did "
        f"not write, since loading a pickle can run arbitrary code. Download the binary version "
        f"({BINARY_URL}), extract it, and pass the folder holding {BINARY_DIR}/ as --data-dir."
    )


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch file: images (N, 3, 32, 32) uint8 and labels (N,) uint8."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file") from None
    except OSError as e:
        raise DataFormatError(f"{path}: cannot be read ({e.strerror or e})") from None
    if raw[:1] == bytes([PICKLE_PROTOCOL_BYTE]):
        raise _refuse_pickles(path)
    if not raw or len(raw) % RECORD_BYTES:
        raise DataFormatError(
            f"{path}: {len(raw)} bytes is not a whole number of {RECORD_BYTES}-byte CIFAR-10 records "
            f"(1 label byte + 3072 pixel bytes): {len(raw) % RECORD_BYTES} bytes are left over after "
            f"{len(raw) // RECORD_BYTES} whole records. Truncated download, or not a CIFAR-10 binary batch?"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].copy()
    bad = np.flatnonzero(labels >= len(CLASSES))
    if bad.size:
        raise DataFormatError(
            f"{path}: record {int(bad[0])} has label {int(labels[bad[0]])}; CIFAR-10 labels are 0..9 "
            f"({bad.size} records in all are out of range). A CIFAR-100 file (2 label bytes) or not CIFAR?"
        )
    images = records[:, 1:].reshape(-1, *IMAGE_SHAPE).copy()
    return images, labels


def write_cifar_batch(path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images (N, 3, 32, 32) uint8 and labels (N,) in the binary batch format."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.shape[1:] != IMAGE_SHAPE or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 of shape (N, 3, 32, 32), got {images.dtype} {images.shape}")
    if labels.shape != images.shape[:1] or labels.min(initial=0) < 0 or labels.max(initial=0) >= len(CLASSES):
        raise ValueError(f"labels must be (N,) = {images.shape[:1]} values in 0..9, got shape {labels.shape}")
    records = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], axis=1)
    atomic_write_bytes(Path(path), lambda f: f.write(records.tobytes()))


def find_cifar10_dir(data_dir: str | Path) -> Path:
    """The folder holding the binary batches: ``data_dir`` itself or its ``cifar-10-batches-bin``."""
    data_dir = Path(data_dir).expanduser().absolute()
    if not data_dir.is_dir():
        raise DataFormatError(f"CIFAR-10: --data-dir {data_dir} is not a directory")
    candidates = [data_dir / BINARY_DIR, data_dir]
    for d in candidates:
        if any((d / name).is_file() for name in (*TRAIN_FILES, TEST_FILE)):
            return d
    pickled = [
        d
        for d in (data_dir / PICKLE_DIR, data_dir)
        if d.is_dir()
        and (d.name == PICKLE_DIR or (d / "data_batch_1").is_file() or (d / "batches.meta").is_file())
    ]
    if pickled:
        raise _refuse_pickles(pickled[0])
    archive = data_dir / "cifar-10-binary.tar.gz"
    if archive.is_file():
        raise DataFormatError(
            f"CIFAR-10: found {archive} but not its contents; extract it first "
            f"(tar xzf {archive} -C {data_dir}), then pass {data_dir} again."
        )
    raise DataFormatError(
        f"CIFAR-10 binary batches not found: looked for {', '.join((*TRAIN_FILES, TEST_FILE))} in "
        f"{' and '.join(str(d) for d in candidates)}. Download the binary version ({BINARY_URL}), "
        f"extract it, and pass the folder holding {BINARY_DIR}/ as --data-dir."
    )


def load_cifar10(data_dir: str | Path) -> CIFAR10:
    """CIFAR-10 from a user's folder, as uint8 arrays; labels index ``CLASSES``."""
    folder = find_cifar10_dir(data_dir)
    missing = [name for name in (*TRAIN_FILES, TEST_FILE) if not (folder / name).is_file()]
    if missing:
        raise DataFormatError(
            f"CIFAR-10: {folder} lacks {', '.join(missing)}; all six batch files are needed."
        )
    train = [read_cifar_batch(folder / name) for name in TRAIN_FILES]
    x_test, y_test = read_cifar_batch(folder / TEST_FILE)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return CIFAR10(x_train, y_train, x_test, y_test)
