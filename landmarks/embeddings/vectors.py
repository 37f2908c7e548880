"""Word vectors once trained: nearest words, analogies, and the word2vec file formats.

``WordVectors`` holds a vocabulary and a (V, d) matrix. ``most_similar`` ranks words by cosine
similarity; ``analogy(a, b, c)`` answers "a is to b as c is to ?" by 3CosAdd (Mikolov, Yih,
Zweig, 2013): the word d, not a, b or c, whose vector is closest in cosine to b − a + c, on
unit-normalized vectors. ``save`` / ``load`` use the word2vec text and binary formats that the
original C tool and gensim's ``KeyedVectors.load_word2vec_format`` read and write.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from landmarks.data.errors import DataFormatError
from landmarks.files import atomic_write_bytes

__all__ = ["WordVectors", "analogy_accuracy"]


class WordVectors:
    def __init__(self, words: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(words) != len(vectors):
            raise ValueError(f"{len(words)} words need a ({len(words)}, d) matrix, got {vectors.shape}")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("words repeat")
        self.vectors = vectors
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = vectors / np.maximum(norms, 1e-12)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index[word]]

    def most_similar(
        self, query: str | np.ndarray, topn: int = 10, exclude: Sequence[str] = ()
    ) -> list[tuple[str, float]]:
        """The ``topn`` words nearest ``query`` (a word, itself excluded, or a vector) by cosine."""
        if isinstance(query, str):
            vec, exclude = self.unit[self.index[query]], (*exclude, query)
        else:
            vec = np.asarray(query, dtype=np.float32)
            vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
        scores = self.unit @ vec
        for w in exclude:
            if w in self.index:
                scores[self.index[w]] = -np.inf
        best = np.argsort(-scores)[:topn]
        return [(self.words[i], float(scores[i])) for i in best]

    def analogy(self, a: str, b: str, c: str) -> str:
        """a : b :: c : ? by 3CosAdd."""
        u = self.unit
        target = u[self.index[b]] - u[self.index[a]] + u[self.index[c]]
        return self.most_similar(target, 1, exclude=(a, b, c))[0][0]

    # ---- the word2vec formats ---------------------------------------------------------------------

    def save(self, path: Path | str, binary: bool = False) -> None:
        """Header "V d", then a line per word: the word and its numbers (text), or the word, a
        space and d little-endian float32 (binary, as gensim writes it). Atomic."""
        for w in self.words:
            if not w or any(ch.isspace() for ch in w):
                raise ValueError(
                    f"word {w!r}: the word2vec format cannot hold empty words or words with spaces"
                )

        def write(f) -> None:  # type: ignore[no-untyped-def]
            f.write(f"{len(self.words)} {self.vectors.shape[1]}\n".encode())
            for w, v in zip(self.words, self.vectors, strict=True):
                if binary:
                    f.write(f"{w} ".encode() + v.astype("<f4").tobytes())
                else:
                    f.write((w + " " + " ".join(repr(float(x)) for x in v) + "\n").encode())

        atomic_write_bytes(Path(path), write)

    @classmethod
    def load(cls, path: Path | str, binary: bool = False) -> WordVectors:
        data = Path(path).read_bytes()
        newline = data.find(b"\n")
        try:
            count, dim = (int(x) for x in data[:newline].split())
        except ValueError:
            raise DataFormatError(f"{path}: the first line must be 'count dimensions'") from None
        words: list[str] = []
        vectors = np.empty((count, dim), dtype=np.float32)
        pos = newline + 1
        for i in range(count):
            if binary:
                while pos < len(data) and data[pos : pos + 1] == b"\n":  # the C tool ends vectors with one
                    pos += 1
                space = data.find(b" ", pos)
                end = space + 1 + 4 * dim
                if space < 0 or end > len(data):
                    raise DataFormatError(f"{path}: truncated at word {i + 1} of {count}")
                words.append(data[pos:space].decode("utf-8"))
                vectors[i] = np.frombuffer(data[space + 1 : end], dtype="<f4")
                pos = end
            else:
                line_end = data.find(b"\n", pos)
                line = (
                    data[pos : line_end if line_end >= 0 else len(data)].decode("utf-8").rstrip().split(" ")
                )
                if len(line) != dim + 1:
                    raise DataFormatError(f"{path}: line {i + 2}: expected a word and {dim} numbers")
                words.append(line[0])
                vectors[i] = [float(x) for x in line[1:]]
                pos = line_end + 1 if line_end >= 0 else len(data)
        return cls(words, vectors)


def analogy_accuracy(vectors: WordVectors, questions: Sequence[tuple[str, str, str, str]]) -> float:
    """The fraction of a : b :: c : d questions (all four words known) answered d by 3CosAdd."""
    known = [q for q in questions if all(w in vectors for w in q)]
    if not known:
        return 0.0
    return sum(vectors.analogy(a, b, c) == d for a, b, c, d in known) / len(known)
