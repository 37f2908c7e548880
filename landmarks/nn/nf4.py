"""4-bit NormalFloat (NF4) with block-wise absmax and double quantization: the storage of
QLoRA (Dettmers, Pagnoni, Holtzman, Zettlemoyer, 2023).

Pretrained weights are close to normally distributed, so the 16 levels of a 4-bit code are
put where a standard normal puts equal probability mass (Sec. 3, Eq. 4): 8 quantiles for the
positive half and 7 for the negative half (plus an exact zero), scaled into [−1, 1]. A weight
tensor is cut into blocks of 64; each block is divided by its largest |value| (absmax) and
each number replaced by the index of the nearest level. Storing one float32 absmax per 64
weights costs 0.5 bit per weight, so the absmax values themselves are quantized too (*double
quantization*, Sec. 3): minus their mean, to 8 bits per value in blocks of 256, each block with
one float32 scale, about 0.127 bit per weight in all.

``NF4Linear`` keeps a linear layer's weight this way and dequantizes it on the fly in
``forward``; QLoRA trains a LoRA update (``landmarks.nn.lora``) on top of it, in full precision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["NF4Linear", "NF4Tensor", "nf4_levels", "quantize_linears", "stored_bytes"]

_OFFSET = 0.9677083  # QLoRA's choice: the quantiles run from 1 − offset to offset, avoiding ±∞


def nf4_levels() -> Tensor:
    """The 16 NF4 values, ascending, in [−1, 1] (Eq. 4): normal quantiles at 8 (positive) and 7
    (negative) evenly spaced probabilities, zero added, divided by the largest."""
    ndtri = torch.special.ndtri
    positive = ndtri(torch.linspace(_OFFSET, 0.5, 9, dtype=torch.float64)[:-1])
    negative = -ndtri(torch.linspace(_OFFSET, 0.5, 8, dtype=torch.float64)[:-1])
    levels = torch.cat([positive, torch.zeros(1, dtype=torch.float64), negative]).sort().values
    return (levels / levels.max()).float()


class NF4Tensor:
    """A float tensor stored as 4-bit NF4 codes (two per byte), a quantized absmax per block of
    ``block`` values, and the float32 scales of those absmax values per ``block2`` blocks."""

    def __init__(self, values: Tensor, block: int = 64, block2: int = 256) -> None:
        self.shape, self.dtype = values.shape, values.dtype
        flat = values.detach().float().flatten()
        self.numel, self.block, self.block2 = flat.numel(), block, block2
        flat = F.pad(flat, (0, (-self.numel) % block)).view(-1, block)
        absmax = flat.abs().amax(1).clamp(min=1e-12)  # (blocks,)
        levels = nf4_levels().to(flat.device)
        codes = (flat / absmax[:, None])[..., None].sub(levels).abs().argmin(-1).to(torch.uint8).flatten()
        codes = F.pad(codes, (0, len(codes) % 2))
        self.packed = (codes[0::2] << 4) | codes[1::2]  # two 4-bit codes per byte
        # double quantization of the absmax values: centered, 8 bits, one float32 scale per block2
        self.absmax_mean = absmax.mean()
        centered = F.pad(absmax - self.absmax_mean, (0, (-len(absmax)) % block2)).view(-1, block2)
        self.absmax_scale = centered.abs().amax(1).clamp(min=1e-12) / 127
        self.absmax_codes = torch.round(centered / self.absmax_scale[:, None]).to(torch.int8)
        self.blocks = len(absmax)

    def absmax(self) -> Tensor:
        return (self.absmax_codes.float() * self.absmax_scale[:, None]).flatten()[
            : self.blocks
        ] + self.absmax_mean

    def dequantize(self) -> Tensor:
        codes = torch.stack([self.packed >> 4, self.packed & 0xF], 1).flatten().long()
        values = (
            nf4_levels().to(codes.device)[codes[: self.blocks * self.block]].view(self.blocks, self.block)
        )
        return (values * self.absmax()[:, None]).flatten()[: self.numel].view(self.shape).to(self.dtype)

    def nbytes(self) -> int:
        """Bytes stored: codes, 8-bit absmax codes, their float32 scales and the mean."""
        return self.packed.numel() + self.absmax_codes.numel() + 4 * self.absmax_scale.numel() + 4


class NF4Linear(nn.Module):
    """A frozen linear layer whose weight is stored in NF4 and dequantized in every forward."""

    def __init__(self, linear: nn.Linear, block: int = 64, block2: int = 256) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight_nf4 = NF4Tensor(linear.weight, block, block2)
        self.bias = (
            None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
        )

    @property
    def weight(self) -> Tensor:
        return self.weight_nf4.dequantize()

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight.to(x.dtype), self.bias)

    def nbytes(self) -> int:
        return self.weight_nf4.nbytes() + (0 if self.bias is None else 4 * self.bias.numel())


def quantize_linears(
    model: nn.Module, targets: Sequence[str], block: int = 64, block2: int = 256
) -> list[str]:
    """Replace, in place, every ``nn.Linear`` named by ``targets`` (``wrap_linears``' rule) by its
    frozen NF4 version; returns the names. QLoRA's storage of the base model."""
    from landmarks.nn.lora import wrap_linears

    return wrap_linears(model, targets, lambda linear: NF4Linear(linear, block, block2))


def stored_bytes(model: nn.Module, skip: Callable[[str], bool] = lambda name: False) -> int:
    """Bytes a model's weights take: each ``NF4Linear``'s packed storage, and every other
    parameter and buffer at its own element size, a tied tensor counted once. ``skip(name)``
    leaves out parameters by qualified name (an adapter's, to count the base alone)."""
    seen: set[int] = set()
    total = 0
    for name, m in model.named_modules():
        if isinstance(m, NF4Linear) and not skip(name):
            total += m.nbytes()  # packed codes, quantized scales and the fp32 bias
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        owner = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        if isinstance(owner, NF4Linear) or skip(name) or id(t) in seen:
            continue  # an NF4 layer's bias is in its nbytes
        seen.add(id(t))
        total += t.numel() * t.element_size()
    return total
