"""BERTScore (Zhang, Kishore, Wu, Weinberger, Artzi, 2020): similarity of two texts from the
contextual embeddings of their tokens, over any encoder you give it.

Each token of the reference is matched greedily to its most similar token of the candidate
(cosine similarity of the embeddings), and the other way round (Sec. 3, Eq. 1-3):

    R = Σ_i idf(r_i) · max_j cos(r_i, c_j) / Σ_i idf(r_i)
    P = Σ_j idf(c_j) · max_i cos(r_i, c_j) / Σ_j idf(c_j)
    F = 2 P R / (P + R)

``idf`` weights down tokens that occur in many references: idf(w) = log((M + 1) / (df(w) + 1))
over M reference texts, as the authors' ``bert-score`` package computes it (+1 smoothing);
without idf every token weighs 1. Scores of unrelated texts are not near 0 (embeddings share
a direction), so the paper rescales with a baseline b measured on random pairs:
score' = (score − b) / (1 − b) (Sec. 5, "baseline rescaling"); pass your encoder's b.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["BERTScore", "bert_score", "idf_weights"]


@dataclass(frozen=True)
class BERTScore:
    precision: float
    recall: float
    f1: float


def idf_weights(references: Sequence[Sequence[Hashable]]) -> dict[Hashable, float]:
    """idf(w) = log((M + 1) / (df(w) + 1)) over the M reference token lists; a token in no
    reference gets log(M + 1) (``defaultdict``-like lookups: use ``.get(w, log(M + 1))``)."""
    m = len(references)
    df = Counter(w for ref in references for w in set(ref))
    return {w: math.log((m + 1) / (d + 1)) for w, d in df.items()}


def _rescale(value: float, baseline: float | None) -> float:
    return value if baseline is None else (value - baseline) / (1 - baseline)


def bert_score(
    candidate: Tensor,
    reference: Tensor,
    candidate_weights: Tensor | None = None,
    reference_weights: Tensor | None = None,
    baseline: tuple[float, float, float] | None = None,
) -> BERTScore:
    """One candidate against one reference: token embeddings (n_c, d) and (n_r, d), optional
    per-token weights (idf), optional baselines (P, R, F) for rescaling."""
    if candidate.dim() != 2 or reference.dim() != 2 or candidate.shape[1] != reference.shape[1]:
        raise ValueError(
            f"embeddings must be (tokens, d) with the same d, got {tuple(candidate.shape)} and {tuple(reference.shape)}"
        )
    if not len(candidate) or not len(reference):
        return BERTScore(0.0, 0.0, 0.0)
    sim = F.normalize(reference.double(), dim=-1) @ F.normalize(candidate.double(), dim=-1).T  # (n_r, n_c)
    wc = (
        torch.ones(len(candidate), dtype=torch.double)
        if candidate_weights is None
        else candidate_weights.double()
    )
    wr = (
        torch.ones(len(reference), dtype=torch.double)
        if reference_weights is None
        else reference_weights.double()
    )
    recall = float((wr * sim.max(dim=1).values).sum() / wr.sum())  # each reference token's best match
    precision = float((wc * sim.max(dim=0).values).sum() / wc.sum())  # each candidate token's best match
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    if baseline is not None:
        precision, recall, f1 = (
            _rescale(v, b) for v, b in zip((precision, recall, f1), baseline, strict=True)
        )
    return BERTScore(precision, recall, f1)
