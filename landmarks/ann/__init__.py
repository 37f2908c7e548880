"""Approximate nearest-neighbour search: one API over four indexes.

    from landmarks.ann import HNSWIndex, load_index
    index = HNSWIndex(dim=64, metric="cosine", M=16, ef_construction=200)
    index.add(vectors)                    # (n, 64); add more later, no rebuild
    distances, ids = index.search(queries, k=10)
    index.save("vectors.idx")             # atomic; .npz, no pickle
    index = load_index("vectors.idx")

``ExactIndex`` (brute force, the baseline), ``LSHIndex`` (random hyperplanes, Charikar 2002),
``IVFPQIndex`` (inverted file + product quantization, Jégou et al. 2011) and ``HNSWIndex``
(Malkov & Yashunin 2016). ``build_index(kind, dim, metric, **settings)`` makes any of them by
name.
"""

from __future__ import annotations

from typing import Any

from landmarks.ann.base import METRICS, Index, load_index, recall_at_k
from landmarks.ann.exact import ExactIndex
from landmarks.ann.hnsw import HNSWIndex
from landmarks.ann.ivfpq import IVFPQIndex
from landmarks.ann.lsh import LSHIndex
from landmarks.errors import UserInputError

__all__ = [
    "KINDS",
    "METRICS",
    "ExactIndex",
    "HNSWIndex",
    "IVFPQIndex",
    "Index",
    "LSHIndex",
    "build_index",
    "load_index",
    "recall_at_k",
]

KINDS: dict[str, type[Index]] = {
    "exact": ExactIndex,
    "lsh": LSHIndex,
    "ivfpq": IVFPQIndex,
    "hnsw": HNSWIndex,
}


def build_index(kind: str, dim: int, metric: str = "l2", **settings: Any) -> Index:
    """An empty index of the named kind (exact, lsh, ivfpq, hnsw)."""
    if kind not in KINDS:
        raise UserInputError(f"unknown index kind {kind!r}; choose from {', '.join(KINDS)}")
    return KINDS[kind](dim, metric, **settings)
