"""Connectionist Temporal Classification (Graves, Fernández, Gomez and Schmidhuber, 2006), the
loss Deep Speech 2 trains with, written out: the forward-backward recursion in log space, its
gradient, and decoding (greedy and prefix beam search).

A network emits, at each of T frames, a distribution over C symbols, one of them the *blank*.
An *alignment* is one symbol per frame; it reads as a transcript once repeated symbols are
merged and blanks dropped ("hh-e-ll-lo" → "hello"; the blank between the l's keeps them two).
CTC's likelihood of a transcript l is the sum over all alignments that read as l, of the
product of the frames' probabilities. The sum is computed by dynamic programming over the
*extended* label l' = (blank, l₁, blank, l₂, …, l_S, blank), of length 2S + 1:

    α_t(s) = (α_{t−1}(s) + α_{t−1}(s−1) + [l'_s ≠ blank and l'_s ≠ l'_{s−2}] α_{t−1}(s−2)) · y_t(l'_s)

(a path stays, steps to the next position, or skips a blank between two different symbols),
and p(l | x) = α_{T−1}(2S) + α_{T−1}(2S − 1): it ends on the last symbol or the blank after.
The backward variables β run the same recursion from the end; α_t(s) β_t(s) / y_t(l'_s) is the
probability of all alignments through position s at frame t, which gives the gradient.

Everything runs in log space (products become sums, sums ``logsumexp``) and is vectorized over
the batch and the label positions: the only loop is over time, which the recursion needs.
Inputs follow ``torch.nn.functional.ctc_loss``: log-probabilities (T, B, C), padded targets
(B, S), and the lengths of both.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["ctc_log_likelihood", "ctc_loss", "greedy_decode", "prefix_beam_search"]

NEG_INF = -math.inf


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def _logsumexp(x: Tensor) -> Tensor:
    """``logsumexp`` over dim 0 whose gradient is 0, not NaN, where every term is −∞ (label
    positions no path has reached yet), so autograd can run through the recursion too."""
    top = x.amax(0)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    total = torch.exp(x - top).sum(0)
    reached = total > 0
    return torch.where(
        reached, top + torch.log(torch.where(reached, total, torch.ones_like(total))), -torch.inf
    )


def _extend(targets: Tensor, target_lengths: Tensor, blank: int) -> tuple[Tensor, Tensor]:
    """l' (B, 2S + 1) with blanks between and around the symbols (padding is blank too), and
    where a skip from s − 2 to s is allowed (B, 2S + 1)."""
    b, s = targets.shape
    extended = torch.full((b, 2 * s + 1), blank, dtype=torch.long, device=targets.device)
    extended[:, 1::2] = targets
    position = torch.arange(2 * s + 1, device=targets.device)
    extended[position[None].expand(b, -1) >= 2 * target_lengths[:, None] + 1] = blank
    skip = torch.zeros_like(extended, dtype=torch.bool)
    skip[:, 2:] = (extended[:, 2:] != blank) & (extended[:, 2:] != extended[:, :-2])
    return extended, skip


def _shift(x: Tensor, by: int) -> Tensor:
    """x moved right along the label positions by ``by``, −∞ coming in."""
    return (
        torch.cat([x.new_full((x.shape[0], by), NEG_INF), x[:, :-by]], 1)
        if by < x.shape[1]
        else x.new_full(x.shape, NEG_INF)
    )


def _alphas(y: Tensor, skip: Tensor, input_lengths: Tensor) -> Tensor:
    """The forward variables, log α (T, B, L'), from y = log y_t(l'_s) (T, B, L'). A sequence's
    α stop changing after its last frame, so α_{T−1} holds each one's final values."""
    t_max, b, length = y.shape
    alpha = y.new_full((b, length), NEG_INF)
    alpha[:, :2] = y[0, :, :2]  # start on the first blank or the first symbol
    alphas = [alpha]
    for t in range(1, t_max):
        stay, step = alpha, _shift(alpha, 1)
        jump = _shift(alpha, 2).masked_fill(~skip, NEG_INF)
        new = _logsumexp(torch.stack([stay, step, jump])) + y[t]
        alpha = torch.where((t < input_lengths)[:, None], new, alpha)
        alphas.append(alpha)
    return torch.stack(alphas)


def _betas(y: Tensor, skip: Tensor, input_lengths: Tensor, ends: Tensor) -> Tensor:
    """The backward variables, log β (T, B, L'), each sequence's starting at its last frame on
    its last symbol or final blank; β_t(s) includes y_t(l'_s), as α does."""
    t_max, b, length = y.shape
    position = torch.arange(length, device=y.device)
    last = (position[None] == ends[:, None]) | (position[None] == ends[:, None] - 1)  # (B, L')
    skip_ahead = torch.cat([skip[:, 2:], skip.new_zeros(b, 2)], 1)  # s → s + 2 allowed
    beta = y.new_full((b, length), NEG_INF)
    betas = [beta] * t_max
    for t in range(t_max - 1, -1, -1):
        stay = beta
        step = torch.cat([beta[:, 1:], beta.new_full((b, 1), NEG_INF)], 1)
        jump = torch.cat([beta[:, 2:], beta.new_full((b, 2), NEG_INF)], 1).masked_fill(~skip_ahead, NEG_INF)
        recursed = _logsumexp(torch.stack([stay, step, jump])) + y[t]
        start = torch.where(last, y[t], torch.full_like(y[t], NEG_INF))
        at_end = (t == input_lengths - 1)[:, None]
        before_end = (t < input_lengths - 1)[:, None]
        beta = torch.where(at_end, start, torch.where(before_end, recursed, torch.full_like(beta, NEG_INF)))
        betas[t] = beta
    return torch.stack(betas)


def _log_likelihood(alpha_final: Tensor, ends: Tensor) -> Tensor:
    """log p(l | x) = log(α(2S) + α(2S − 1)) per sequence; with S = 0 only the blank path."""
    rows = torch.arange(alpha_final.shape[0], device=alpha_final.device)
    on_last = alpha_final[rows, ends]
    before = torch.where(
        ends > 0, alpha_final[rows, (ends - 1).clamp(min=0)], torch.full_like(on_last, NEG_INF)
    )
    return _logsumexp(torch.stack([on_last, before]))


class _CTC(torch.autograd.Function):
    """−log p(l | x) per sequence with the gradient from α and β (Graves et al., Eq. 15-16)."""

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank):  # type: ignore[override]
        extended, skip = _extend(targets, target_lengths, blank)
        index = extended[None].expand(log_probs.shape[0], -1, -1)
        y = log_probs.gather(2, index)  # log y_t(l'_s)  (T, B, L')
        alphas = _alphas(y, skip, input_lengths)
        ends = 2 * target_lengths
        log_p = _log_likelihood(alphas[-1], ends)
        ctx.save_for_backward(log_probs, y, alphas, extended, skip, input_lengths, ends, log_p)
        return -log_p

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[override]
        log_probs, y, alphas, extended, skip, input_lengths, ends, log_p = ctx.saved_tensors
        betas = _betas(y, skip, input_lengths, ends)
        # The share of p(l|x) that passes through position s at frame t, per unit of y_t(l'_s):
        # ∂(−log p)/∂ log y_t(k) = −Σ_{s: l'_s = k} α_t(s) β_t(s) / (y_t(k) p).
        share = torch.exp(alphas + betas - y - log_p[None, :, None])
        share = torch.nan_to_num(share, nan=0.0)  # −∞ − (−∞) where neither reaches
        grad = torch.zeros_like(log_probs)
        grad.scatter_add_(2, extended[None].expand_as(share), -share)
        frames = torch.arange(log_probs.shape[0], device=log_probs.device)
        grad = grad.masked_fill(~(frames[:, None] < input_lengths[None])[..., None], 0.0)
        grad = grad.masked_fill(~torch.isfinite(log_p)[None, :, None], 0.0)
        return grad * grad_output[None, :, None], None, None, None, None


