"""landmarks.data: readers on small files the tests write, generators, the bundled corpus."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from landmarks.data import DataFormatError
from landmarks.data.cifar import RECORD_BYTES, load_cifar10, read_cifar_batch, write_cifar_batch
from landmarks.data.digits import load_digits
from landmarks.data.idx import MNIST_FILES, load_mnist, read_idx, write_idx
from landmarks.data.shakespeare import (
    SPEAKER_LINE,
    CharVocab,
    load_corpus,
    speaker_line_share,
    train_val_split,
    works,
)
from landmarks.data.synthetic import SyntheticTask, batches, eval_set, step_generator
from landmarks.errors import UserInputError


def idx_bytes(code: int, shape: tuple[int, ...], data: bytes) -> bytes:
    """An IDX file written by hand from the spec, independent of write_idx."""
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + data


# --- IDX --------------------------------------------------------------------------------------


def test_read_idx_matches_hand_written_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(idx_bytes(0x08, (2, 3), bytes(range(6))))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), np.arange(6, dtype=np.uint8).reshape(2, 3))
    (tmp_path / "b").write_bytes(idx_bytes(0x0B, (2,), struct.pack(">2h", -2, 300)))
    b = read_idx(tmp_path / "b")
    assert b.dtype == np.int16 and b.dtype.isnative and b.tolist() == [-2, 300]


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path: Path, dtype: str, suffix: str) -> None:
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / f"x-idx3{suffix}"
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == array.dtype and back.flags.writeable
    np.testing.assert_array_equal(back, array)


def test_write_idx_is_deterministic(tmp_path: Path) -> None:
    array = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00", "too short"),
        (b"PK\x03\x04rest", "magic number is 0x504B0304"),
        (idx_bytes(0x07, (2,), b"ab"), "unknown IDX data type code 0x07"),
        (bytes([0, 0, 8, 3]) + struct.pack(">I", 5), "declares 3 dimensions, expected 12 bytes"),
        (idx_bytes(0x08, (2, 3), bytes(5)), "expected 6 bytes of data, found 5"),
        (idx_bytes(0x0C, (2,), bytes(4)), "expected 8 bytes of data, found 4"),
        (idx_bytes(0x08, (2,), bytes(3)), "trailing bytes"),
    ],
)
def test_read_idx_malformed(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=re.escape(message)) as e:
        read_idx(path)
    assert str(path) in str(e.value)
    # The same problem inside a gzip file is reported the same way.
    gz = tmp_path / "bad-idx1-ubyte.gz"
    gz.write_bytes(gzip.compress(content, mtime=0))
    with pytest.raises(DataFormatError, match=re.escape(message)):
        read_idx(gz)


def test_read_idx_corrupt_gzip_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (100,), bytes(100)))[:-12])
    with pytest.raises(DataFormatError, match="gzip"):
        read_idx(path)
    with pytest.raises(DataFormatError, match="no such file"):
        read_idx(tmp_path / "nope")


def write_mnist(folder: Path, n_train: int = 5, n_test: int = 3, gz: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for role, stem in MNIST_FILES.items():
        write_idx(folder / (stem + (".gz" if gz else "")), arrays[role])
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist(tmp_path: Path, gz: bool) -> None:
    arrays = write_mnist(tmp_path, gz=gz)
    mnist = load_mnist(tmp_path)
    for role, array in zip(("train_images", "train_labels", "test_images", "test_labels"), mnist):
        np.testing.assert_array_equal(array, arrays[role])
    assert mnist.x_train.shape == (5, 28, 28) and mnist.y_test.shape == (3,)


def test_load_mnist_torchvision_layout(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw)
    assert load_mnist(tmp_path).x_train.shape == (5, 28, 28)


def test_load_mnist_missing_files_are_listed(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    (tmp_path / MNIST_FILES["test_labels"]).unlink()
    with pytest.raises(DataFormatError) as e:
        load_mnist(tmp_path)
    message = str(e.value)
    assert "t10k-labels-idx1-ubyte" in message and str(tmp_path) in message
    assert "train-images" not in message.split("(")[0]  # only the missing one is named as missing
    with pytest.raises(DataFormatError, match="not a directory"):
        load_mnist(tmp_path / "nowhere")


def test_load_mnist_count_mismatch_and_bad_labels(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    write_idx(tmp_path / MNIST_FILES["train_labels"], np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataFormatError, match=r"holds 5 images but .* holds 4 labels"):
        load_mnist(tmp_path)
    write_idx(tmp_path / MNIST_FILES["train_labels"], np.array([0, 1, 2, 12, 3], dtype=np.uint8))
    with pytest.raises(DataFormatError, match="label 12 at index 3"):
        load_mnist(tmp_path)
    write_idx(tmp_path / MNIST_FILES["train_images"], np.zeros((5, 28 * 28), dtype=np.uint8))
    with pytest.raises(DataFormatError, match=r"shape \(N, rows, cols\)"):
        load_mnist(tmp_path)


def test_data_errors_are_user_errors() -> None:
    assert issubclass(DataFormatError, ValueError) and issubclass(DataFormatError, UserInputError)


# --- CIFAR-10 ---------------------------------------------------------------------------------


def cifar_records(labels: list[int], seed: int = 0) -> tuple[bytes, np.ndarray]:
    """Records built by hand: label byte, then R, G, B planes of 32×32 bytes."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
    raw = b"".join(
        bytes([label]) + img[0].tobytes() + img[1].tobytes() + img[2].tobytes()
        for label, img in zip(labels, images)
    )
    return raw, images


