"""landmarks.information.arithmetic: exact round trips, code length = model cross-entropy, refusals."""

from __future__ import annotations

import math
import struct
import time
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
    model_from_name,
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


def _header_fields(blob: bytes) -> tuple[int, int]:
    """Where the model's name starts and where the symbol count starts, in a version-2 file."""
    name_start = 6  # magic (4), version (1), length of the name (1)
    return name_start, name_start + blob[5]


def _with_header_crc(header: bytes) -> bytes:
    """A header with a CRC that matches it: a file someone crafted, not one damaged in transit."""
    return header + struct.pack(">I", zlib.crc32(header))


@pytest.mark.parametrize("bit", [0, 7, 20, 40, 63])
def test_a_flipped_bit_in_the_symbol_count_is_refused_at_once(tmp_path: Path, capsys, bit):
    text = load_corpus()[:3000].encode()
    blob = bytearray(compress(text, AdaptiveContextModel(2)))
    _, count_start = _header_fields(blob)
    assert int.from_bytes(blob[count_start : count_start + 8], "big") == len(text)
    blob[count_start + 7 - bit // 8] ^= 1 << (bit % 8)  # big-endian: bit 63 is the top one
    packed = tmp_path / "damaged.lmac"
    packed.write_bytes(bytes(blob))
    began = time.perf_counter()
    assert main(["decompress", str(packed), "--out", str(tmp_path / "back")]) == 2
    assert time.perf_counter() - began < 2  # refused before decoding, not after 2^63 symbols
    assert "damaged header" in capsys.readouterr().err
    assert not (tmp_path / "back").exists()


@pytest.mark.parametrize("position", [0, 5, -1])  # "o" of order, the order digit, the alphabet
def test_a_flipped_bit_in_the_model_name_is_refused(tmp_path: Path, capsys, position):
    blob = bytearray(compress(b"abracadabra " * 50, AdaptiveContextModel(2)))
    name_start, count_start = _header_fields(blob)
    assert blob[name_start:count_start] == b"order2-context-counts-256"
    blob[(name_start if position >= 0 else count_start) + position] ^= 0x01
    packed = tmp_path / "damaged.lmac"
    packed.write_bytes(bytes(blob))
    assert main(["decompress", str(packed)]) == 2
    assert "damaged header" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name", ["order2-context-counts-1", "order2-context-counts-300", "order2-context-counts--300", "gzip"]
)
def test_a_crafted_header_with_a_bad_model_is_refused_with_exit_2(tmp_path: Path, capsys, name):
    with pytest.raises(CompressedFileError):
        model_from_name(name)
    body = b"hello"
    header = b"LMAC" + bytes([2, len(name)]) + name.encode() + struct.pack(">QI", len(body), zlib.crc32(body))
    packed = tmp_path / "crafted.lmac"
    packed.write_bytes(_with_header_crc(header) + encode(body, AdaptiveContextModel(2)))
    assert main(["decompress", str(packed)]) == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err


def test_version_1_files_still_decode():
    """Files written before the header had its CRC (version 1: the same header without it)."""
    data = load_corpus()[:3000].encode()
    blob = compress(data, AdaptiveContextModel(2))
    name_length = blob[5]
    end = 6 + name_length + 12  # magic, version, name length, name, count and CRC of the bytes
    old = bytearray(blob[:end] + blob[end + 4 :])
    old[4] = 1
    assert decompress(bytes(old)) == data


@pytest.mark.parametrize("version", [0, 3, 255])
def test_unknown_format_versions_are_refused(tmp_path: Path, capsys, version):
    blob = bytearray(compress(b"some bytes to pack", AdaptiveContextModel(1)))
    blob[4] = version
    with pytest.raises(CompressedFileError, match=f"format version {version},.* reads versions 1 and 2"):
        decompress(bytes(blob))
    packed = tmp_path / "other.lmac"
    packed.write_bytes(bytes(blob))
    assert main(["decompress", str(packed)]) == 2
    assert f"format version {version}" in capsys.readouterr().err


def test_an_existing_folder_as_out_is_refused_with_exit_2(tmp_path: Path, capsys):
    source = tmp_path / "play.txt"
    source.write_bytes(load_corpus()[:2000].encode())
    folder = tmp_path / "folder"
    folder.mkdir()
    assert main(["compress", str(source), "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and "play.txt.lmac" in err
    assert list(folder.iterdir()) == []
    assert main(["compress", str(source)]) == 0
    capsys.readouterr()
    assert main(["decompress", str(tmp_path / "play.txt.lmac"), "--out", str(folder)]) == 2
    assert "is a folder" in capsys.readouterr().err
    source.unlink()
    source.mkdir()  # the default output of decompress, play.txt, is now a folder
    assert main(["decompress", str(tmp_path / "play.txt.lmac")]) == 2
    assert "the default output" in capsys.readouterr().err
    (tmp_path / "file").write_bytes(b"x")
    assert main(["compress", str(tmp_path / "play.txt.lmac"), "--out", str(tmp_path / "file" / "x")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
