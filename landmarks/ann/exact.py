"""Exact search: every query against every stored vector. The baseline the approximate indexes
are measured against (recall@k is the fraction of its answer they find), and what they save:
it computes n distances per query."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from landmarks.ann.base import Index, check_arrays

__all__ = ["ExactIndex", "squared_distances", "top_k"]


def squared_distances(q: np.ndarray, x: np.ndarray, x_norms: np.ndarray | None = None) -> np.ndarray:
    """‖q − x‖² for every pair, (nq, n), as ‖q‖² − 2 q·x + ‖x‖²: one matrix product."""
    if x_norms is None:
        x_norms = np.einsum("ij,ij->i", x, x)
    d = np.einsum("ij,ij->i", q, q)[:, None] - 2 * (q @ x.T) + x_norms[None, :]
    return np.maximum(d, 0, out=d)


def top_k(d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest entries of each row of ``d``, ascending: (distances, columns)."""
    if k < d.shape[1]:
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(d.shape[1]), d.shape).copy()
    dk = np.take_along_axis(d, part, axis=1)
    order = np.argsort(dk, axis=1, kind="stable")
    return np.take_along_axis(dk, order, axis=1), np.take_along_axis(part, order, axis=1)


class ExactIndex(Index):
    kind = "exact"
    DEFAULTS: ClassVar[dict[str, int | float]] = {}
    BLOCK = 256  # queries per matrix product: 256 × n floats at a time

    def __init__(self, dim: int, metric: str = "l2", **params: Any) -> None:
        super().__init__(dim, metric, **params)
        self._x = np.zeros((0, self.dim), np.float32)
        self._norms = np.zeros(0, np.float32)

    def __len__(self) -> int:
        return len(self._x)

    @property
    def vectors(self) -> np.ndarray:
        return self._x

    def _add(self, x: np.ndarray) -> None:
        self._x = np.concatenate([self._x, x])
        self._norms = np.einsum("ij,ij->i", self._x, self._x)

    def _search(self, q: np.ndarray, k: int, **override: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dists, ids = [], []
        for start in range(0, len(q), self.BLOCK):
            d, i = top_k(squared_distances(q[start : start + self.BLOCK], self._x, self._norms), k)
            dists.append(d)
            ids.append(i)
        counts = np.full(len(q), len(self), np.int64)
        return np.concatenate(dists), np.concatenate(ids).astype(np.int64), counts

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"vectors": self._x}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        check_arrays(arrays, {"vectors": (None, self.dim)})
        self._x = np.zeros((0, self.dim), np.float32)
        self._add(np.ascontiguousarray(arrays["vectors"], np.float32))
