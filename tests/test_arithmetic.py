"""landmarks.information.arithmetic: exact round trips, code length = model cross-entropy, refusals."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from landmarks.cli import main
from landmarks.data.shakespeare import load_corpus
from landmarks.information.arithmetic import (
    MAX_TOTAL,
    AdaptiveContextModel,
    CompressedFileError,
    code_length_bits,
    compress,
    decode,
    decompress,
    encode,
    quantize,
)


class FixedModel:
    """The same distribution before every symbol (float probabilities, quantized)."""

    def __init__(self, probabilities: list[float]) -> None:
        self.freq = quantize(np.array(probabilities))
        self.alphabet, self.name = len(probabilities), "fixed"

    def reset(self) -> None:
        pass

    def frequencies(self) -> np.ndarray:
        return self.freq

    def update(self, symbol: int) -> None:
        pass


@pytest.mark.parametrize("order", [0, 1, 3])
def test_random_bytes_round_trip(order):
    data = np.random.default_rng(order).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    model = AdaptiveContextModel(order)
    assert decompress(compress(data, model), model) == data


def test_the_corpus_round_trips_and_compresses():
    text = load_corpus()[:60_000].encode()
    blob = compress(text, AdaptiveContextModel(2))
    assert decompress(blob) == text  # the model is rebuilt from the name in the file
    assert 8 * len(blob) / len(text) < 3.5  # bits per byte; zlib -9 gets 3.3 on this sample


def test_bytes_written_match_the_models_code_length():
    text = load_corpus()[:30_000].encode()
    model = AdaptiveContextModel(2)
    payload = encode(text, model)
    ideal_bytes = code_length_bits(text, model) / 8
    assert ideal_bytes <= len(payload) <= ideal_bytes + 2  # at most 2 bits + byte padding over ideal


def test_a_skewed_fixed_model_costs_its_entropy():
    p = [0.9, 0.05, 0.03, 0.02]
    model = FixedModel(p)
    symbols = np.random.default_rng(0).choice(4, size=20_000, p=p).tolist()
    payload = encode(symbols, model)
    assert decode(payload, len(symbols), model) == symbols
    entropy = -sum(q * math.log2(q) for q in p)
    assert abs(8 * len(payload) / len(symbols) - entropy) < 0.02


def test_extreme_probabilities_keep_every_symbol_codable():
    freq = quantize(np.array([1.0, 0.0, 1e-30]))
    assert freq.min() >= 1 and freq.sum() == MAX_TOTAL
    model = FixedModel([1.0, 0.0, 1e-30])
    symbols = [1, 2, 0, 0, 1, 2, 2, 0]
    assert decode(encode(symbols, model), len(symbols), model) == symbols


def test_empty_input_round_trips():
    model = AdaptiveContextModel(1)
    assert decompress(compress(b"", model), model) == b""


def test_foreign_truncated_corrupt_and_other_model_files_are_refused():
    text = load_corpus()[:5000].encode()
    blob = compress(text, AdaptiveContextModel(2))
    with pytest.raises(CompressedFileError, match="not a landmarks compressed file"):
        decompress(zlib.compress(text), AdaptiveContextModel(2))
    with pytest.raises(CompressedFileError, match="corrupt or truncated"):
        decompress(blob[: len(blob) // 2], AdaptiveContextModel(2))
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0x10
    with pytest.raises(CompressedFileError, match="corrupt or truncated"):
        decompress(bytes(flipped), AdaptiveContextModel(2))
    with pytest.raises(CompressedFileError, match="decompress it with that model"):
        decompress(blob, AdaptiveContextModel(3))
    with pytest.raises(CompressedFileError, match="truncated inside its header"):
        decompress(blob[:12])


def test_cli_round_trip_and_bad_input(tmp_path: Path, capsys):
    source = tmp_path / "play.txt"
    source.write_bytes(load_corpus()[:20_000].encode())
    assert main(["compress", str(source), "--order", "2"]) == 0
    packed = tmp_path / "play.txt.lmac"
    assert packed.stat().st_size < source.stat().st_size
    assert main(["decompress", str(packed), "--out", str(tmp_path / "back.txt")]) == 0
    assert (tmp_path / "back.txt").read_bytes() == source.read_bytes()
    (tmp_path / "empty").write_bytes(b"")
    assert main(["compress", str(tmp_path / "empty")]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["decompress", str(source)]) == 2
    assert "not a landmarks compressed file" in capsys.readouterr().err
    packed.write_bytes(packed.read_bytes()[:-50])
    assert main(["decompress", str(packed)]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err