def ctc_log_likelihood(
    log_probs: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor, blank: int = 0
) -> Tensor:
    """log p(l | x) per sequence (B,) by the forward recursion alone; autograd differentiates
    it through the ``logsumexp`` steps (the tests use it to check the hand-written gradient)."""
    extended, skip = _extend(targets, target_lengths, blank)
    y = log_probs.gather(2, extended[None].expand(log_probs.shape[0], -1, -1))
    return _log_likelihood(_alphas(y, skip, input_lengths)[-1], 2 * target_lengths)


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor,
    target_lengths: Tensor,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
    fused: bool = False,
) -> Tensor:
    """−log p(l | x), as ``F.ctc_loss`` defines it: ``reduction`` "none" (per sequence), "sum",
    or "mean" (each divided by its target length, then averaged). ``zero_infinity`` turns the
    loss of an impossible alignment (a transcript too long for its frames) into 0.

    ``fused=True`` hands the same loss to torch's kernel (``F.ctc_loss``, one C++ or CUDA call;
    about 9 times faster on two CPU cores, far more on a GPU, where the recursion here is a few
    small kernels per frame); the default runs the recursion written out above. The tests check
    that the two agree, values and gradients."""
    if log_probs.dim() != 3 or targets.dim() != 2:
        raise ValueError("log_probs must be (T, B, C) and targets (B, S), padded")
    if reduction not in ("none", "sum", "mean"):
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")
    if fused:
        return torch.nn.functional.ctc_loss(
            log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity
        )
    input_lengths = torch.as_tensor(input_lengths, device=log_probs.device, dtype=torch.long)
    target_lengths = torch.as_tensor(target_lengths, device=log_probs.device, dtype=torch.long)
    losses = _CTC.apply(log_probs, targets.long(), input_lengths, target_lengths, blank)
    if zero_infinity:
        losses = torch.where(torch.isinf(losses), torch.zeros_like(losses), losses)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return (losses / target_lengths.clamp(min=1).to(losses.dtype)).mean()


