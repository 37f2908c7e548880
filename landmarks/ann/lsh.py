"""Locality-sensitive hashing by random hyperplanes (Charikar, STOC 2002).

A hyperplane through the origin with a Gaussian normal r hashes x to the bit [r·x ≥ 0]. Two
vectors at angle θ fall on the same side unless the hyperplane passes between them, which it
does with probability θ/π (Goemans–Williamson), so

    Pr[h(u) = h(v)] = 1 − θ(u, v)/π.                              (Charikar, Sec. 3)

``bits`` hyperplanes make one table's key; near vectors share keys far more often than far
ones. ``tables`` independent tables raise the chance that a true neighbour shares at least one
key, and multi-probe (Lv, Josephson, Wang, Charikar, Li, VLDB 2007) also visits the ``probes``
buckets whose keys differ in the one or two bits the query was closest to flipping (smallest
|r·q|), instead of adding tables. The candidates are then ranked by exact distance.

Hyperplanes hash angles; for the ``"l2"`` metric they are centred on the mean of the first
vectors added, so that angles around the data's centre stand in for distances.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import numpy as np

from landmarks.ann.base import Index, check_arrays
from landmarks.ann.exact import top_k
from landmarks.errors import UserInputError

__all__ = ["LSHIndex", "collision_rate", "hyperplane_bits", "pair_at_angle"]


def hyperplane_bits(x: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Charikar's hash: bit b of row i is [normals_b · x_i ≥ 0]. (n, bits) bool."""
    return x @ normals.T >= 0


