"""landmarks.data.text: the split by work, PTB-style words, BPTT batches, a user's text file."""

from __future__ import annotations

import gzip
import random
import re
from collections import Counter
from pathlib import Path

import pytest
import torch

from landmarks.data import DataFormatError
from landmarks.data.shakespeare import WORK_SEPARATOR, load_corpus, work_title, works
from landmarks.data.text import (
    EOS,
    TEST_WORKS,
    UNK,
    VAL_WORKS,
    TextDataError,
    TextSplit,
    TextStats,
    WordVocab,
    batchify,
    bptt_batch,
    bptt_windows,
    encode_chars,
    encode_words,
    load_user_text,
    random_windows,
    shakespeare_split,
    split_by_work,
    split_tail,
    text_split,
    text_stats,
    word_tokens,
)
from landmarks.errors import UserInputError


@pytest.fixture(scope="module")
def corpus() -> str:
    return load_corpus()


@pytest.fixture(scope="module")
def split() -> TextSplit:
    return shakespeare_split()


@pytest.fixture(scope="module")
def train_tokens(split: TextSplit) -> list[str]:
    return word_tokens(split.train)


# --- the split by work ------------------------------------------------------------------------


def test_split_by_work_is_disjoint_and_covers_the_corpus(corpus: str, split: TextSplit) -> None:
    assert split.val_titles == VAL_WORKS and split.test_titles == TEST_WORKS
    titles = [work_title(w) for w in works(corpus)]
    assert sorted(split.train_titles + split.val_titles + split.test_titles) == sorted(titles)
    assert len(set(split.train_titles) | set(split.val_titles) | set(split.test_titles)) == len(titles)
    # Each part is its works, whole and in the corpus's own text.
    for part, part_titles in (
        (split.train, split.train_titles),
        (split.val, split.val_titles),
        (split.test, split.test_titles),
    ):
        assert [work_title(w) for w in works(part)] == list(part_titles)
        assert all(w in works(corpus) for w in works(part))
    assert len(WORK_SEPARATOR.join((split.train, split.val, split.test))) == len(corpus)  # nothing lost
    # The poems stay in train; each held-out part is about 5 % of the characters.
    assert {"THE SONNETS", "THE RAPE OF LUCRECE", "A LOVER'S COMPLAINT"} <= set(split.train_titles)
    for part in (split.val, split.test):
        assert 0.04 < len(part) / len(corpus) < 0.06


def test_split_by_work_is_deterministic(corpus: str, split: TextSplit) -> None:
    assert split_by_work(corpus) == split
    assert text_split() is split  # no --data-dir: the bundled corpus, computed once


def test_split_by_work_refuses_unknown_or_shared_titles(corpus: str) -> None:
    with pytest.raises(ValueError, match=r"not in the corpus: \['HAMLET'\]") as e:
        split_by_work(corpus, val_titles=("HAMLET",))
    assert "HAMLET, PRINCE OF DENMARK" in str(e.value)  # the real titles are listed
    with pytest.raises(ValueError, match="both validation and test"):
        split_by_work(corpus, val_titles=("MACBETH",), test_titles=("MACBETH",))


# --- words ------------------------------------------------------------------------------------


def test_word_tokens_ptb_conventions() -> None:
    text = "O'er the King's 1,000 men -- 'tis 3.5 good-night!\n\n[Exit.]\n...\nHam.\n  <unk> is 42nd"
    first_line = ["o'er", "the", "king's", "N", "men", "tis", "N", "good", "night", EOS]
    rest = ["exit", EOS, "ham", EOS, UNK, "is", "N", "nd", EOS]  # "...": a line without words
    assert word_tokens(text) == first_line + rest
    assert word_tokens(text, eos=False).count(EOS) == 0
    assert word_tokens("") == [] and word_tokens("\n--\n\n") == []


def test_word_tokens_unicode() -> None:
    decomposed = "Cafe\u0301"  # e and a combining acute: the same word as "Café"
    assert word_tokens(f"{decomposed}’s NAÏVE Straße ½ x² Ⅻ\r\n") == [
        "café's", "naïve", "straße", "N", "x", "N", "N", EOS,
    ]  # fmt: skip


def test_text_stats() -> None:
    stats = text_stats("To be, or not to be:\n\nthat is the question.\n")
    assert stats == TextStats(characters=44, lines=2, words=10, distinct_words=8)


