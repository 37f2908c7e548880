"""Product quantization for nearest-neighbour search (Jégou, Douze, Schmid, TPAMI 2011), the
IVFADC index, as FAISS (Johnson, Douze, Jégou, 2017) builds it.

- A coarse quantizer (k-means, ``nlist`` centroids) splits the space into cells; each vector is
  filed in the inverted list of its nearest centroid c(x) (Sec. IV.A).
- The residual r = x − c(x) is cut into ``m`` sub-vectors, each replaced by the index of its
  nearest of 256 sub-centroids (a k-means per sub-space, Sec. II.B): ``m`` bytes per vector
  instead of 4·dim.
- A query visits the ``nprobe`` nearest cells. In each it builds one table per sub-space of
  ‖(q − c)_j − c_{j,i}‖² for the 256 sub-centroids, then scores a stored code by summing m table
  entries: the asymmetric distance d(q, c + r̂) (ADC, Eq. 13), with the query itself never
  quantized.
- Optionally (``rerank`` > 0) the ADC shortlist of that many candidates is re-ranked by exact
  distance to the original vectors, which the index then keeps beside the codes (in practice on
  disk: only the shortlist is read).

Vectorized numpy: one matrix product per assignment, one table-gather per query.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from landmarks.ann.base import Index, check_arrays
from landmarks.ann.exact import squared_distances, top_k
from landmarks.errors import UserInputError

__all__ = ["IVFPQIndex", "ProductQuantizer", "kmeans", "nearest_centroid"]

KSUB = 256  # sub-centroids per sub-space: one byte per code


def nearest_centroid(
    x: np.ndarray, centroids: np.ndarray, block: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Index of, and squared distance to, each row's nearest centroid."""
    assign = np.empty(len(x), np.int64)
    dist = np.empty(len(x), np.float32)
    norms = np.einsum("ij,ij->i", centroids, centroids)
    for s in range(0, len(x), block):
        d = squared_distances(x[s : s + block], centroids, norms)
        assign[s : s + block] = d.argmin(1)
        dist[s : s + block] = d[np.arange(len(d)), assign[s : s + block]]
    return assign, dist


def kmeans(x: np.ndarray, k: int, iters: int, rng: np.random.Generator) -> np.ndarray:
    """Lloyd's k-means from k distinct random points (as FAISS starts); an emptied cluster is
    re-seeded at a random point. Returns the (k, dim) float32 centroids."""
    if len(x) < k:
        raise UserInputError(f"k-means needs at least {k} training vectors for {k} centroids, got {len(x)}")
    centroids = x[rng.choice(len(x), k, replace=False)].astype(np.float32)
    for _ in range(iters):
        assign, _ = nearest_centroid(x, centroids)
        counts = np.bincount(assign, minlength=k)
        sums = np.stack([np.bincount(assign, weights=col, minlength=k) for col in x.T], axis=1)
        empty = counts == 0
        centroids[~empty] = (sums[~empty] / counts[~empty, None]).astype(np.float32)
        centroids[empty] = x[rng.choice(len(x), int(empty.sum()), replace=False)]
    return centroids


class ProductQuantizer:
    """``m`` sub-quantizers of 256 centroids each over consecutive blocks of dim/m coordinates."""

    def __init__(self, dim: int, m: int) -> None:
        if m < 1 or dim % m:
            raise UserInputError(f"pq: m = {m} must divide the dimension {dim} (e.g. m = {_divisor(dim)})")
        self.dim, self.m, self.dsub = dim, m, dim // m
        self.codebooks = np.zeros((m, KSUB, self.dsub), np.float32)  # (m, 256, dim/m)

    def split(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), self.m, self.dsub)  # (n, m, dsub)

    def train(self, x: np.ndarray, iters: int, rng: np.random.Generator) -> None:
        sub = self.split(x)
        for j in range(self.m):
            self.codebooks[j] = kmeans(np.ascontiguousarray(sub[:, j]), KSUB, iters, rng)

    def encode(self, x: np.ndarray) -> np.ndarray:
        """The nearest sub-centroid of each sub-vector: (n, m) uint8 codes."""
        sub = self.split(x)
        codes = np.empty((len(x), self.m), np.uint8)
        for j in range(self.m):
            codes[:, j], _ = nearest_centroid(np.ascontiguousarray(sub[:, j]), self.codebooks[j])
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """The reconstruction: each sub-vector replaced by its centroid, (n, dim)."""
        parts = self.codebooks[np.arange(self.m)[None, :], codes.astype(np.int64)]  # (n, m, dsub)
        return parts.reshape(len(codes), self.dim)

    def distance_tables(self, r: np.ndarray) -> np.ndarray:
        """‖r_j − c_{j,i}‖² for every row of r, sub-space j and centroid i: (len(r), m, 256)."""
        sub = self.split(r)  # (n, m, dsub)
        cross = np.einsum("nmd,mkd->nmk", sub, self.codebooks)
        return (
            np.einsum("nmd,nmd->nm", sub, sub)[:, :, None]
            - 2 * cross
            + np.einsum("mkd,mkd->mk", self.codebooks, self.codebooks)[None]
        )


