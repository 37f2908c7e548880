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

The parallel scan does ⌈log₂ T⌉ passes over the whole tensor where the loop does one, so it
pays only where the loop's cost is the number of its steps rather than their size: on a GPU,
where each step is a kernel launch, and on a CPU for small steps. On a CPU, a step of a couple
of thousand numbers or more (a batch of Mamba's channels × states) is cheaper swept once, in
place, with the gradient written out the same way (``method="sweep"``); ``method="auto"``
picks by that rule, measured by ``landmarks bench scan`` (at T = 41 and 32 768 numbers a step,
forward and backward: 13 ms for the parallel scan, 4 ms for the sweep, on two cores).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["linear_scan", "sequential_scan"]

# On a CPU, steps of at least this many numbers are swept rather than scanned in parallel
# (the two cost the same at about 1 000 to 2 000 numbers a step; ``landmarks bench scan``).
SWEEP_MIN_STEP = 2048


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


def _sweep(a: Tensor, b: Tensor) -> Tensor:
    """The same recurrence along dim 0 in one pass, a step at a time, each step one fused
    multiply-add written in place into the output."""
    h = torch.empty_like(b)
    if len(b):
        h[0] = b[0]
    for t in range(1, len(b)):
        torch.addcmul(b[t], a[t], h[t - 1], out=h[t])
    return h


class _LinearScan(torch.autograd.Function):
    """The scan with its gradient written out, itself a scan running backwards in time:

        g_t = ∂L/∂h_t + a_{t+1} g_{t+1},   ∂L/∂b_t = g_t,   ∂L/∂a_t = g_t h_{t−1}

    so training keeps only a, h and the incoming gradient, not every round's intermediates."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, sweep: bool) -> Tensor:  # type: ignore[override]
        h = _sweep(a, b) if sweep else _hillis_steele(a, b)
        ctx.save_for_backward(a, h)
        ctx.sweep = sweep
        return h

    @staticmethod
    def backward(ctx, grad_h: Tensor) -> tuple[Tensor, Tensor, None]:  # type: ignore[override]
        a, h = ctx.saved_tensors
        grad_h = grad_h.contiguous()
        if ctx.sweep:
            g = torch.empty_like(grad_h)  # g_t = ∂L/∂h_t + a_{t+1} g_{t+1}, from the end
            g[-1] = grad_h[-1]
            for t in range(grad_h.shape[0] - 2, -1, -1):
                torch.addcmul(grad_h[t], a[t + 1], g[t + 1], out=g[t])
            grad_a = torch.empty_like(g)  # g_t h_{t−1}, and 0 at t = 0 (h_{−1} = 0)
            grad_a[0] = 0.0
            torch.mul(g[1:], h[:-1], out=grad_a[1:])
            return grad_a, g, None
        a_next = torch.cat([a[1:], torch.zeros_like(a[:1])])  # a_{t+1}; nothing after the end
        g = _hillis_steele(a_next, grad_h, reverse=True)
        h_prev = torch.cat([torch.zeros_like(h[:1]), h[:-1]])
        return g * h_prev, g, None


def linear_scan(
    a: Tensor,
    b: Tensor,
    h0: Tensor | None = None,
    dim: int = 1,
    method: Literal["auto", "parallel", "sweep"] = "auto",
) -> Tensor:
    """Every h_t of h_t = a_t h_{t−1} + b_t along ``dim``, with the gradient written out.

    ``method``: ``"parallel"``, ⌈log₂ T⌉ rounds (Hillis–Steele); ``"sweep"``, one in-place pass
    a step at a time; ``"auto"``, the sweep on a CPU when a step holds ``SWEEP_MIN_STEP``
    numbers or more, else the parallel scan (see the module's notes). Both give the same
    numbers up to rounding. ``a`` broadcasts against ``b``; returns a tensor shaped like ``b``.
    ``h0``, shaped like one step of ``b``, is the state before the first step (folded into b_0).
    """
    if method not in ("auto", "parallel", "sweep"):
        raise ValueError(f"method must be 'auto', 'parallel' or 'sweep', got {method!r}")
    a, b = torch.broadcast_tensors(a, b)
    a, b = a.movedim(dim, 0).contiguous(), b.movedim(dim, 0).contiguous()
    if h0 is not None:
        b = torch.cat([a[:1] * h0 + b[:1], b[1:]])
    if method == "auto":
        method = "sweep" if b.device.type == "cpu" and b[0].numel() >= SWEEP_MIN_STEP else "parallel"
    return _LinearScan.apply(a, b, method == "sweep").movedim(0, dim)
