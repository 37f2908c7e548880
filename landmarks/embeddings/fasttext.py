"""fastText subword vectors: Enriching Word Vectors with Subword Information (Bojanowski,
Grave, Joulin, Mikolov, 2017).

A word is the bag of its character n-grams, 3 to 6 characters, of the word wrapped in "<" and
">" (so "<ca" marks a prefix and "at>" a suffix), plus the whole word itself (Sec. 3.2). Each
n-gram is hashed (FNV-1a, as the fastText tool does) into one of ``buckets`` rows, and a
word's vector is the mean of its rows. Training is skip-gram with negative sampling on these
vectors (``landmarks.embeddings.word2vec``'s pairs). A word never seen in training still has
n-grams, so it gets a vector (Sec. 5.3: "out-of-vocabulary words"), close to the words it
shares its n-grams with: an unseen plural near its singular.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from landmarks.embeddings.vectors import WordVectors
from landmarks.embeddings.word2vec import (
    _epoch_pairs,
    _vocabulary,
    encode_corpus,
    negative_sampling_loss,
    sampling_tables,
)

__all__ = ["SubwordVectors", "char_ngrams", "fnv1a", "train_fasttext"]


def fnv1a(text: str) -> int:
    """32-bit FNV-1a of the UTF-8 bytes (the fastText tool's string hash)."""
    h = 2166136261
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def char_ngrams(word: str, min_n: int = 3, max_n: int = 6) -> list[str]:
    wrapped = f"<{word}>"
    return [wrapped[i : i + n] for n in range(min_n, max_n + 1) for i in range(len(wrapped) - n + 1)]


class SubwordVectors:
    """Vectors for any word from its n-grams; ``vectors_for(words)`` and ``word_vectors()``."""

    def __init__(self, words: list[str], table: np.ndarray, buckets: int, min_n: int, max_n: int) -> None:
        self.words, self.table, self.buckets, self.min_n, self.max_n = words, table, buckets, min_n, max_n
        self.index = {w: i for i, w in enumerate(words)}

    def rows(self, word: str) -> list[int]:
        own = [self.index[word]] if word in self.index else []
        return own + [
            len(self.words) + fnv1a(g) % self.buckets for g in char_ngrams(word, self.min_n, self.max_n)
        ]

    def vector(self, word: str) -> np.ndarray:
        return self.table[self.rows(word)].mean(0)

    def word_vectors(self, extra: Sequence[str] = ()) -> WordVectors:
        """The training vocabulary, plus ``extra`` words (seen or not), as WordVectors."""
        words = self.words + [w for w in extra if w not in self.index]
        return WordVectors(words, np.stack([self.vector(w) for w in words]))


def _bags(words: list[str], buckets: int, min_n: int, max_n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """EmbeddingBag inputs for every vocabulary word: its own row and its n-grams' rows."""
    flat, offsets = [], []
    for i, w in enumerate(words):
        offsets.append(len(flat))
        flat += [i] + [len(words) + fnv1a(g) % buckets for g in char_ngrams(w, min_n, max_n)]
    return torch.tensor(flat), torch.tensor(offsets)


def train_fasttext(
    sentences: Sequence[Sequence[str]],
    dim: int = 50,
    window: int = 5,
    negative: int = 5,
    epochs: int = 5,
    buckets: int = 2**14,
    min_n: int = 3,
    max_n: int = 6,
    sample: float = 1e-3,
    lr: float = 0.01,
    batch: int = 4096,
    seed: int = 0,
) -> SubwordVectors:
    words, counts = _vocabulary(sentences, 1)
    index = {w: i for i, w in enumerate(words)}
    ids, sentence = encode_corpus(sentences, index)
    keep, noise = sampling_tables(torch.tensor([counts[w] for w in words], dtype=torch.double), sample)
    flat, offsets = _bags(words, buckets, min_n, max_n)

    g = torch.Generator().manual_seed(seed)
    table = ((torch.rand(len(words) + buckets, dim, generator=g) - 0.5) / dim).requires_grad_()
    u = torch.zeros(len(words), dim, requires_grad=True)
    optimizer = torch.optim.Adam([table, u], lr=lr)
    for _ in range(epochs):
        centers, contexts = _epoch_pairs(ids, sentence, keep, window, g)
        order = torch.randperm(len(centers), generator=g)
        for start in range(0, len(order), batch):
            take = order[start : start + batch]
            c, o = centers[take], contexts[take]
            negatives = torch.multinomial(noise, len(take) * negative, replacement=True, generator=g).view(
                -1, negative
            )
            vocab_vectors = F.embedding_bag(flat, table, offsets, mode="mean")  # (V, d): words from n-grams
            hidden = vocab_vectors[c]
            loss = negative_sampling_loss(hidden, u, o, negatives)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return SubwordVectors(words, table.detach().numpy(), buckets, min_n, max_n)
