"""Text for the language models: splits, vocabularies, BPTT batches and a user's own text file.

**The split.** The bundled Shakespeare corpus (``landmarks.data.shakespeare``) is split *by
work*, the way the Penn Treebank is split by section, so that validation and test text come
from plays the model never saw, not from the lines around the ones it trained on. The split is
fixed and listed here: ``VAL_WORKS`` (a comedy and a history) and ``TEST_WORKS`` (a tragedy and
a romance), chosen from the start, middle and end of the corpus, about 5 % of its characters
each; every other work, the sonnets and poems included, is training text. A user's own text
(``--data-dir``) has no plays, so ``split_tail`` holds out its last 5 % + 5 % instead, cut at
line starts, as char-rnn holds out the tail of ``input.txt``.

**Words, the PTB way.** Mikolov et al.'s preprocessing of the Penn Treebank (Mikolov et al.
2010, "Recurrent neural network based language model"; 2011, "Extensions of recurrent neural
network language model"), the data Zaremba, Sutskever & Vinyals (2014, "Recurrent Neural
Network Regularization") train on: text lowercased, punctuation removed, every number replaced
by the token ``N``, one sentence per line with an end-of-sentence token ``<eos>`` after each,
and a vocabulary of the 10 000 most frequent training words (``<unk>`` and ``<eos>`` among the
10 000) with every other word replaced by ``<unk>``. ``word_tokens`` does the same to any text:

- a word is a run of letters with internal apostrophes (``o'er``, ``king's``); a leading or
  trailing apostrophe is dropped with the punctuation (``'tis`` -> ``tis``), as is a hyphen
  (``good-night`` -> ``good night``). In a user's non-ASCII text, letters are what
  ``str.isalpha`` says after NFC normalisation (``café``, ``straße``) and a typographic
  apostrophe (’) counts as ``'``;
- a number (digits, with ``,`` or ``.`` between digits; or a numeral such as ``½``) becomes ``N``;
- a *line* plays the part of PTB's sentence: verse is written a line at a time, and a speech
  ends at a line break. Each line with at least one word ends with ``<eos>``; a blank line, or
  one of punctuation only, gives nothing;
- a literal ``<unk>`` is kept as one token, so that PTB's own ``ptb.train.txt`` reads as it was
  written (its ``N`` is lowercased to ``n``, one more word with the same role).

Characters need no such rules: ``encode_chars`` maps every character to an id with
``shakespeare.CharVocab``, whose alphabet is built over the whole text, train, validation and
test together, as char-rnn builds it over all of ``input.txt``. A character that occurs only in
held-out text then has an id whose embedding training never updates; the model gives it a low
probability, which the validation loss honestly counts.

**Batches.** ``batchify`` cuts the token stream into ``batch`` contiguous rows and
``bptt_windows`` walks them in windows for truncated backpropagation through time, the target
being the input shifted by one token (Zaremba et al.; the PyTorch ``word_language_model``
example). ``random_windows`` draws windows at random start positions instead, from a given
``torch.Generator``, as char-rnn-style training does.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
import torch

from landmarks.data.errors import DataFormatError
from landmarks.data.shakespeare import WORK_SEPARATOR, CharVocab, load_corpus, work_title, works
from landmarks.errors import UserInputError

# The held-out works of the bundled corpus, titles as the corpus spells them (see ``works``).
# The 3rd and 31st of its 42 works, and the 20th and 42nd: about 5 % of its characters each.
VAL_WORKS = ("AS YOU LIKE IT", "THE TRAGEDY OF KING RICHARD THE SECOND")
TEST_WORKS = ("MACBETH", "THE WINTER'S TALE")

UNK = "<unk>"
EOS = "<eos>"
NUMBER = "N"

# A word, a number, or a literal <unk>. The ASCII pattern is the same on ASCII text, and faster.
_TOKEN = re.compile(r"<unk>|[^\W\d_]+(?:'[^\W\d_]+)*|\d+(?:[.,]\d+)*")
_TOKEN_ASCII = re.compile(r"<unk>|[a-z]+(?:'[a-z]+)*|[0-9]+(?:[.,][0-9]+)*")

USER_TEXT_NAME = "input.txt"  # char-rnn's name for the training text in its data folder
# Control characters other than tab, newline, carriage return and form feed; above this share
# of the characters a file is taken for binary data that happens to decode.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
MAX_CONTROL_SHARE = 0.01
_COMPRESSED = {b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


class TextDataError(UserInputError, ValueError):
    """Text that cannot serve the setup asked of it: a vocabulary larger than its words, a text
    too short to split. The message says what the limit is."""


# --- the split ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextSplit:
    """Train, validation and test text, and the titles of the works in each (none for a user's
    text, which ``split_tail`` cuts by position)."""

    train: str
    val: str
    test: str
    train_titles: tuple[str, ...] = ()
    val_titles: tuple[str, ...] = ()
    test_titles: tuple[str, ...] = ()
    source: str = ""  # where the text came from, for reports


def split_by_work(
    text: str, val_titles: Sequence[str] = VAL_WORKS, test_titles: Sequence[str] = TEST_WORKS
) -> TextSplit:
    """The corpus split by work: the listed works held out, the rest (in corpus order) to train.

    Each split is its works joined by ``WORK_SEPARATOR``, so the text stays the corpus's own.
    """
    by_title: dict[str, str] = {}
    for work in works(text):
        title = work_title(work)
        if title in by_title:
            raise ValueError(f"the corpus has two works titled {title!r}; cannot split it by title")
        by_title[title] = work
    overlap = sorted(set(val_titles) & set(test_titles))
    if overlap:
        raise ValueError(f"works listed for both validation and test: {overlap}")
    missing = [t for t in (*val_titles, *test_titles) if t not in by_title]
    if missing:
        raise ValueError(
            f"works not in the corpus: {missing}; its {len(by_title)} titles are: {sorted(by_title)}"
        )
    held_out = set(val_titles) | set(test_titles)
    train_titles = tuple(t for t in by_title if t not in held_out)

    def join(titles: Sequence[str]) -> str:
        return WORK_SEPARATOR.join(by_title[t] for t in titles)

    return TextSplit(
        train=join(train_titles),
        val=join(val_titles),
        test=join(test_titles),
        train_titles=train_titles,
        val_titles=tuple(val_titles),
        test_titles=tuple(test_titles),
        source="the bundled Shakespeare corpus",
    )


@lru_cache(maxsize=1)
def shakespeare_split() -> TextSplit:
    """``split_by_work`` of the bundled corpus, computed once."""
    return split_by_work(load_corpus())


def _line_start_near(text: str, pos: int, before: int) -> int:
    """The first line start at or after ``pos`` and before ``before``; ``pos`` itself if the
    line runs past ``before`` (a text of long lines is then cut mid-line)."""
    if pos == 0 or text[pos - 1] == "\n":
        return pos
    newline = text.find("\n", pos, max(pos, before - 1))
    return newline + 1 if newline >= 0 else pos


def split_tail(text: str, val_fraction: float = 0.05, test_fraction: float = 0.05) -> TextSplit:
    """Train, then validation, then test: contiguous pieces, the last two the tail of the text.

    Cuts fall at the first line start at or after ``len(text) * (1 - val - test)`` and
    ``len(text) * (1 - test)``, so no line is shared between two parts.
    """
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < fraction < 1.0:
            raise TextDataError(f"{name} must lie strictly between 0 and 1, got {fraction}")
    if val_fraction + test_fraction >= 1.0:
        raise TextDataError(
            f"val_fraction + test_fraction must be below 1 to leave training text, got "
            f"{val_fraction} + {test_fraction}"
        )
    n = len(text)
    test_start = _line_start_near(text, n - round(n * test_fraction), n)
    val_start = _line_start_near(text, n - round(n * (val_fraction + test_fraction)), test_start)
    parts = {"train": text[:val_start], "validation": text[val_start:test_start], "test": text[test_start:]}
    empty = [name for name, part in parts.items() if not part.strip()]
    if empty:
        raise TextDataError(
            f"a text of {n} characters is too short to split into train, validation and test "
            f"({1 - val_fraction - test_fraction:.0%} / {val_fraction:.0%} / {test_fraction:.0%}): "
            f"the {' and '.join(empty)} part{'s' if len(empty) > 1 else ''} would hold no text; use a longer text"
        )
    return TextSplit(parts["train"], parts["validation"], parts["test"])


# --- a user's own text --------------------------------------------------------------------------


def find_user_text(path: str | Path) -> Path:
    """The text file ``path`` names: the file itself, or in a folder ``input.txt``, else the
    folder's only ``*.txt`` file."""
    path = Path(path).expanduser().absolute()
    if path.is_file():
        return path
    if not path.is_dir():
        raise DataFormatError(f"{path}: no such file or directory")
    if (path / USER_TEXT_NAME).is_file():
        return path / USER_TEXT_NAME
    txts = sorted(p for p in path.glob("*.txt") if p.is_file())
    if len(txts) == 1:
        return txts[0]
    found = "none" if not txts else f"{len(txts)}: {', '.join(p.name for p in txts)}"
    raise DataFormatError(
        f"{path}: no text file to read: looked for {USER_TEXT_NAME} (char-rnn's name for the training "
        f"text), then for a single *.txt file (found {found}). Put your text in "
        f"{path / USER_TEXT_NAME}, or pass the file itself as --data-dir."
    )


