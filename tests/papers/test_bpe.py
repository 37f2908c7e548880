"""bpe: GPT-2's byte table, merges equal to a naive recount and to Hugging Face tokenizers'
trainer, encoding equal to tokenizers' with the same merges, exact round trips, files, bad
input, and a quick run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import regex

from landmarks.cli import main
from landmarks.data.errors import DataFormatError
from landmarks.data.shakespeare import load_corpus
from landmarks.papers import bpe as paper
from landmarks.tokenizers.bpe import GPT2_PATTERN, ByteLevelBPE, bytes_to_unicode, train_bpe


@pytest.fixture(scope="module")
def corpus() -> str:
    return load_corpus()[:300_000]


@pytest.fixture(scope="module")
def trained(corpus: str) -> ByteLevelBPE:
    return train_bpe([corpus], 1000, ("<|endoftext|>",))


def test_gpt2_byte_table():
    table = bytes_to_unicode()
    assert len(set(table.values())) == 256 and all(c.isprintable() for c in table.values())
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("a")] == "a"


def _naive_merges(text: str, count: int) -> list[tuple[str, str]]:
    """Algorithm 1 of Sennrich et al. as written: recount every pair before every merge."""
    table = bytes_to_unicode()
    words = Counter(regex.findall(GPT2_PATTERN, text))
    split = {w: [table[b] for b in w.encode()] for w in words}
    ids = {c: i for i, c in enumerate(sorted(table.values()))}
    merges = []
    for _ in range(count):
        pairs: Counter = Counter()
        for w, f in words.items():
            for p in zip(split[w], split[w][1:], strict=False):
                pairs[p] += f
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], ids[p[0]], ids[p[1]]))
        merges.append(best)
        ids.setdefault(best[0] + best[1], len(ids))
        for w, s in split.items():
            out, j = [], 0
            while j < len(s):
                if j + 1 < len(s) and (s[j], s[j + 1]) == best:
                    out.append(s[j] + s[j + 1])
                    j += 2
                else:
                    out.append(s[j])
                    j += 1
            split[w] = out
    return merges


def test_incremental_counts_give_the_merges_of_a_full_recount(corpus: str):
    text = corpus[:30_000]
    assert train_bpe([text], 256 + 150).merges == _naive_merges(text, 150)


def test_merges_equal_hugging_face_trainer(corpus: str, trained: ByteLevelBPE):
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.Tokenizer(tokenizers.models.BPE())
    hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator([corpus], trainer)
    theirs = [
        tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
        for m in json.loads(hf.to_str())["model"]["merges"]
    ]
    assert trained.merges == theirs


def test_encoding_equals_hugging_face_with_the_same_merges(trained: ByteLevelBPE):
    pytest.importorskip("tokenizers")
    from landmarks.tokenizers.interop import to_hf_tokenizer

    held_out = load_corpus()[-50_000:] + " naïve café 東京 🙂 <|endoftext|> the end\n\n  spaces   "
    hf = to_hf_tokenizer(trained)
    assert trained.encode(held_out) == hf.encode(held_out).ids
    assert trained.encode("<|endoftext|>") == [trained.vocab["<|endoftext|>"]]


def test_round_trips_are_exact(trained: ByteLevelBPE):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    assert trained.decode_bytes(trained.encode_bytes(data)) == data
    planes = paper.every_plane(rng, 50)
    assert trained.decode(trained.encode(planes)) == planes
    text = load_corpus()[-20_000:]
    assert trained.decode(trained.encode(text)) == text
    assert trained.decode_bytes(trained.encode_bytes(b"\xff\xfe caf\xc3")) == b"\xff\xfe caf\xc3"


def test_save_load_and_gpt2_format_files(tmp_path: Path, trained: ByteLevelBPE):
    trained.save(tmp_path / "ours")
    assert (tmp_path / "ours" / "merges.txt").read_text().startswith("#version: 0.2\n")
    again = ByteLevelBPE.load(tmp_path / "ours", ("<|endoftext|>",))
    text = "To be, or not to be<|endoftext|>"
    assert again.encode(text) == trained.encode(text) and again.vocab == trained.vocab
    tokenizers = pytest.importorskip("tokenizers")
    from landmarks.tokenizers.interop import to_hf_tokenizer

    (tmp_path / "hf").mkdir()
    to_hf_tokenizer(trained).model.save(str(tmp_path / "hf"))  # Hugging Face's writer of GPT-2 files
    theirs = ByteLevelBPE.load(tmp_path / "hf")
    assert theirs.encode("Whether 'tis nobler") == trained.encode("Whether 'tis nobler")
    assert tokenizers is not None


def test_bad_files_and_sizes_are_refused(tmp_path: Path, trained: ByteLevelBPE):
    trained.save(tmp_path)
    (tmp_path / "vocab.json").write_text('{"a": 0')
    with pytest.raises(DataFormatError, match=r"vocab\.json: not a JSON object"):
        ByteLevelBPE.load(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps({"a": 0, "b": 1, "ab": 2}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\n")
    with pytest.raises(DataFormatError, match="not a byte-level vocabulary"):
        ByteLevelBPE.load(tmp_path)
    (tmp_path / "merges.txt").write_text("a b c\n")
    with pytest.raises(DataFormatError, match="line 1: expected two symbols"):
        ByteLevelBPE.load(tmp_path)
    with pytest.raises(ValueError, match="smaller than the 256 bytes"):
        train_bpe(["abc"], 200)


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("bpe", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "bpe" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert (tmp_path / "bpe" / "bytes_per_token.png").exists()


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "bpe", "--quick", "--set", "vocab_sizes=100,300"]) == 2
    assert "smaller than the 256 bytes" in capsys.readouterr().err
