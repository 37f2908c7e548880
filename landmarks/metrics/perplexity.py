"""Perplexity of a language model over a text longer than its context, by a sliding window.

A model that sees at most ``window`` tokens cannot score a long text in one pass. Cut into
disjoint windows, the first tokens of every window are predicted from almost no context, and
the perplexity comes out too high. The sliding window moves by ``stride`` tokens and scores
only the tokens it has not scored before, each with at least ``window − stride`` tokens of
context; at stride 1 every token gets the whole window of context (the "full-context" value),
and at stride ``window − 1`` the windows barely overlap (one token, the context of the first
new one). Every token after the first is scored exactly once whatever the stride.

perplexity = exp(mean over tokens of −log p(token | its context)).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["perplexity", "sliding_window_nll"]


@torch.no_grad()
def sliding_window_nll(
    logits_fn: Callable[[Tensor], Tensor], ids: Tensor, window: int, stride: int, batch: int = 64
) -> tuple[float, int]:
    """(summed negative log-likelihood in nats, tokens scored) of ``ids`` (1-D) under
    ``logits_fn``: (B, T) token ids → (B, T, vocabulary) logits, for T ≤ ``window``."""
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError("ids must be a 1-D sequence of at least 2 tokens")
    if not 1 <= stride < window:
        raise ValueError(
            f"stride must be between 1 and window − 1 ({window - 1}): a window's first token is only "
            f"context, so windows must overlap by one for every token to be scored; got {stride}"
        )
    n = len(ids)
    starts = list(range(0, max(n - window, 0) + 1, stride))
    if starts[-1] + window < n:
        starts.append(n - window)  # a last window that reaches the end
    total, count, scored_until = 0.0, 0, 0  # tokens 1..scored_until already scored
    for first in range(0, len(starts), batch):
        chunk = starts[first : first + batch]
        length = min(window, n)
        x = torch.stack([ids[s : s + length] for s in chunk])  # (B, length)
        log_probs = F.log_softmax(logits_fn(x[:, :-1]).float(), -1)
        nll = -log_probs.gather(-1, x[:, 1:, None])[..., 0]  # (B, length − 1): token s + 1 + j
        for row, s in enumerate(chunk):
            new_from = max(scored_until - s, 0)  # targets at positions ≤ scored_until were scored
            total += float(nll[row, new_from:].sum())
            count += length - 1 - new_from
            scored_until = s + length - 1
    return total, count


def perplexity(
    logits_fn: Callable[[Tensor], Tensor], ids: Tensor, window: int, stride: int | None = None
) -> float:
    total, count = sliding_window_nll(logits_fn, ids, window, stride or window)
    return math.exp(total / count)
