"""Linear recurrences h_t = a_t ⊙ h_{t−1} + b_t, computed for every t at once.

The recurrence of a selective state-space model (Mamba; Gu, Dao, 2023) and of Griffin's RG-LRU
(De et al., 2024) is linear in h, and composing two of its steps gives another step of the same
form:

    (a₁, b₁) then (a₂, b₂)  =  (a₂ a₁,  a₂ b₁ + b₂)

an associative operation. So the prefix "sums" of the pairs can be taken in ⌈log₂ T⌉ rounds
instead of T sequential steps (Blelloch, 1990; Martin, Cundy, 2018 for RNNs): in round k every
position t ≥ 2^k combines with position t − 2^k (Hillis, Steele, 1986). Each round is a few
whole-tensor operations, so training never loops over time in Python, and autograd
differentiates it as it is. ``sequential_scan`` is the plain loop, kept beside it: the tests
hold the two equal, outputs and gradients, and ``landmarks bench scan`` times them.

Only products of the a's are formed, never divisions, so decays close to 0 are exact.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["linear_scan", "sequential_scan"]


def sequential_scan(a: Tensor, b: Tensor, h0: Tensor | None = None, dim: int = 1) -> Tensor:
    """h_t = a_t h_{t−1} + b_t along ``dim``, one step at a time; h_{−1} = ``h0`` (or 0)."""
    a, b = a.movedim(dim, 0), b.movedim(dim, 0)
    h = torch.zeros_like(b[0]) if h0 is None else h0
    out = []
    for t in range(b.shape[0]):
        h = a[t] * h + b[t]
        out.append(h)
    return torch.stack(out).movedim(0, dim)


def _hillis_steele(a: Tensor, b: Tensor, reverse: bool = False) -> Tensor:
    """The scan along dim 0 (time first: each shift is a contiguous slice); ``reverse`` runs it
    from the end, h_t = a_t h_{t+1} + b_t. Each round is one fused multiply-add over the tensor
    into a buffer of its own (two buffers trade places), with no concatenation or temporaries."""
    t, shift = b.shape[0], 1
    b_bufs, a_bufs = (torch.empty_like(b), torch.empty_like(b)), (torch.empty_like(a), torch.empty_like(a))
    k = 0
    while shift < t:
        # forward: position s >= shift combines with s - shift, and the first `shift` are complete
        if reverse:
            new, old, done = slice(None, t - shift), slice(shift, None), slice(t - shift, None)
        else:
            new, old, done = slice(shift, None), slice(None, t - shift), slice(None, shift)
        out = b_bufs[k % 2]
        out[done] = b[done]
        torch.addcmul(b[new], a[new], b[old], out=out[new])
        b = out
        if 2 * shift < t:  # the last round needs no products of the a's
            out = a_bufs[k % 2]
            out[done] = a[done]
            torch.mul(a[new], a[old], out=out[new])
            a = out
        shift, k = 2 * shift, k + 1
    return b


class _LinearScan(torch.autograd.Function):
    """The scan with its gradient written out, itself a scan running backwards in time:

        g_t = ∂L/∂h_t + a_{t+1} g_{t+1},   ∂L/∂b_t = g_t,   ∂L/∂a_t = g_t h_{t−1}

    so training keeps only a, h and the incoming gradient, not every round's intermediates."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor) -> Tensor:  # type: ignore[override]
        h = _hillis_steele(a, b)
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    def backward(ctx, grad_h: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        a, h = ctx.saved_tensors
        a_next = torch.cat([a[1:], torch.zeros_like(a[:1])])  # a_{t+1}; nothing after the end
        g = _hillis_steele(a_next, grad_h.contiguous(), reverse=True)
        h_prev = torch.cat([torch.zeros_like(h[:1]), h[:-1]])
        return g * h_prev, g


def linear_scan(a: Tensor, b: Tensor, h0: Tensor | None = None, dim: int = 1) -> Tensor:
    """Every h_t of h_t = a_t h_{t−1} + b_t along ``dim`` in ⌈log₂ T⌉ rounds (Hillis–Steele).

    ``a`` broadcasts against ``b``; returns a tensor shaped like ``b``. ``h0``, shaped like one
    step of ``b``, is the state before the first step (folded into b_0).
    """
    a, b = torch.broadcast_tensors(a, b)
    a, b = a.movedim(dim, 0).contiguous(), b.movedim(dim, 0).contiguous()
    if h0 is not None:
        b = torch.cat([a[:1] * h0 + b[:1], b[1:]])
    return _LinearScan.apply(a, b).movedim(0, dim)
