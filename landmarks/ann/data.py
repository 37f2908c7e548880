"""Clustered Gaussian vectors: the data the ``ann`` reproduction indexes.

Each cluster is a Gaussian around its own centre, with its own random orientation and a
power-law spectrum (the j-th axis has variance 1/(j + 1)), so the variance sits
in a few directions as it does in real embeddings, rather than the isotropic cloud in which
no index can beat brute force. Seeded and deterministic.
"""

from __future__ import annotations

import numpy as np

__all__ = ["clustered_gaussians"]


def clustered_gaussians(
    rng: np.random.Generator, n: int, dim: int, clusters: int = 100, spread: float = 1.0
) -> np.ndarray:
    """``n`` float32 vectors of ``dim`` numbers, drawn from ``clusters`` rotated Gaussians whose
    centres are N(0, spread²) in every coordinate."""
    centres = rng.normal(0, spread, (clusters, dim))
    scales = (np.arange(dim) + 1.0) ** -0.5
    label = rng.integers(0, clusters, n)
    x = np.empty((n, dim), np.float32)
    for c in range(clusters):
        rows = np.flatnonzero(label == c)
        rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
        z = rng.normal(size=(len(rows), dim)) * scales
        x[rows] = centres[c] + z @ rotation.T
    return x