def test_cifar_batch_matches_hand_written_records(tmp_path: Path) -> None:
    raw, images = cifar_records([3, 0, 9])
    (tmp_path / "b.bin").write_bytes(raw)
    x, y = read_cifar_batch(tmp_path / "b.bin")
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.uint8 and y.tolist() == [3, 0, 9]
    np.testing.assert_array_equal(x, images)
    write_cifar_batch(tmp_path / "c.bin", images, np.array([3, 0, 9]))
    assert (tmp_path / "c.bin").read_bytes() == raw


def test_load_cifar10(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for i in range(1, 6):
        (folder / f"data_batch_{i}.bin").write_bytes(cifar_records([i, i], seed=i)[0])
    (folder / "test_batch.bin").write_bytes(cifar_records([7], seed=9)[0])
    data = load_cifar10(tmp_path)
    assert data.x_train.shape == (10, 3, 32, 32) and data.x_test.shape == (1, 3, 32, 32)
    assert data.y_train.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5] and data.y_test.tolist() == [7]
    assert load_cifar10(folder).y_test.tolist() == [7]  # the batches folder itself works too
    (folder / "data_batch_3.bin").unlink()
    with pytest.raises(DataFormatError, match=r"lacks data_batch_3\.bin"):
        load_cifar10(tmp_path)


def test_cifar_malformed(tmp_path: Path) -> None:
    raw, _ = cifar_records([1, 2])
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(raw[:-10])
    with pytest.raises(
        DataFormatError, match=f"{len(raw) - 10} bytes is not a whole number of {RECORD_BYTES}"
    ):
        read_cifar_batch(path)
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match="0 bytes"):
        read_cifar_batch(path)
    bad = bytearray(raw)
    bad[RECORD_BYTES] = 10  # second record's label
    path.write_bytes(bytes(bad))
    with pytest.raises(DataFormatError, match="record 1 has label 10"):
        read_cifar_batch(path)


def test_cifar_missing_files_are_listed(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError) as e:
        load_cifar10(tmp_path)
    assert "data_batch_1.bin" in str(e.value) and "test_batch.bin" in str(e.value)
    assert str(tmp_path / "cifar-10-batches-bin") in str(e.value)


def test_cifar_pickle_version_is_refused_without_unpickling(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    # A pickle that would run code if loaded: the reader must refuse it unread.
    (folder / "data_batch_1").write_bytes(b"\x80\x04\x95cos\nsystem\n(S'touch pwned'\ntR.")
    for where in (tmp_path, folder):
        with pytest.raises(DataFormatError, match="binary version") as e:
            load_cifar10(where)
        assert "pickle" in str(e.value)
    renamed = tmp_path / "data_batch_1.bin"
    renamed.write_bytes((folder / "data_batch_1").read_bytes())
    with pytest.raises(DataFormatError, match="pickle"):
        read_cifar_batch(renamed)
    assert not Path("pwned").exists()


# --- digits -----------------------------------------------------------------------------------


def test_digits_shapes_range_and_determinism() -> None:
    d = load_digits(seed=0)
    assert d.x_train.shape[1:] == (1, 8, 8) and d.x_train.dtype == torch.float32
    assert len(d.x_train) + len(d.x_test) == 1797 and len(d.x_test) == pytest.approx(0.2 * 1797, abs=10)
    assert d.x_train.min() >= 0.0 and d.x_train.max() <= 1.0 and d.x_train.max() == 1.0
    assert set(d.y_test.tolist()) == set(range(10))  # stratified: every class in test
    again, other = load_digits(seed=0), load_digits(seed=1)
    assert torch.equal(d.x_train, again.x_train) and torch.equal(d.y_test, again.y_test)
    assert not torch.equal(d.y_test, other.y_test)


def test_digits_upsampling_and_normalisation() -> None:
    small, big = load_digits(size=8), load_digits(size=32)
    assert big.x_train.shape[1:] == (1, 32, 32) and torch.equal(small.y_train, big.y_train)
    assert big.x_train.min() >= 0.0 and big.x_train.max() <= 1.0
    # Average-pooling the upsampled image returns close to the original 8×8.
    pooled = torch.nn.functional.avg_pool2d(big.x_train, 4)
    assert (pooled - small.x_train).abs().mean() < 0.1  # bilinear blurs a little
    assert (pooled - small.x_train.roll(1, dims=0)).abs().mean() > 0.2  # another image is far
    norm = load_digits(size=16, normalize=True)
    assert norm.x_train.mean().abs() < 1e-5 and (norm.x_train.std() - 1).abs() < 1e-4


# --- synthetic --------------------------------------------------------------------------------


class NoisySum:
    name = "noisy-sum"

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, 4, generator=generator)
        return x, x.sum(dim=1)


