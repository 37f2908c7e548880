"""word2vec: skip-gram and CBOW with negative sampling (Mikolov, Chen, Corrado, Dean, 2013;
Mikolov, Sutskever, Chen, Corrado, Dean, 2013).

Each word has two vectors, v_w as a center ("input") and u_w as a context ("output"). For a
center word c and a word o in its window, skip-gram maximizes

    log σ(u_o · v_c) + Σ_{k=1..K} log σ(−u_{n_k} · v_c),   n_k ~ P(w) ∝ count(w)^0.75

that is, tell the true context apart from K "negative" words drawn from the unigram
distribution raised to 3/4 (Sec. 2.2 of the NIPS paper). CBOW (``cbow=True``) predicts the
center instead, from the mean of its context words' input vectors (Sec. 3.1 of the 2013
arXiv paper). Two more details of the original tool:

- **Subsampling** of frequent words (Sec. 2.3): each occurrence of a word of corpus frequency
  f is kept with probability (√(f / t) + 1) · t / f, t = ``sample`` (the C tool's formula), so
  "the" and "of" stop dominating the pairs.
- **A reduced window**: for each center, a window size b is drawn uniformly from 1..window,
  which weights near words more than far ones.

Pairs are built for a whole epoch at once with tensor operations (no loop over words) and
trained in shuffled batches with Adam on the mean loss (the C tool uses plain SGD, one pair at
a time, with a learning rate falling to zero).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from landmarks.embeddings.vectors import WordVectors

__all__ = ["train_word2vec"]


def _vocabulary(sentences: Sequence[Sequence[str]], min_count: int) -> tuple[list[str], Counter]:
    counts = Counter(w for s in sentences for w in s)
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return words, counts


def encode_corpus(
    sentences: Sequence[Sequence[str]], index: dict[str, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The corpus as one stream of word ids and, per token, the number of its sentence (words
    outside ``index`` dropped); windows never cross sentences."""
    ids = torch.tensor([index[w] for s in sentences for w in s if w in index])
    sentence = torch.tensor([k for k, s in enumerate(sentences) for w in s if w in index])
    return ids, sentence


def sampling_tables(counts: torch.Tensor, sample: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per word: the probability of keeping an occurrence, (√(f / t) + 1) · t / f (no
    subsampling when t = 0), and the noise distribution for negatives, ∝ count^0.75."""
    f = counts / counts.sum()
    keep = ((f / sample).sqrt() + 1) * sample / f if sample > 0 else torch.ones_like(f)
    noise = counts**0.75
    return keep, noise / noise.sum()


def negative_sampling_loss(
    hidden: torch.Tensor, u: torch.Tensor, target: torch.Tensor, negatives: torch.Tensor
) -> torch.Tensor:
    """−[log σ(u_target · h) + Σ_k log σ(−u_{n_k} · h)], averaged over the batch."""
    positive = F.logsigmoid((hidden * u[target]).sum(-1))
    negative = F.logsigmoid(-(u[negatives] @ hidden[:, :, None])[..., 0]).sum(-1)
    return -(positive + negative).mean()


def _epoch_pairs(
    ids: torch.Tensor, sentence: torch.Tensor, keep: torch.Tensor, window: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(centers, contexts) of one epoch: subsampled tokens, reduced windows, within sentences."""
    kept = torch.rand(len(ids), generator=g) < keep[ids]
    ids, sentence = ids[kept], sentence[kept]
    reach = torch.randint(1, window + 1, (len(ids),), generator=g)  # b for every center
    centers, contexts = [], []
    for offset in range(1, window + 1):
        same = sentence[offset:] == sentence[:-offset]
        right = same & (reach[:-offset] >= offset)  # center i, context i + offset
        left = same & (reach[offset:] >= offset)  # center i + offset, context i
        centers += [ids[:-offset][right], ids[offset:][left]]
        contexts += [ids[offset:][right], ids[:-offset][left]]
    return torch.cat(centers), torch.cat(contexts)


def _epoch_windows(
    ids: torch.Tensor, sentence: torch.Tensor, keep: torch.Tensor, window: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CBOW's view of an epoch: every kept token as a center (N,), its context (N, 2·window)
    and which context slots are real (N, 2·window), same subsampling and reduced window."""
    kept = torch.rand(len(ids), generator=g) < keep[ids]
    ids, sentence = ids[kept], sentence[kept]
    n = len(ids)
    reach = torch.randint(1, window + 1, (n,), generator=g)
    context = torch.zeros(n, 2 * window, dtype=torch.long)
    real = torch.zeros(n, 2 * window, dtype=torch.bool)
    for k, offset in enumerate([*range(-window, 0), *range(1, window + 1)]):
        j = torch.arange(n) + offset
        inside = (j >= 0) & (j < n)
        jj = j.clamp(0, n - 1)
        ok = inside & (sentence[jj] == sentence) & (reach >= abs(offset))
        context[:, k], real[:, k] = ids[jj], ok
    has = real.any(1)
    return ids[has], context[has], real[has]


def train_word2vec(
    sentences: Sequence[Sequence[str]],
    dim: int = 50,
    window: int = 5,
    negative: int = 5,
    epochs: int = 5,
    min_count: int = 1,
    sample: float = 1e-3,
    lr: float = 0.01,
    batch: int = 4096,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
    cbow: bool = False,
) -> WordVectors:
    """Skip-gram (or, with ``cbow=True``, CBOW) word vectors of ``sentences`` (lists of words);
    returns the input vectors v."""
    for name, value in (
        ("dim", dim),
        ("window", window),
        ("negative", negative),
        ("epochs", epochs),
        ("batch", batch),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    words, counts = _vocabulary(sentences, min_count)
    if len(words) < 2:
        raise ValueError("word2vec needs at least two distinct words (after min_count)")
    index = {w: i for i, w in enumerate(words)}
    ids, sentence = encode_corpus(sentences, index)
    keep, noise = sampling_tables(torch.tensor([counts[w] for w in words], dtype=torch.double), sample)

    g = torch.Generator().manual_seed(seed)
    v = ((torch.rand(len(words), dim, generator=g) - 0.5) / dim).requires_grad_()  # the C tool's init
    u = torch.zeros(len(words), dim, requires_grad=True)
    optimizer = torch.optim.Adam([v, u], lr=lr)
    for epoch in range(epochs):
        if cbow:
            centers, windows, real = _epoch_windows(ids, sentence, keep, window, g)
        else:
            centers, contexts = _epoch_pairs(ids, sentence, keep, window, g)
        order = torch.randperm(len(centers), generator=g)
        total = 0.0
        for start in range(0, len(order), batch):
            take = order[start : start + batch]
            negatives = torch.multinomial(noise, len(take) * negative, replacement=True, generator=g).view(
                -1, negative
            )
            if cbow:  # predict the center from the mean of its context's input vectors
                mask = real[take, :, None].float()
                hidden = (v[windows[take]] * mask).sum(1) / mask.sum(1)
                target = centers[take]
            else:  # predict each context word from the center
                hidden, target = v[centers[take]], contexts[take]
            loss = negative_sampling_loss(hidden, u, target, negatives)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(take)
        if on_epoch is not None:
            on_epoch(epoch + 1, total / max(len(order), 1))
    return WordVectors(words, v.detach().numpy())
