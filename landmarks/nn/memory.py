"""Differentiable memory: the addressing and the reads and writes of the Neural Turing Machine
(Graves, Wayne and Danihelka, 2014, Sec. 3).

A memory is a matrix M of N rows (locations) of M numbers. A head does not pick a row; it
emits a *weighting* w over the N rows (non-negative, summing to 1) and reads or writes every
row in proportion to it, so every step is differentiable. The weighting is produced in four
stages (Fig. 2), each a function below:

1. content addressing: compare a key with every row by cosine similarity, sharpen by a key
   strength β, softmax (Eq. 5-6);
2. interpolation with the previous weighting by a gate g (Eq. 7);
3. a circular shift by convolution with a distribution s over allowed shifts (Eq. 8);
4. sharpening by γ ≥ 1 (Eq. 9).

Everything is batched: memories are (B, N, M), and a step's H heads address them together,
weightings (B, H, N).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "address",
    "circular_shift",
    "content_addressing",
    "erase_and_add",
    "interpolate",
    "read",
    "sharpen",
]


def content_addressing(memory: Tensor, key: Tensor, strength: Tensor, eps: float = 1e-8) -> Tensor:
    """Eq. 5-6: w^c_i ∝ exp(β · cos(k, M_i)). memory (B, N, M), key (B, H, M), strength (B, H)
    → (B, H, N)."""
    similarity = F.cosine_similarity(key.unsqueeze(2), memory.unsqueeze(1), dim=-1, eps=eps)  # (B, H, N)
    return torch.softmax(strength.unsqueeze(-1) * similarity, dim=-1)


def interpolate(content: Tensor, previous: Tensor, gate: Tensor) -> Tensor:
    """Eq. 7: w^g = g w^c + (1 − g) w_{t−1}; gate (B, H) in [0, 1]."""
    g = gate.unsqueeze(-1)
    return g * content + (1 - g) * previous


def circular_shift(weighting: Tensor, shift: Tensor) -> Tensor:
    """Eq. 8: w̃_i = Σ_j w_j s_{(i − j) mod N}, a circular convolution. shift (B, H, 2k + 1) is a
    distribution over the shifts −k … +k; a one-hot s at +1 rolls the weighting one row on."""
    k = (shift.shape[-1] - 1) // 2
    rolled = torch.stack([weighting.roll(offset, dims=-1) for offset in range(-k, k + 1)], dim=-1)
    return (rolled * shift.unsqueeze(-2)).sum(-1)  # (B, H, N)


def sharpen(weighting: Tensor, gamma: Tensor, eps: float = 1e-12) -> Tensor:
    """Eq. 9: w_i = w̃_i^γ / Σ_j w̃_j^γ, γ ≥ 1 (B, H): undoes the blur of a fractional shift."""
    powered = (weighting + eps) ** gamma.unsqueeze(-1)
    return powered / powered.sum(-1, keepdim=True)


def address(
    memory: Tensor,
    previous: Tensor,
    key: Tensor,
    strength: Tensor,
    gate: Tensor,
    shift: Tensor,
    gamma: Tensor,
) -> Tensor:
    """The whole addressing mechanism (Fig. 2): content, interpolation, shift, sharpening."""
    w = content_addressing(memory, key, strength)
    w = interpolate(w, previous, gate)
    w = circular_shift(w, shift)
    return sharpen(w, gamma)


def read(memory: Tensor, weighting: Tensor) -> Tensor:
    """Eq. 2: r = Σ_i w_i M_i. memory (B, N, M), weighting (B, H, N) → (B, H, M)."""
    return weighting @ memory


def erase_and_add(memory: Tensor, weighting: Tensor, erase: Tensor, add: Tensor) -> Tensor:
    """Eq. 3-4, for H write heads at once: M_i ← M_i ∏_h (1 − w_{h,i} e_h) + Σ_h w_{h,i} a_h.
    weighting (B, H, N), erase (B, H, M) in [0, 1], add (B, H, M). Erasures multiply, so the
    order of the heads does not matter; additions sum."""
    keep = torch.prod(1 - weighting.unsqueeze(-1) * erase.unsqueeze(2), dim=1)  # (B, N, M)
    return memory * keep + weighting.transpose(1, 2) @ add