# ---- decoding -------------------------------------------------------------------------------------


def greedy_decode(log_probs: Tensor, input_lengths: Tensor, blank: int = 0) -> list[list[int]]:
    """The most probable symbol per frame, repeats merged and blanks dropped: (T, B, C) →
    a list of symbol lists."""
    best = log_probs.argmax(-1).T.cpu()  # (B, T)
    out = []
    for b, length in enumerate(torch.as_tensor(input_lengths).tolist()):
        path = best[b, :length]
        keep = torch.ones_like(path, dtype=torch.bool)
        keep[1:] = path[1:] != path[:-1]
        out.append([s for s in path[keep].tolist() if s != blank])
    return out


def _add(
    grown: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], which: int, value: float
) -> None:
    """Add probability (log) to a prefix's blank-ending (0) or symbol-ending (1) share."""
    slot = grown.setdefault(prefix, [NEG_INF, NEG_INF])
    slot[which] = _logaddexp(slot[which], value)


def prefix_beam_search(
    log_probs: Tensor,
    beam: int = 8,
    blank: int = 0,
    lm=None,
    lm_weight: float = 0.0,
    min_log_prob: float = NEG_INF,
) -> list[int]:
    """The most probable transcript of one sequence (T, C) by prefix beam search (Hannun et al.,
    2014). Each prefix keeps two probabilities: of the alignments so far that end in a blank and
    of those that end in its last symbol, since a repeated symbol extends the prefix only after
    a blank. ``lm(prefix, symbol)`` may return log P(symbol | prefix) from a language model,
    added with ``lm_weight`` when a prefix grows (Deep Speech 2, Eq. 3, without the word bonus).
    Symbols with a frame log-probability below ``min_log_prob`` are not tried at that frame
    (pruning, as practical decoders do: a speed-up that rarely changes the result).
    """
    logp = log_probs.detach().cpu().double()
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}  # prefix: (blank, symbol)
    for t in range(logp.shape[0]):
        frame = logp[t].tolist()
        grown: dict[tuple[int, ...], list[float]] = {}
        for prefix, (p_blank, p_symbol) in beams.items():
            total = _logaddexp(p_blank, p_symbol)
            _add(grown, prefix, 0, total + frame[blank])  # a blank: the prefix stays, now ending in blank
            for c, lp in enumerate(frame):
                if c == blank or lp < min_log_prob:
                    continue
                bonus = lm_weight * lm(prefix, c) if lm is not None else 0.0
                if prefix and prefix[-1] == c:
                    _add(grown, prefix, 1, p_symbol + lp)  # the same symbol again, merged
                    _add(grown, (*prefix, c), 1, p_blank + lp + bonus)  # after a blank: a new symbol
                else:
                    _add(grown, (*prefix, c), 1, total + lp + bonus)
        ranked = sorted(grown.items(), key=lambda kv: -_logaddexp(*kv[1]))
        beams = {prefix: (v[0], v[1]) for prefix, v in ranked[:beam]}
    best = max(beams.items(), key=lambda kv: _logaddexp(*kv[1]))
    return list(best[0])
