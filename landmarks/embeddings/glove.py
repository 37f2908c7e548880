"""GloVe: Global Vectors for Word Representation (Pennington, Socher, Manning, 2014).

Count first, then fit. X_ij is how often word j occurs in the window of word i, each
occurrence weighted 1/distance (Sec. 4.2). GloVe fits word vectors w_i, context vectors w̃_j
and biases so that their dot product is the log co-occurrence, by weighted least squares
(Eq. 8):

    J = Σ_{X_ij > 0} f(X_ij) (w_i · w̃_j + b_i + b̃_j − log X_ij)²,
    f(x) = (x / x_max)^α for x < x_max, else 1     (x_max = 100, α = 3/4, Eq. 9)

so rare pairs count less and very frequent ones do not dominate. Trained with AdaGrad
(Sec. 4.2) on all non-zero cells at once (the toy's vocabulary is small enough); the word
vector is w + w̃, as the paper recommends.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from landmarks.embeddings.vectors import WordVectors
from landmarks.embeddings.word2vec import _vocabulary, encode_corpus

__all__ = ["cooccurrence", "train_glove"]


def cooccurrence(sentences: Sequence[Sequence[str]], index: dict[str, int], window: int) -> torch.Tensor:
    """(V, V) symmetric counts, each co-occurrence at distance k weighted 1/k."""
    ids, sentence = encode_corpus(sentences, index)
    x = torch.zeros(len(index), len(index), dtype=torch.double)
    for k in range(1, window + 1):
        same = sentence[k:] == sentence[:-k]
        a, b = ids[:-k][same], ids[k:][same]
        weight = torch.full((len(a),), 1.0 / k, dtype=torch.double)
        x.index_put_((a, b), weight, accumulate=True)
        x.index_put_((b, a), weight, accumulate=True)
    return x


def train_glove(
    sentences: Sequence[Sequence[str]],
    dim: int = 50,
    window: int = 5,
    x_max: float = 100.0,
    alpha: float = 0.75,
    lr: float = 0.05,
    iterations: int = 300,
    min_count: int = 1,
    seed: int = 0,
) -> WordVectors:
    words, _ = _vocabulary(sentences, min_count)
    index = {w: i for i, w in enumerate(words)}
    x = cooccurrence(sentences, index, window)
    i, j = x.nonzero(as_tuple=True)
    counts = x[i, j]
    weight = torch.clamp(counts / x_max, max=1.0) ** alpha
    target = counts.log()
    g = torch.Generator().manual_seed(seed)
    v = len(words)
    params = [
        ((torch.rand(v, dim, generator=g, dtype=torch.double) - 0.5) / dim).requires_grad_(),  # w
        ((torch.rand(v, dim, generator=g, dtype=torch.double) - 0.5) / dim).requires_grad_(),  # w̃
        torch.zeros(v, dtype=torch.double, requires_grad=True),  # b
        torch.zeros(v, dtype=torch.double, requires_grad=True),  # b̃
    ]
    w, w_ctx, b, b_ctx = params
    optimizer = torch.optim.Adagrad(params, lr=lr)
    for _ in range(iterations):
        error = (w[i] * w_ctx[j]).sum(-1) + b[i] + b_ctx[j] - target
        loss = (weight * error.square()).sum() / len(counts)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return WordVectors(words, (w + w_ctx).detach().float().numpy())