def _decode_text(path: Path, data: bytes) -> str:
    if not data:
        raise DataFormatError(f"{path}: the file is empty (0 bytes); a language model needs text")
    for magic, kind in _COMPRESSED.items():
        if data.startswith(magic):
            raise DataFormatError(f"{path}: a {kind}-compressed file, not text; decompress it first")
    if data.startswith(_UTF16_32_BOMS):
        raise DataFormatError(
            f"{path}: UTF-16 or UTF-32 text (it starts with a byte-order mark); save it as UTF-8"
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataFormatError(
            f"{path}: a binary file, not text: it contains NUL bytes (the first at byte offset {nul})"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataFormatError(
            f"{path}: not valid UTF-8: byte 0x{data[e.start]:02X} at byte offset {e.start} (line {line}) "
            f"cannot be decoded ({e.reason}); save the file as UTF-8"
        ) from None
    return text.removeprefix("\ufeff")  # a UTF-8 byte-order mark is not text


def load_user_text(path: str | Path) -> str:
    """A user's text file (``--data-dir``), checked and with universal newlines.

    ``path`` is a text file, or a folder holding ``input.txt`` or a single ``*.txt`` file.
    Refused with a ``DataFormatError`` naming the file: a missing file, an empty or
    whitespace-only one, a binary or compressed one, one that is not UTF-8 (the message gives
    the offset of the first bad byte). CRLF and lone CR line ends become LF.
    """
    file = find_user_text(path)
    try:
        data = file.read_bytes()
    except OSError as e:
        raise DataFormatError(f"{file}: cannot be read ({e.strerror or e})") from None
    text = _decode_text(file, data).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DataFormatError(
            f"{file}: only whitespace ({len(text)} characters), no text for a language model to learn"
        )
    controls = len(_CONTROL.findall(text))
    if controls > MAX_CONTROL_SHARE * len(text):
        raise DataFormatError(
            f"{file}: looks binary, not text: {controls} of its {len(text)} characters "
            f"({controls / len(text):.1%}) are control characters (at most {MAX_CONTROL_SHARE:.0%} allowed)"
        )
    return text


def text_split(data_dir: str | Path | None = None) -> TextSplit:
    """What a language model trains on: the bundled corpus split by work, or with ``data_dir``
    the user's text (``load_user_text``) split by ``split_tail``."""
    if data_dir is None:
        return shakespeare_split()
    file = find_user_text(data_dir)
    text = load_user_text(file)
    try:
        split = split_tail(text)
    except TextDataError as e:
        raise DataFormatError(f"{file}: {e}") from None
    return TextSplit(split.train, split.val, split.test, source=str(file))


# --- words ------------------------------------------------------------------------------------


def word_tokens(text: str, eos: bool = True) -> list[str]:
    """PTB-style word tokens (see the module docstring): lowercase words, ``N`` for numbers, and
    ``<eos>`` after each line that has a word (``eos=False`` leaves those out)."""
    pattern = _TOKEN_ASCII
    if not text.isascii():
        pattern = _TOKEN
        text = unicodedata.normalize("NFC", text).replace("\u2019", "'")  # é as one letter; ’ as '
        # \w matches numerals that are not digits (½, ², Ⅻ): make them numbers, not letters.
        numerals = {c for c in set(text) if c.isalnum() and not c.isalpha() and not c.isdecimal()}
        if numerals:
            text = text.translate({ord(c): " 0 " for c in numerals})
    tokens: list[str] = []
    for line in text.lower().split("\n"):
        words = pattern.findall(line)
        if words:
            tokens.extend(words)
            if eos:
                tokens.append(EOS)
    # Numbers to N: one pass, where the regex cannot rename its own matches.
    return [NUMBER if t[0].isdigit() else t for t in tokens]


@dataclass(frozen=True)
class TextStats:
    """The size of a text, as papers report their corpora."""

    characters: int
    lines: int  # lines with at least one word: the number of <eos> tokens
    words: int  # word tokens, <eos> not counted
    distinct_words: int


def text_stats(text: str) -> TextStats:
    tokens = word_tokens(text)
    lines = tokens.count(EOS)
    return TextStats(len(text), lines, len(tokens) - lines, len(set(tokens)) - (lines > 0))


@dataclass(frozen=True, repr=False)
class WordVocab:
    """Words <-> integer ids: ``<unk>`` is 0, ``<eos>`` is 1, then words from most to least
    frequent in the text the vocabulary was built from, ties in alphabetical order."""

    itos: tuple[str, ...]
    stoi: dict[str, int] = field(init=False, compare=False)

    unk_id = 0
    eos_id = 1

    def __post_init__(self) -> None:
        if self.itos[:2] != (UNK, EOS):
            raise ValueError(f"WordVocab.itos must start with {UNK!r}, {EOS!r}, got {self.itos[:2]}")
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("WordVocab.itos must not repeat a word")
        object.__setattr__(self, "stoi", {w: i for i, w in enumerate(self.itos)})

    @classmethod
    def build(cls, tokens: Iterable[str], size: int) -> WordVocab:
        """The ``size`` most frequent tokens, ``<unk>`` and ``<eos>`` included (PTB's 10 000 are
        9 998 words and these two)."""
        counts = Counter(tokens)
        for reserved in (UNK, EOS):
            counts.pop(reserved, None)
        largest = len(counts) + 2
        if size < 2:
            raise TextDataError(f"a word vocabulary needs at least 2 entries ({UNK} and {EOS}), got {size}")
        if size > largest:
            raise TextDataError(
                f"a vocabulary of {size} words is larger than the text allows: its training part has "
                f"{len(counts)} distinct words, so the largest vocabulary is {largest} (those words, "
                f"{UNK} and {EOS}); choose a vocabulary size of at most {largest}"
            )
        ranked = sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))[: size - 2]
        return cls((UNK, EOS, *(w for w, _ in ranked)))

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        head = ", ".join(self.itos[2:8])
        return f"WordVocab(size={len(self)}, most frequent: {head}, ...)"

    def encode(self, tokens: Sequence[str]) -> torch.Tensor:
        """(len(tokens),) int64 ids; a word outside the vocabulary is ``<unk>``."""
        if isinstance(tokens, str):
            raise TypeError("WordVocab.encode takes a list of tokens; tokenize text with word_tokens(text)")
        get = self.stoi.get
        # Through NumPy: building the tensor from a list of a million ints is slower in torch.
        return torch.from_numpy(np.array([get(t, 0) for t in tokens], dtype=np.int64))

    def decode(self, ids: torch.Tensor | np.ndarray | Sequence[int]) -> list[str]:
        ids = torch.as_tensor(ids).reshape(-1).tolist()
        bad = [i for i in ids if not 0 <= i < len(self.itos)]
        if bad:
            raise ValueError(f"ids outside the vocabulary of {len(self.itos)}: {bad[:5]}")
        return [self.itos[i] for i in ids]

    def coverage(self, tokens: Sequence[str]) -> float:
        """The share of ``tokens`` the vocabulary knows (``<eos>`` included; ``<unk>`` not)."""
        if not tokens:
            return 0.0
        return sum(t in self.stoi and t != UNK for t in tokens) / len(tokens)