class NoisySum2(NoisySum):
    name = "noisy-sum-2"


def test_synthetic_batches_are_a_function_of_seed_and_step() -> None:
    assert isinstance(NoisySum(), SyntheticTask)
    batch = batches(NoisySum(), seed=0, batch_size=8)
    torch.manual_seed(123)  # the global RNG plays no part
    x5, y5 = batch(5)
    torch.manual_seed(456)
    assert torch.equal(batches(NoisySum(), seed=0, batch_size=8)(5)[0], x5)
    assert x5.shape == (8, 4) and torch.allclose(y5, x5.sum(1))
    assert not torch.equal(batch(6)[0], x5)
    assert not torch.equal(batches(NoisySum(), seed=1, batch_size=8)(5)[0], x5)
    assert not torch.equal(batches(NoisySum2(), seed=0, batch_size=8)(5)[0], x5)
    val = eval_set(NoisySum(), seed=0, n=8)[0]
    assert torch.equal(val, eval_set(NoisySum(), seed=0, n=8)[0])
    assert all(not torch.equal(val, batch(s)[0]) for s in range(3))
    g1, g2 = step_generator(0, "a", 3), step_generator(0, "a", 3)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


# --- Shakespeare ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> str:
    return load_corpus()


def test_corpus_is_large_and_clean(corpus: str) -> None:
    assert len(corpus) > 1_000_000
    for boilerplate in ("Project Gutenberg", "*** START", "*** END", "ELECTRONIC VERSION", "Gutenberg"):
        assert boilerplate not in corpus
    assert "\r" not in corpus and "\t" not in corpus and corpus.isascii()
    assert not any(line != line.rstrip() for line in corpus.split("\n"))
    titles = [w.split("\n", 1)[0] for w in works(corpus)]
    assert len(titles) == 42 and "HAMLET, PRINCE OF DENMARK" in titles and "THE SONNETS" in titles


def test_corpus_keeps_speaker_lines(corpus: str) -> None:
    assert (
        SPEAKER_LINE.match("Ham.") and SPEAKER_LINE.match("KING HENRY.") and not SPEAKER_LINE.match("[Exit.]")
    )
    assert "\nHam.\nTo be, or not to be" in corpus
    assert "\nHERMIA.\n" in corpus  # A Midsummer Night's Dream's bare names got their period
    assert 0.2 < speaker_line_share(corpus) < 0.4


def test_train_val_split(corpus: str) -> None:
    train, val = train_val_split(corpus, 0.1)
    assert train + val == corpus and train.endswith("\n")
    assert len(val) == pytest.approx(0.1 * len(corpus), rel=0.01)
    with pytest.raises(ValueError, match="between 0 and 1"):
        train_val_split(corpus, 1.0)


def test_char_vocab_round_trip(corpus: str) -> None:
    vocab = CharVocab.from_text(corpus)
    assert len(vocab) == len(set(corpus)) and vocab.chars == "".join(sorted(vocab.chars))
    ids = vocab.encode(corpus)
    assert ids.dtype == torch.int64 and ids.shape == (len(corpus),) and int(ids.max()) == len(vocab) - 1
    sample = corpus[:5000]
    assert vocab.decode(vocab.encode(sample)) == sample
    assert vocab.decode(vocab.encode(sample).tolist()) == sample
    with pytest.raises(ValueError, match="not in the vocabulary: 'é€'"):
        vocab.encode("abc€é")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.decode([0, len(vocab)])


def test_build_script_strips_gutenberg_boilerplate() -> None:
    """The 0.6 sdist's texts come pre-stripped; the script must still cut a licence if present."""
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "scripts" / "build_shakespeare.py"
    spec = importlib.util.spec_from_file_location("build_shakespeare", script)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    raw = (
        b"The Project Gutenberg EBook of Hamlet\r\nLicence text...\r\n"
        b"*** START OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\r\n\r\n\r\n\r\n"
        b"HAMLET\r\n\r\n<<THIS ELECTRONIC VERSION OF THE COMPLETE WORKS IS COPYRIGHT\r\n"
        b"1990-1993 BY WORLD LIBRARY.>>\r\n\r\nHAMLET\r\nTo be, or not to be   \r\n@@@\r\n\r\n"
        b"HORATIO\r\n{Aside.] My lord.\r\n\r\n"
        b"End of the Project Gutenberg EBook of Hamlet\r\nMore licence.\r\n"
    )
    assert build.clean(raw) == "HAMLET\n\nHAMLET.\nTo be, or not to be\n\nHORATIO.\n[Aside.] My lord."
