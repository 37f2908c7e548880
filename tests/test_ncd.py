"""landmarks.information.ncd: the distance's limits and what it separates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from landmarks.data.shakespeare import load_corpus
from landmarks.information.ncd import COMPRESSORS, compressed_size, distance_matrix, ncd


@pytest.mark.parametrize("compressor", list(COMPRESSORS))
def test_identical_is_near_0_and_unrelated_near_1(compressor):
    text = load_corpus()[:8000].encode()
    rng = np.random.default_rng(0)
    noise, other = (rng.integers(0, 256, 8000, dtype=np.uint8).tobytes() for _ in range(2))
    assert ncd(text, text, compressor) < (0.4 if compressor == "bz2" else 0.05)  # bz2: about 0.26
    assert ncd(noise, other, compressor) > 0.9
    assert ncd(text, text, compressor) < ncd(text, noise, compressor)


def test_random_bytes_do_not_compress():
    noise = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    for name in COMPRESSORS:
        assert compressed_size(noise, name) >= 0.99 * len(noise)


def test_distance_matrix_is_symmetric_and_groups_sources():
    corpus = load_corpus()
    plays = [corpus[i : i + 6000].encode() for i in (0, 200_000)]
    here = Path(__file__).parent
    code = [(here / name).read_bytes()[:6000] for name in ("test_engine.py", "test_cli.py")]
    d = distance_matrix(plays + code, "lzma")
    assert np.allclose(d, d.T)
    assert d[0, 1] < min(d[0, 2], d[0, 3], d[1, 2], d[1, 3])  # the two plays are closest


def test_unknown_compressor():
    with pytest.raises(ValueError, match="compressor must be one of"):
        compressed_size(b"x", "gzip9")