# --- encoded splits ---------------------------------------------------------------------------

VocabT = TypeVar("VocabT", CharVocab, WordVocab)


@dataclass(frozen=True)
class EncodedText(Generic[VocabT]):
    """A split as three int64 id streams, and the vocabulary that maps them back."""

    vocab: VocabT
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor


def encode_chars(split: TextSplit) -> EncodedText[CharVocab]:
    """Character ids; the alphabet is built over all three parts (char-rnn's choice)."""
    vocab = CharVocab.from_text(split.train + split.val + split.test)
    return EncodedText(vocab, vocab.encode(split.train), vocab.encode(split.val), vocab.encode(split.test))


def encode_words(split: TextSplit, vocab_size: int) -> EncodedText[WordVocab]:
    """PTB-style word ids; the vocabulary is built from the training part alone, held-out
    words it lacks are ``<unk>``."""
    train = word_tokens(split.train)
    vocab = WordVocab.build(train, vocab_size)
    return EncodedText(
        vocab,
        vocab.encode(train),
        vocab.encode(word_tokens(split.val)),
        vocab.encode(word_tokens(split.test)),
    )


# --- batches ----------------------------------------------------------------------------------


def batchify(ids: torch.Tensor, batch: int) -> torch.Tensor:
    """(batch, n_steps): the stream cut into ``batch`` contiguous rows, the remainder dropped.

    Row ``b`` is ``ids[b * n_steps:(b + 1) * n_steps]``; a model carries its hidden state along
    each row from one BPTT window to the next.
    """
    if ids.dim() != 1:
        raise ValueError(f"batchify takes a 1-D stream of ids, got shape {tuple(ids.shape)}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    n_steps = len(ids) // batch
    if n_steps < 2:
        raise TextDataError(
            f"a stream of {len(ids)} tokens is too short for {batch} rows: each row needs at least 2 "
            "tokens (an input and its target)"
        )
    return ids[: batch * n_steps].reshape(batch, n_steps)


def bptt_batch(data: torch.Tensor, i: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``data[:, i:i+L]`` and targets ``data[:, i+1:i+1+L]``, each (batch, L); ``L`` is
    ``length``, or less for the last window of the rows."""
    n_steps = data.shape[1]
    if not 0 <= i < n_steps - 1:
        raise IndexError(f"window start {i} outside 0..{n_steps - 2} for rows of {n_steps} steps")
    seq = min(length, n_steps - 1 - i)
    return data[:, i : i + seq], data[:, i + 1 : i + 1 + seq]


def bptt_windows(
    data: torch.Tensor, length: int, drop_last: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The (x, y) windows of ``bptt_batch`` that cover the rows in order; ``drop_last`` skips a
    last window shorter than ``length`` (Zaremba et al.'s reader does)."""
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    n_steps = data.shape[1]
    for i in range(0, n_steps - 1, length):
        if drop_last and i + length > n_steps - 1:
            return
        yield bptt_batch(data, i, length)


def random_windows(
    ids: torch.Tensor, batch: int, length: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` windows at uniform random starts: x (batch, length) and y, x shifted by one.

    Only ``generator`` supplies randomness, so a batch is a function of the generator's seed.
    """
    if ids.dim() != 1:
        raise ValueError(f"random_windows takes a 1-D stream of ids, got shape {tuple(ids.shape)}")
    if len(ids) < length + 1:
        raise TextDataError(
            f"a stream of {len(ids)} tokens is too short for windows of {length}: need at least {length + 1}"
        )
    starts = torch.randint(0, len(ids) - length, (batch,), generator=generator, device=generator.device)
    index = starts.to(ids.device)[:, None] + torch.arange(length + 1, device=ids.device)  # (batch, length+1)
    window = ids[index]
    return window[:, :-1], window[:, 1:]