def test_word_vocab_orders_by_frequency_then_alphabet() -> None:
    tokens = ["b", "a", "c", "a", "b", "d", "e", EOS, UNK, "a"]  # a: 3, b: 2, then c, d, e once
    vocab = WordVocab.build(tokens, 5)
    assert vocab.itos == (UNK, EOS, "a", "b", "c") and len(vocab) == 5
    assert vocab.stoi == {UNK: 0, EOS: 1, "a": 2, "b": 3, "c": 4}
    assert vocab.unk_id == 0 and vocab.eos_id == 1
    shuffled = tokens[:]
    random.Random(0).shuffle(shuffled)
    assert WordVocab.build(shuffled, 5) == vocab  # order of the text plays no part
    ids = vocab.encode(["a", "z", EOS, "e"])
    assert ids.dtype == torch.int64 and ids.tolist() == [2, 0, 1, 0]
    assert vocab.decode(ids) == ["a", UNK, EOS, UNK]
    assert vocab.encode([]).shape == (0,)
    with pytest.raises(ValueError, match="outside the vocabulary of 5"):
        vocab.decode([5])
    with pytest.raises(TypeError, match="word_tokens"):
        vocab.encode("a b")


def test_word_vocab_too_large_is_a_user_error() -> None:
    tokens = word_tokens("the cat sat on the mat\n")  # 5 distinct words
    assert len(WordVocab.build(tokens, 7)) == 7  # every word, <unk> and <eos>
    with pytest.raises(TextDataError, match="has 5 distinct words, so the largest vocabulary is 7") as e:
        WordVocab.build(tokens, 8)
    assert "at most 7" in str(e.value)
    assert isinstance(e.value, UserInputError) and isinstance(e.value, ValueError)
    with pytest.raises(TextDataError, match="at least 2"):
        WordVocab.build(tokens, 1)


def test_word_vocab_on_the_corpus(train_tokens: list[str]) -> None:
    vocab = WordVocab.build(train_tokens, 10_000)
    assert len(vocab) == 10_000 and vocab.itos[2:6] == ("the", "and", "i", "to")
    assert "<unk>" not in vocab.itos[2:] and all(w == w.lower() or w == "N" for w in vocab.itos[2:])
    assert 0.97 < vocab.coverage(train_tokens) < 0.99  # PTB's 10k covers ~95 % of its words
    distinct = len(Counter(train_tokens)) - 1  # <eos> is not a word
    assert len(WordVocab.build(train_tokens, distinct + 2)) == distinct + 2
    with pytest.raises(TextDataError, match=f"at most {distinct + 2}"):
        WordVocab.build(train_tokens, distinct + 3)


def test_encode_words_builds_the_vocabulary_from_train_only() -> None:
    split = TextSplit(train="a b a c\nb a\n", val="a zebra\n", test="c 12\n")
    data = encode_words(split, 5)
    assert data.vocab.itos == (UNK, EOS, "a", "b", "c")
    assert data.vocab.decode(data.train) == ["a", "b", "a", "c", EOS, "b", "a", EOS]
    assert data.vocab.decode(data.val) == ["a", UNK, EOS]
    assert data.vocab.decode(data.test) == ["c", UNK, EOS]  # N never occurs in train


def test_encode_chars_covers_all_parts(split: TextSplit) -> None:
    data = encode_chars(split)
    assert len(data.vocab) == len(set(split.train + split.val + split.test))
    assert data.train.shape == (len(split.train),) and data.val.shape == (len(split.val),)
    assert data.vocab.decode(data.test[:2000]) == split.test[:2000]
    user = encode_chars(TextSplit(train="abc\n", val="ab\n", test="xyz\n"))  # x, y, z only in test
    assert user.vocab.chars == "\nabcxyz" and user.vocab.decode(user.test) == "xyz\n"


# --- batches ----------------------------------------------------------------------------------


def test_batchify_cuts_contiguous_rows() -> None:
    data = batchify(torch.arange(23), 4)
    assert data.shape == (4, 5)
    assert data.tolist() == [list(range(b * 5, b * 5 + 5)) for b in range(4)]  # 20, 21, 22 dropped
    with pytest.raises(TextDataError, match="too short for 4 rows"):
        batchify(torch.arange(7), 4)
    with pytest.raises(ValueError, match="1-D"):
        batchify(torch.zeros(2, 8), 2)


def test_bptt_windows_shift_by_one() -> None:
    data = batchify(torch.arange(41), 2)  # (2, 20)
    windows = list(bptt_windows(data, 6))
    assert [x.shape[1] for x, _ in windows] == [6, 6, 6, 1]  # 19 input positions
    for x, y in windows:
        assert x.shape == y.shape and torch.equal(y, x + 1)  # ids are positions: target = next
    assert torch.equal(torch.cat([x for x, _ in windows], dim=1), data[:, :-1])
    assert torch.equal(torch.cat([y for _, y in windows], dim=1), data[:, 1:])
    assert [x.shape[1] for x, _ in bptt_windows(data, 6, drop_last=True)] == [6, 6, 6]
    x, y = bptt_batch(data, 18, 6)
    assert x.tolist() == [[18], [38]] and y.tolist() == [[19], [39]]
    with pytest.raises(IndexError, match=r"outside 0\.\.18"):
        bptt_batch(data, 19, 6)