def pair_at_angle(
    rng: np.random.Generator, dim: int, theta: float, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random pairs of unit vectors exactly ``theta`` radians apart."""
    u = rng.normal(size=(count, dim))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    w = rng.normal(size=(count, dim))
    w -= np.einsum("ij,ij->i", w, u)[:, None] * u  # orthogonal to u
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    return u, np.cos(theta) * u + np.sin(theta) * w


def collision_rate(rng: np.random.Generator, dim: int, theta: float, pairs: int, planes: int) -> float:
    """The fraction of (pair, hyperplane) trials in which both vectors get the same bit."""
    u, v = pair_at_angle(rng, dim, theta, pairs)
    normals = rng.normal(size=(planes, dim))
    return float((hyperplane_bits(u, normals) == hyperplane_bits(v, normals)).mean())


class LSHIndex(Index):
    """``tables`` hash tables of ``bits`` hyperplanes each; a search probes the query's bucket and
    its ``probes`` most likely neighbours in every table; ``seed`` draws the hyperplanes."""

    kind = "lsh"
    DEFAULTS: ClassVar[dict[str, int | float]] = {"tables": 8, "bits": 12, "probes": 8, "seed": 0}
    SEARCH_KEYS = ("probes",)

    def __init__(self, dim: int, metric: str = "l2", **params: Any) -> None:
        super().__init__(dim, metric, **params)
        p = self.params
        rng = np.random.default_rng(p["seed"])
        self.normals = rng.normal(size=(p["tables"], p["bits"], self.dim)).astype(np.float32)
        self.centre = np.zeros(self.dim, np.float32)
        self._x = np.zeros((0, self.dim), np.float32)
        self.keys = np.zeros((0, p["tables"]), np.int64)
        self._buckets: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        # Multi-probe perturbations: every set of one or two bits, as masks and bit lists.
        flips = [(b,) for b in range(p["bits"])] + list(itertools.combinations(range(p["bits"]), 2))
        self._flip_masks = np.array([sum(1 << b for b in f) for f in flips], np.int64)
        self._flip_bits = np.array([(f[0], f[-1]) for f in flips], np.int64)
        self._flip_double = np.array([len(f) == 2 for f in flips])

    def _check_params(self) -> None:
        p = self.params
        if p["tables"] < 1:
            raise UserInputError(f"lsh setting tables must be >= 1, got {p['tables']}")
        if not 1 <= p["bits"] <= 62:
            raise UserInputError(f"lsh setting bits must be in 1..62, got {p['bits']}")
        if p["probes"] < 0:
            raise UserInputError(f"lsh setting probes must be >= 0, got {p['probes']}")

    def __len__(self) -> int:
        return len(self._x)

    def _margins(self, x: np.ndarray) -> np.ndarray:
        """r·(x − centre) for every table and hyperplane: (n, tables, bits)."""
        return np.einsum("nd,tbd->ntb", x - self.centre, self.normals)

    def _keys(self, margins: np.ndarray) -> np.ndarray:
        weights = np.int64(1) << np.arange(self.params["bits"], dtype=np.int64)
        return ((margins >= 0) * weights).sum(-1)  # (n, tables) bucket keys

    def _add(self, x: np.ndarray) -> None:
        if len(self) == 0 and self.metric == "l2":
            self.centre = x.mean(0)
        self._x = np.concatenate([self._x, x])
        self.keys = np.concatenate([self.keys, self._keys(self._margins(x))])
        self._buckets = None

    def buckets(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per table: the distinct keys (sorted), where each key's run starts, and the ids by key."""
        if self._buckets is None:
            self._buckets = []
            for t in range(self.params["tables"]):
                order = np.argsort(self.keys[:, t], kind="stable")
                keys, starts = np.unique(self.keys[order, t], return_index=True)
                self._buckets.append((keys, np.append(starts, len(order)), order))
        return self._buckets

    def probe_keys(self, margins: np.ndarray, probes: int) -> np.ndarray:
        """Each query's key and its ``probes`` neighbouring keys, cheapest flips first: (nq, tables, 1 + probes)."""
        keys = self._keys(margins)
        probes = min(probes, len(self._flip_masks))
        if probes == 0:
            return keys[:, :, None]
        a = np.abs(margins)
        cost = a[..., self._flip_bits[:, 0]] + np.where(self._flip_double, a[..., self._flip_bits[:, 1]], 0)
        best = np.argsort(cost, axis=-1, kind="stable")[..., :probes]  # (nq, tables, probes)
        return np.concatenate([keys[:, :, None], keys[:, :, None] ^ self._flip_masks[best]], axis=-1)

    def _search(self, q: np.ndarray, k: int, **override: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        probes = override.get("probes", self.params["probes"])
        if probes < 0:
            raise UserInputError(f"lsh search needs probes >= 0, got {probes}")
        probed = self.probe_keys(self._margins(q), probes)  # (nq, tables, 1 + probes)
        runs = []  # per table: (start, stop) of each probed bucket in that table's id order
        for t, (keys, starts, _) in enumerate(self.buckets()):
            pos = np.clip(np.searchsorted(keys, probed[:, t]), 0, len(keys) - 1)
            hit = keys[pos] == probed[:, t]
            runs.append((np.where(hit, starts[pos], 0), np.where(hit, starts[pos + 1], 0)))
        out_d = np.full((len(q), k), np.inf, np.float32)
        out_ids = np.full((len(q), k), -1, np.int64)
        counts = np.zeros(len(q), np.int64)
        tables = self.buckets()
        for i in range(len(q)):
            parts = [
                tables[t][2][s:e] for t, (lo, hi) in enumerate(runs) for s, e in zip(lo[i], hi[i]) if e > s
            ]
            if not parts:
                continue
            ids = np.unique(np.concatenate(parts))
            diff = self._x[ids] - q[i]
            d = np.einsum("ij,ij->i", diff, diff)  # exact distances to the candidates
            counts[i] = len(ids)
            found = min(k, len(ids))
            dk, pos = top_k(d[None, :], found)
            out_d[i, :found], out_ids[i, :found] = dk[0], ids[pos[0]]
        return out_d, out_ids, counts

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"vectors": self._x, "keys": self.keys, "normals": self.normals, "centre": self.centre}

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        p = self.params
        check_arrays(
            arrays,
            {
                "vectors": (None, self.dim),
                "keys": (len(arrays.get("vectors", ())), p["tables"]),
                "normals": (p["tables"], p["bits"], self.dim),
                "centre": (self.dim,),
            },
        )
        self._x = np.ascontiguousarray(arrays["vectors"], np.float32)
        self.keys = arrays["keys"].astype(np.int64)
        self.normals = np.ascontiguousarray(arrays["normals"], np.float32)
        self.centre = np.ascontiguousarray(arrays["centre"], np.float32)
        self._buckets = None