def _divisor(dim: int) -> int:
    return max(d for d in range(1, min(dim, 16) + 1) if dim % d == 0)


class IVFPQIndex(Index):
    """``nlist`` cells, ``m`` bytes per vector, ``nprobe`` cells visited per query, ``rerank``
    ADC candidates re-ranked exactly (0: off; set it before adding, as it keeps the vectors).
    Trained by k-means on up to ``train_size`` vectors of the first ``add`` (or ``train``)."""

    kind = "ivfpq"
    DEFAULTS: ClassVar[dict[str, int | float]] = {
        "nlist": 256,
        "m": 16,
        "nprobe": 16,
        "rerank": 0,
        "train_size": 65536,
        "iters": 20,
        "seed": 0,
    }
    SEARCH_KEYS = ("nprobe", "rerank")

    def __init__(self, dim: int, metric: str = "l2", **params: Any) -> None:
        super().__init__(dim, metric, **params)
        self.pq = ProductQuantizer(self.dim, self.params["m"])
        self.centroids = np.zeros((0, self.dim), np.float32)
        self.assign = np.zeros(0, np.int64)
        self.codes = np.zeros((0, self.params["m"]), np.uint8)
        self._x = np.zeros((0, self.dim), np.float32) if self.params["rerank"] > 0 else None
        self._lists: tuple[np.ndarray, np.ndarray] | None = None

    def _check_params(self) -> None:
        p = self.params
        for key in ("nlist", "m", "nprobe", "train_size", "iters"):
            if p[key] < 1:
                raise UserInputError(f"ivfpq setting {key} must be >= 1, got {p[key]}")
        if p["rerank"] < 0:
            raise UserInputError(f"ivfpq setting rerank must be >= 0, got {p['rerank']}")
        if p["train_size"] < max(p["nlist"], KSUB):
            raise UserInputError(
                f"ivfpq setting train_size = {p['train_size']} is below the {max(p['nlist'], KSUB)} "
                "vectors k-means needs (nlist, and 256 per sub-quantizer)"
            )

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def is_trained(self) -> bool:
        return len(self.centroids) > 0

    @property
    def code_bytes(self) -> int:
        """Bytes of PQ codes stored: m per vector (ids and centroids not counted, as in the paper)."""
        return self.codes.nbytes

    def train(self, vectors: Any) -> None:
        """Fit the coarse quantizer and the product quantizer on (a sample of) ``vectors``."""
        x = self.prepare(vectors, "training vectors")
        p = self.params
        need = max(p["nlist"], KSUB)
        if len(x) < need:
            raise UserInputError(
                f"ivfpq needs at least {need} vectors to train (nlist = {p['nlist']} cells and {KSUB} "
                f"centroids per sub-quantizer), got {len(x)}; add more at once or lower nlist"
            )
        rng = np.random.default_rng(p["seed"])
        if len(x) > p["train_size"]:
            x = x[np.sort(rng.choice(len(x), p["train_size"], replace=False))]
        self.centroids = kmeans(x, p["nlist"], p["iters"], rng)
        assign, _ = nearest_centroid(x, self.centroids)
        self.pq.train(x - self.centroids[assign], p["iters"], rng)

    def _add(self, x: np.ndarray) -> None:
        if not self.is_trained:
            self.train(x)  # already normalized for cosine; normalizing twice changes nothing
        assign, _ = nearest_centroid(x, self.centroids)
        self.assign = np.concatenate([self.assign, assign])
        self.codes = np.concatenate([self.codes, self.pq.encode(x - self.centroids[assign])])
        if self._x is not None:
            self._x = np.concatenate([self._x, x])
        self._lists = None

    def inverted_lists(self) -> tuple[np.ndarray, np.ndarray]:
        """The ids sorted by cell and where each cell's run starts: (ids, offsets of nlist + 1)."""
        if self._lists is None:
            order = np.argsort(self.assign, kind="stable")
            offsets = np.zeros(len(self.centroids) + 1, np.int64)
            np.cumsum(np.bincount(self.assign, minlength=len(self.centroids)), out=offsets[1:])
            self._lists = (order, offsets)
        return self._lists

    def adc(self, q: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eq. 13 for one query over the given cells: (ids, asymmetric squared distances)."""
        order, offsets = self.inverted_lists()
        sizes = offsets[cells + 1] - offsets[cells]
        ids = np.concatenate([order[offsets[c] : offsets[c + 1]] for c in cells])
        tables = self.pq.distance_tables(q[None, :] - self.centroids[cells])  # (nprobe, m, 256)
        cell_of = np.repeat(np.arange(len(cells)), sizes)  # which table each candidate reads
        codes = self.codes[ids].astype(np.int64)
        d = tables[cell_of[:, None], np.arange(self.pq.m)[None, :], codes].sum(1)
        return ids, d

    def _search(self, q: np.ndarray, k: int, **override: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nprobe = min(override.get("nprobe", self.params["nprobe"]), len(self.centroids))
        rerank = override.get("rerank", self.params["rerank"])
        if nprobe < 1 or rerank < 0:
            raise UserInputError(f"ivfpq search needs nprobe >= 1 and rerank >= 0, got {nprobe}, {rerank}")
        if rerank and self._x is None:
            raise UserInputError(
                "ivfpq: re-ranking needs the original vectors, which this index did not keep; "
                "build it with rerank > 0"
            )
        _, cells = top_k(squared_distances(q, self.centroids), nprobe)  # the nprobe nearest cells
        out_d = np.full((len(q), k), np.inf, np.float32)
        out_ids = np.full((len(q), k), -1, np.int64)
        counts = np.full(len(q), len(self.centroids), np.int64)
        for i in range(len(q)):
            ids, d = self.adc(q[i], cells[i])
            counts[i] += len(ids)
            if rerank and len(ids):
                keep = min(max(rerank, k), len(ids))
                _, short = top_k(d[None, :], keep)
                ids = ids[short[0]]
                diff = self._x[ids] - q[i]
                d = np.einsum("ij,ij->i", diff, diff)  # exact distance on the shortlist
                counts[i] += len(ids)
            found = min(k, len(ids))
            if found:
                dk, pos = top_k(d[None, :], found)
                out_d[i, :found], out_ids[i, :found] = dk[0], ids[pos[0]]
        return out_d, out_ids, counts

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "centroids": self.centroids,
            "codebooks": self.pq.codebooks,
            "assign": self.assign,
            "codes": self.codes,
        }
        if self._x is not None:
            arrays["vectors"] = self._x
        return arrays

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        p = self.params
        check_arrays(
            arrays,
            {
                "centroids": (None, self.dim),
                "codebooks": (p["m"], KSUB, self.dim // p["m"]),
                "assign": (None,),
                "codes": (None, p["m"]),
            },
        )
        n = len(arrays["codes"])
        if len(arrays["assign"]) != n or (
            n and not 0 <= arrays["assign"].min() <= arrays["assign"].max() < len(arrays["centroids"])
        ):
            raise ValueError("the cell assignments do not match the codes and centroids")
        if arrays["codes"].dtype != np.uint8:
            raise ValueError("the PQ codes are not bytes")
        if p["rerank"] > 0:
            check_arrays(arrays, {"vectors": (n, self.dim)})
            self._x = np.ascontiguousarray(arrays["vectors"], np.float32)
        self.centroids = np.ascontiguousarray(arrays["centroids"], np.float32)
        self.pq.codebooks = np.ascontiguousarray(arrays["codebooks"], np.float32)
        self.assign = arrays["assign"].astype(np.int64)
        self.codes = arrays["codes"]
        self._lists = None