def test_random_windows_are_seeded_and_shifted() -> None:
    ids = torch.arange(1000) * 3  # the value says where in the stream it stands
    torch.manual_seed(1)  # the global RNG plays no part
    x, y = random_windows(ids, 16, 20, torch.Generator().manual_seed(7))
    torch.manual_seed(2)
    x2, y2 = random_windows(ids, 16, 20, torch.Generator().manual_seed(7))
    assert x.shape == y.shape == (16, 20) and torch.equal(x, x2) and torch.equal(y, y2)
    assert torch.equal(y, x + 3)  # y is x shifted by one position
    assert torch.equal(x, x[:, :1] + 3 * torch.arange(20))  # each row a contiguous window
    assert int(y.max()) <= int(ids[-1]) and int(x.min()) >= 0
    other, _ = random_windows(ids, 16, 20, torch.Generator().manual_seed(8))
    assert not torch.equal(x, other)
    assert random_windows(ids[:21], 4, 20, torch.Generator())[0][:, 0].tolist() == [0] * 4
    with pytest.raises(TextDataError, match="need at least 21"):
        random_windows(ids[:20], 4, 20, torch.Generator())


# --- a user's own text ------------------------------------------------------------------------


def test_load_user_text_normalises_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_bytes("\ufeffFirst line\r\nSecond — línea\rthird\n".encode())
    assert load_user_text(path) == "First line\nSecond — línea\nthird\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty (0 bytes)"),
        (b"  \r\n\t\n\n", "only whitespace (6 characters)"),
        (
            b"text\x00\x01\x02more",
            "binary file, not text: it contains NUL bytes (the first at byte offset 4)",
        ),
        (b"ab\ncaf\xe9 au lait\n", "not valid UTF-8: byte 0xE9 at byte offset 6 (line 2)"),
        (b"ok \xe2\x82", "byte 0xE2 at byte offset 3 (line 1)"),  # a truncated 3-byte sequence
        (gzip.compress(b"hello\n"), "gzip-compressed file, not text"),
        ("hello\n".encode("utf-16"), "UTF-16 or UTF-32 text"),
        (
            b"ab\x1b\x07" * 50,
            "looks binary, not text: 100 of its 200 characters (50.0%) are control characters",
        ),
    ],
)
def test_load_user_text_refuses_bad_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=re.escape(message)) as e:
        load_user_text(path)
    assert str(path) in str(e.value)
    with pytest.raises(DataFormatError, match=re.escape(message)):
        load_user_text(tmp_path)  # the folder holding input.txt


def test_load_user_text_finds_the_file_in_a_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("notes\n")
    assert load_user_text(tmp_path) == "notes\n"  # the only *.txt file
    (tmp_path / "more.txt").write_text("more\n")
    with pytest.raises(DataFormatError, match=r"found 2: more\.txt, notes\.txt") as e:
        load_user_text(tmp_path)
    assert "input.txt" in str(e.value)
    (tmp_path / "input.txt").write_text("char-rnn's own name\n")
    assert load_user_text(tmp_path) == "char-rnn's own name\n"  # input.txt wins
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "data.csv").write_text("a,b\n")
    with pytest.raises(DataFormatError, match=r"looked for input\.txt .* \(found none\)"):
        load_user_text(empty)
    with pytest.raises(DataFormatError, match="no such file or directory") as e:
        load_user_text(tmp_path / "nowhere.txt")
    assert str(tmp_path / "nowhere.txt") in str(e.value)


def test_split_tail_cuts_at_line_starts() -> None:
    text = "".join(f"line {i:03d}\n" for i in range(200))  # 9 characters a line
    split = split_tail(text, 0.05, 0.1)
    assert split.train + split.val + split.test == text
    assert all(part.startswith("line ") and part.endswith("\n") for part in (split.train, split.val))
    assert split.val.startswith("line 170") and split.test.startswith("line 180")
    assert (split.train_titles, split.val_titles, split.test_titles) == ((), (), ())
    one_line = split_tail("x" * 1000)  # no line start to cut at: cut mid-line
    assert (len(one_line.train), len(one_line.val), len(one_line.test)) == (900, 50, 50)
    with pytest.raises(TextDataError, match="a text of 12 characters is too short to split"):
        split_tail("a few words\n")
    with pytest.raises(TextDataError, match=r"\(90% / 5% / 5%\): the test part would hold no text"):
        split_tail("line\n" * 40 + " " * 10)
    with pytest.raises(TextDataError, match="between 0 and 1"):
        split_tail(text, 0.0)
    with pytest.raises(TextDataError, match="must be below 1"):
        split_tail(text, 0.5, 0.5)


def test_text_split_of_a_user_file(tmp_path: Path) -> None:
    text = "".join(f"Line {i}.\n" for i in range(100))
    (tmp_path / "input.txt").write_text(text)
    split = text_split(tmp_path)
    assert split.train + split.val + split.test == text and split.source == str(tmp_path / "input.txt")
    (tmp_path / "input.txt").write_text("too short\n")
    with pytest.raises(DataFormatError, match=r"input\.txt: a text of 10 characters is too short"):
        text_split(tmp_path)
