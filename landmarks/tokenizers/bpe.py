"""Byte-level byte-pair encoding: Sennrich, Haddow & Birch (2016), on bytes as GPT-2 does it
(Radford et al., 2019).

Start from the 256 byte values, so any text (any bytes at all) can be encoded and nothing is
ever unknown. Training repeats one step: count every adjacent pair of symbols in the corpus,
weighted by how often each word occurs, and merge the most frequent pair into a new symbol.
The merges, in order, *are* the tokenizer. Encoding a word applies them by rank: of the pairs
present, merge the one learned earliest, until no learned pair is left.

Three details from GPT-2:

- **Pre-tokenization.** Text is first cut by a regular expression into words, numbers,
  punctuation runs and whitespace, a leading space kept with the word (" the"); merges never
  cross those cuts, so "dog." and "dog!" share the token for "dog".
- **Bytes as printable characters.** Each byte is shown as one printable Unicode character
  (the space byte as "Ġ"), so ``vocab.json`` and ``merges.txt`` are plain text and load in
  Hugging Face ``tokenizers`` and in GPT-2's own code.
- **Special tokens** (``<|endoftext|>``) are matched before pre-tokenization and never split.

Training keeps pair counts *incrementally*: a merge changes only the words that contain the
pair, so only their pairs are recounted (Sennrich et al.'s reference code recounts everything
per merge). The most frequent pair comes off a heap; ties go to the pair whose symbols have the
smallest ids (the first symbol's, then the second's), as in Hugging Face ``tokenizers``.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

import regex

from landmarks.data.errors import DataFormatError
from landmarks.files import atomic_write_text

__all__ = ["GPT2_PATTERN", "ByteLevelBPE", "bytes_to_unicode", "train_bpe"]

# GPT-2's pre-tokenization: contractions, letters, digits, other symbols, each run optionally
# after one space; whitespace not followed by a non-space; the remaining whitespace.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table: every byte to one printable character. Bytes that print as themselves
    (!..~, ¡..¬, ®..ÿ) keep their code point; the other 68 are moved to 256, 257, ... in
    byte order."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table, shifted = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + shifted)
            shifted += 1
    return table


def _byte_symbols(word: str) -> tuple[str, ...]:
    table = bytes_to_unicode()
    return tuple(table[b] for b in word.encode("utf-8", errors="surrogateescape"))


def _merge(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    """Every occurrence of ``pair`` in ``symbols`` replaced by the two joined, left to right."""
    out, j = [], 0
    while j < len(symbols):
        if j + 1 < len(symbols) and symbols[j] == pair[0] and symbols[j + 1] == pair[1]:
            out.append(symbols[j] + symbols[j + 1])
            j += 2
        else:
            out.append(symbols[j])
            j += 1
    return out


# ---- training ------------------------------------------------------------------------------------


def train_bpe(
    texts: Iterable[str],
    vocab_size: int,
    special_tokens: tuple[str, ...] = (),
    on_merge: Callable[[int], None] | None = None,
) -> ByteLevelBPE:
    """Learn ``vocab_size − 256 − len(special_tokens)`` merges from ``texts``.

    ``on_merge(n)`` is called after the n-th merge (for progress bars and timing)."""
    merges_wanted = vocab_size - 256 - len(special_tokens)
    if merges_wanted < 0:
        raise ValueError(
            f"vocab_size {vocab_size} is smaller than the 256 bytes plus {len(special_tokens)} special "
            "tokens a byte-level vocabulary must hold"
        )
    pattern = regex.compile(GPT2_PATTERN)
    specials = _special_splitter(special_tokens)
    counts: Counter[str] = Counter()
    for text in texts:
        for piece in specials.split(text) if specials else [text]:
            if piece not in special_tokens:
                counts.update(pattern.findall(piece))

    words = [list(_byte_symbols(w)) for w in counts]  # each distinct pre-token as symbols
    freq = list(counts.values())
    pair_count: dict[tuple[str, str], int] = defaultdict(int)
    where: dict[tuple[str, str], set[int]] = defaultdict(set)  # pair -> the words containing it
    for i, symbols in enumerate(words):
        for pair in itertools.pairwise(symbols):
            pair_count[pair] += freq[i]
            where[pair].add(i)
    # Ties between equally frequent pairs go to the pair of smallest (id, id), ids numbered as
    # the vocabulary will number them: what Hugging Face tokenizers' trainer does too.
    sym_id = {c: i for i, c in enumerate(sorted(bytes_to_unicode().values()))}
    heap = [(-c, sym_id[a], sym_id[b], (a, b)) for (a, b), c in pair_count.items()]
    heapq.heapify(heap)

    merges: list[tuple[str, str]] = []
    while len(merges) < merges_wanted and heap:
        negative, _, _, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -negative or -negative <= 0:
            continue  # a stale entry: this pair's count changed since it was pushed
        merges.append(pair)
        merged = pair[0] + pair[1]
        sym_id.setdefault(merged, len(sym_id))
        changed: set[tuple[str, str]] = set()
        for i in where.pop(pair):
            symbols = words[i]
            for p in itertools.pairwise(symbols):  # take the word's pairs out ...
                pair_count[p] -= freq[i]
                changed.add(p)
            out = _merge(symbols, pair)
            words[i] = out
            for p in itertools.pairwise(out):  # ... and put the merged word's pairs back
                pair_count[p] += freq[i]
                where[p].add(i)
                changed.add(p)
        pair_count.pop(pair, None)
        for p in changed:
            if p != pair and pair_count.get(p, 0) > 0:
                heapq.heappush(heap, (-pair_count[p], sym_id[p[0]], sym_id[p[1]], p))
        if on_merge is not None:
            on_merge(len(merges))
    return ByteLevelBPE.from_merges(merges, special_tokens)


def _special_splitter(special_tokens: Iterable[str]):  # type: ignore[no-untyped-def]
    tokens = sorted(special_tokens, key=len, reverse=True)
    return regex.compile("(" + "|".join(regex.escape(t) for t in tokens) + ")") if tokens else None


# ---- the tokenizer -------------------------------------------------------------------------------


class ByteLevelBPE:
    """A trained byte-level BPE: ``encode(text) -> ids``, ``decode(ids) -> text``, and
    ``save(folder)`` / ``load(folder)`` in GPT-2's ``vocab.json`` + ``merges.txt``."""

    def __init__(
        self, vocab: dict[str, int], merges: list[tuple[str, str]], special_tokens: tuple[str, ...] = ()
    ) -> None:
        self.vocab = vocab
        self.merges = merges
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.special_tokens = tuple(special_tokens)
        missing = [t for t in special_tokens if t not in vocab]
        if missing:
            raise ValueError(f"special tokens missing from the vocabulary: {missing}")
        self.id_to_token = {i: t for t, i in vocab.items()}
        self.byte_decoder = {c: b for b, c in bytes_to_unicode().items()}
        self.pattern = regex.compile(GPT2_PATTERN)
        self.specials = _special_splitter(special_tokens)
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def from_merges(cls, merges: list[tuple[str, str]], special_tokens: tuple[str, ...] = ()) -> ByteLevelBPE:
        """The vocabulary GPT-2 and ``tokenizers`` build: the 256 byte symbols (in the table's
        character order), then one token per merge in merge order, then the special tokens."""
        vocab = {c: i for i, c in enumerate(sorted(bytes_to_unicode().values()))}
        for a, b in merges:
            vocab.setdefault(a + b, len(vocab))
        for t in special_tokens:
            vocab.setdefault(t, len(vocab))
        return cls(vocab, list(merges), special_tokens)

    def __len__(self) -> int:
        return len(self.vocab)

    def _bpe(self, word: str) -> list[int]:
        """One pre-token to ids: merge the earliest-learned pair present until none is left."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        symbols = list(_byte_symbols(word))
        while len(symbols) > 1:
            best, best_rank = None, None
            for pair in itertools.pairwise(symbols):
                rank = self.ranks.get(pair)
                if rank is not None and (best_rank is None or rank < best_rank):
                    best, best_rank = pair, rank
            if best is None:
                break
            symbols = _merge(symbols, best)
        ids = [self.vocab[s] for s in symbols]
        if len(self._cache) < 100_000:
            self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in self.specials.split(text) if self.specials else [text]:
            if piece in self.special_tokens:
                ids.append(self.vocab[piece])
                continue
            for word in self.pattern.findall(piece):
                ids.extend(self._bpe(word))
        return ids

    def encode_bytes(self, data: bytes) -> list[int]:
        """Any bytes, valid UTF-8 or not: decoded with surrogate escapes, which the byte table
        maps back to the very bytes."""
        return self.encode(data.decode("utf-8", errors="surrogateescape"))

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        out = bytearray()
        for i in ids:
            token = self.id_to_token.get(int(i))
            if token is None:
                raise ValueError(f"token id {i} is not in the vocabulary of {len(self.vocab)}")
            if token in self.special_tokens:
                out += token.encode("utf-8")
            else:
                out += bytes(self.byte_decoder[c] for c in token)
        return bytes(out)

    def decode(self, ids: Iterable[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # ---- files -----------------------------------------------------------------------------------

    def save(self, folder: Path | str) -> None:
        """``vocab.json`` and ``merges.txt`` in GPT-2's format, each written atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "vocab.json", json.dumps(self.vocab, ensure_ascii=False))
        atomic_write_text(
            folder / "merges.txt", "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in self.merges)
        )

    @classmethod
    def load(cls, folder: Path | str, special_tokens: tuple[str, ...] = ()) -> ByteLevelBPE:
        """Read ``vocab.json`` + ``merges.txt`` (ours, GPT-2's or any byte-level BPE's)."""
        folder = Path(folder)
        vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
        for p in (vocab_path, merges_path):
            if not p.is_file():
                raise DataFormatError(
                    f"{p}: not found; a BPE tokenizer folder holds vocab.json and merges.txt"
                )
        try:
            vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataFormatError(f"{vocab_path}: not a JSON object of token -> id ({e})") from None
        if not isinstance(vocab, dict) or not all(isinstance(v, int) for v in vocab.values()):
            raise DataFormatError(f"{vocab_path}: expected a JSON object mapping tokens to integer ids")
        merges = []
        for number, line in enumerate(merges_path.read_text(encoding="utf-8").splitlines(), 1):
            if not line or line.startswith("#version"):
                continue
            parts = line.split(" ")
            if len(parts) != 2:
                raise DataFormatError(
                    f"{merges_path}: line {number}: expected two symbols separated by a space"
                )
            a, b = parts
            if a + b not in vocab:
                raise DataFormatError(f"{merges_path}: line {number}: {a + b!r} is not in vocab.json")
            merges.append((a, b))
        missing = [c for c in bytes_to_unicode().values() if c not in vocab]
        if missing:
            raise DataFormatError(
                f"{vocab_path}: lacks {len(missing)} of the 256 byte symbols: not a byte-level vocabulary"
            )
        specials = tuple(t for t in special_tokens if t in vocab)
        return cls(vocab, merges, specials)
