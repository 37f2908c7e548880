"""engine.profiling.peak_bytes measures what a piece of work allocates at its peak."""

from __future__ import annotations

import torch

from landmarks.engine.profiling import peak_bytes


def _work(n: int) -> torch.Tensor:
    a = torch.ones(n, 1000)  # n·1000 floats, freed once b exists
    b = a @ a.T  # n·n floats, returned
    del a
    return b.sum()


def test_peak_counts_tensors_live_at_once():
    for n in (100, 400):
        out, peak = peak_bytes(lambda n=n: _work(n))
        assert out.item() == 1000 * n * n
        assert peak == 4 * (1000 * n + n * n)  # a and b at once; the sum comes after a is freed
