"""Sorting numbers: the set-to-sequence task of "Order Matters".

Vinyals, Bengio and Kudlur (2016), "Order Matters: Sequence to sequence for sets", sort 5 to
15 numbers drawn uniformly from [0, 1) with a pointer network, and show that reading the input
as a set (the Read–Process–Write model) beats reading it as a sequence. The target is the
argsort: the input indices in increasing order of value.

Batches are padded with lengths: each example has its own n, uniform in [n_min, n_max];
``values`` past ``lengths`` are 0 and ``target`` past ``lengths`` is -1. Ties (two equal
float32 draws on torch.rand's 2⁻²⁴ grid: about 3 examples in a million at n=10) go to the
lower index, so the target is always a function of the input.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class SortingBatch(NamedTuple):
    values: torch.Tensor  # (B, N) float32 in [0, 1), zeros past lengths
    lengths: torch.Tensor  # (B,) int64
    target: torch.Tensor  # (B, N) int64: indices of values in increasing order, -1 past lengths

    def to(self, device: str | torch.device) -> SortingBatch:
        return SortingBatch(*(t.to(device) for t in self))


def argsort_target(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, N) values and (B,) lengths -> (B, N) sorting permutation, -1 past each length."""
    valid = torch.arange(values.shape[1], device=values.device) < lengths[:, None]  # (B, N)
    order = torch.where(valid, values, torch.inf).argsort(dim=1, stable=True)  # padding sorts last
    return torch.where(valid, order, -1)


class SortingTask:
    """n_min..n_max numbers uniform in [0, 1) and their argsort (``SortingBatch``)."""

    def __init__(self, n_min: int = 5, n_max: int = 10):
        if not 1 <= n_min <= n_max:
            raise ValueError(f"need 1 <= n_min <= n_max, got n_min={n_min}, n_max={n_max}")
        self.n_min, self.n_max = n_min, n_max
        self.name = f"sorting-{n_min}-{n_max}"

    def sample(self, n: int, generator: torch.Generator) -> SortingBatch:
        lengths = torch.randint(self.n_min, self.n_max + 1, (n,), generator=generator)  # (B,)
        valid = torch.arange(self.n_max) < lengths[:, None]  # (B, N)
        values = torch.rand(n, self.n_max, generator=generator) * valid
        return SortingBatch(values, lengths, argsort_target(values, lengths))
