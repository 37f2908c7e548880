"""Hierarchical Navigable Small World graphs (Malkov, Yashunin, 2016; TPAMI 2018).

Every vector is a node of a proximity graph at layer 0; a node also appears on layers 1 … l
with l drawn as ⌊−ln U · m_L⌋, m_L = 1/ln M (Alg. 1), so each layer up holds about 1/M of
the one below: a skip list made of graphs. A search descends greedily from the top entry point
to layer 1 and then runs a best-first beam search of width ``ef`` on layer 0 (Alg. 2). An
insert is the same search with width ``ef_construction`` on each of its layers, whose result is
thinned to M neighbours by the heuristic of Alg. 4: keep a candidate only if it is closer to
the new node than to every neighbour already kept, so links point in diverse directions and
cross between clusters. A neighbour pushed past M_max (2M on layer 0, M above) is re-thinned by
the same heuristic. Nodes are inserted one by one, so ``add`` extends the graph: no rebuild,
and adding in several batches gives the very graph one batch would.

The fast path: the search, insert and heuristic below are plain Python loops over nodes,
compiled by numba (a dependency; where it cannot install, ``COMPILED`` is False), which
is what brings the speed within reach of hnswlib's C++. Without numba the same functions run as
Python: identical results, about a hundred times slower. Links are fixed-width int32 rows whose
first entry is the count, as in hnswlib's memory layout.
"""

from __future__ import annotations

import heapq
import math
from typing import Any, ClassVar

import numpy as np

from landmarks.ann.base import Index, check_arrays
from landmarks.errors import UserInputError

__all__ = ["COMPILED", "HNSWIndex"]

try:
    import numba

    jit = numba.njit(cache=True, fastmath=True, nogil=True)
    COMPILED = True
except ImportError:  # the same code, interpreted

    def jit(f):  # type: ignore[no-untyped-def]
        return f

    COMPILED = False

MAX_LEVEL = 15  # layers 1..15 above the ground layer: reaching 16 has probability M^-16
LEVEL_BLOCK = 1 << 16  # node i's level comes from block i // LEVEL_BLOCK of a seeded stream

# ---- the kernels (numba nopython, or plain Python) -----------------------------------------------

if COMPILED:

    @jit
    def _l2(q, x, j):  # type: ignore[no-untyped-def]
        """‖q − x_j‖², accumulated in float32 (SIMD under fastmath)."""
        s = np.float32(0.0)
        for i in range(q.shape[0]):
            t = q[i] - x[j, i]
            s += t * t
        return s

else:

    def _l2(q, x, j):  # type: ignore[no-untyped-def]
        t = q - x[j]
        return np.float32(t @ t)


@jit
def _links(layer, node, links0, upper_row, links_up):  # type: ignore[no-untyped-def]
    """The node's row on ``layer``: [count, neighbour ids ...] (a view that can be written)."""
    if layer == 0:
        return links0[node]
    return links_up[upper_row[node], layer - 1]


@jit
def _next_tag(visited, vtag):  # type: ignore[no-untyped-def]
    """A fresh 'visited' mark, so the visited array is cleared once per 2^31 searches, not per search."""
    vtag[0] += 1
    if vtag[0] >= 2147483647:
        visited[:] = 0
        vtag[0] = 1
    return vtag[0]


@jit
def _greedy(q, cur, dcur, layer, x, links0, upper_row, links_up, counter):  # type: ignore[no-untyped-def]
    """Alg. 2 with ef = 1, as hnswlib does it above layer 0: move to a closer neighbour while one exists."""
    changed = True
    while changed:
        changed = False
        row = _links(layer, cur, links0, upper_row, links_up)
        for j in range(row[0]):
            e = np.int64(row[1 + j])
            d = _l2(q, x, e)
            counter[0] += 1
            if d < dcur:
                dcur = d
                cur = e
                changed = True
    return cur, dcur


@jit
def _search_layer(q, entry_ids, entry_d, ef, layer, x, links0, upper_row, links_up, visited, tag, counter):  # type: ignore[no-untyped-def]
    """Alg. 2: best-first search from the entry points; returns the ``ef`` nearest found,
    ascending (ids, squared distances). ``candidates`` is a min-heap, ``found`` a max-heap."""
    candidates = [(entry_d[0], entry_ids[0])]
    found = [(-entry_d[0], entry_ids[0])]
    visited[entry_ids[0]] = tag
    for i in range(1, len(entry_ids)):
        visited[entry_ids[i]] = tag
        heapq.heappush(candidates, (entry_d[i], entry_ids[i]))
        heapq.heappush(found, (-entry_d[i], entry_ids[i]))
        if len(found) > ef:
            heapq.heappop(found)
    while len(candidates) > 0:
        d, c = heapq.heappop(candidates)
        if d > -found[0][0]:
            break  # the nearest unexpanded candidate is farther than the farthest kept: done
        row = _links(layer, c, links0, upper_row, links_up)
        for j in range(row[0]):
            e = np.int64(row[1 + j])
            if visited[e] == tag:
                continue
            visited[e] = tag
            de = _l2(q, x, e)
            counter[0] += 1
            if len(found) < ef or de < -found[0][0]:
                heapq.heappush(candidates, (de, e))
                heapq.heappush(found, (-de, e))
                if len(found) > ef:
                    heapq.heappop(found)
    n = len(found)
    ids = np.empty(n, np.int64)
    ds = np.empty(n, np.float32)
    for i in range(n):
        ds[i] = -found[i][0]
        ids[i] = found[i][1]
    order = np.argsort(ds)
    return ids[order], ds[order]


@jit
def _select_neighbours(ids, ds, m, x):  # type: ignore[no-untyped-def]
    """Alg. 4 (the heuristic; no extended candidates, no kept pruned links, as in hnswlib):
    ``ids`` sorted by distance ``ds`` to the base node; keep e if it is closer to the base than
    to every neighbour already kept."""
    kept = np.empty(m, np.int64)
    n = 0
    for i in range(len(ids)):
        if n == m:
            break
        good = True
        for j in range(n):
            if _l2(x[ids[i]], x, kept[j]) < ds[i]:
                good = False
                break
        if good:
            kept[n] = ids[i]
            n += 1
    return kept[:n]


@jit
def _connect(node, e, layer, m_max, x, links0, upper_row, links_up):  # type: ignore[no-untyped-def]
    """Add the link e → node; if e then has more than m_max links, re-thin them by Alg. 4."""
    row = _links(layer, e, links0, upper_row, links_up)
    c = row[0]
    if c < m_max:
        row[1 + c] = node
        row[0] = c + 1
        return
    ids = np.empty(c + 1, np.int64)
    ds = np.empty(c + 1, np.float32)
    for j in range(c):
        ids[j] = row[1 + j]
        ds[j] = _l2(x[e], x, ids[j])
    ids[c] = node
    ds[c] = _l2(x[e], x, node)
    order = np.argsort(ds)
    kept = _select_neighbours(ids[order], ds[order], m_max, x)
    row[0] = len(kept)
    for j in range(len(kept)):
        row[1 + j] = kept[j]


@jit
def _insert(node, level, state, x, links0, upper_row, links_up, visited, vtag, m, m0, ef_construction):  # type: ignore[no-untyped-def]
    """Alg. 1: descend greedily to the node's top layer, then on each of its layers search with
    ef_construction, link to M neighbours chosen by Alg. 4, and link them back."""
    if state[0] < 0:  # the first node is the entry point
        state[0] = node
        state[1] = level
        return
    counter = np.zeros(1, np.int64)  # construction's distances are not a query's cost
    q = x[node]
    top = state[1]
    cur = np.int64(state[0])
    dcur = _l2(q, x, cur)
    for layer in range(top, level, -1):
        cur, dcur = _greedy(q, cur, dcur, layer, x, links0, upper_row, links_up, counter)
    ep_ids = np.empty(1, np.int64)
    ep_d = np.empty(1, np.float32)
    ep_ids[0] = cur
    ep_d[0] = dcur
    for layer in range(min(top, level), -1, -1):
        tag = _next_tag(visited, vtag)
        ids, ds = _search_layer(
            q, ep_ids, ep_d, ef_construction, layer, x, links0, upper_row, links_up, visited, tag, counter
        )
        kept = _select_neighbours(ids, ds, m, x)
        row = _links(layer, node, links0, upper_row, links_up)
        row[0] = len(kept)
        for j in range(len(kept)):
            row[1 + j] = kept[j]
        m_max = m0 if layer == 0 else m
        for j in range(len(kept)):
            _connect(node, kept[j], layer, m_max, x, links0, upper_row, links_up)
        ep_ids = ids
        ep_d = ds
    if level > top:
        state[0] = node
        state[1] = level


@jit
def _insert_range(start, stop, levels, state, x, links0, upper_row, links_up, visited, vtag, m, m0, efc):  # type: ignore[no-untyped-def]
    for node in range(start, stop):
        _insert(node, levels[node], state, x, links0, upper_row, links_up, visited, vtag, m, m0, efc)


@jit
def _search_all(queries, k, ef, state, x, links0, upper_row, links_up, visited, vtag, out_ids, out_d, counts):  # type: ignore[no-untyped-def]
    """Each query: greedy descent to layer 1, then Alg. 2 on layer 0 with max(ef, k)."""
    for i in range(queries.shape[0]):
        q = queries[i]
        counter = np.zeros(1, np.int64)
        cur = np.int64(state[0])
        dcur = _l2(q, x, cur)
        counter[0] += 1
        for layer in range(state[1], 0, -1):
            cur, dcur = _greedy(q, cur, dcur, layer, x, links0, upper_row, links_up, counter)
        ep_ids = np.empty(1, np.int64)
        ep_d = np.empty(1, np.float32)
        ep_ids[0] = cur
        ep_d[0] = dcur
        tag = _next_tag(visited, vtag)
        ids, ds = _search_layer(
            q, ep_ids, ep_d, max(ef, k), 0, x, links0, upper_row, links_up, visited, tag, counter
        )
        for j in range(k):
            if j < len(ids):
                out_ids[i, j] = ids[j]
                out_d[i, j] = ds[j]
            else:
                out_ids[i, j] = -1
                out_d[i, j] = np.inf
        counts[i] = counter[0]


# ---- the index ----------------------------------------------------------------------------------


class HNSWIndex(Index):
    """``M`` links per node and layer (2M on layer 0), ``ef_construction`` the beam width of an
    insert, ``ef`` that of a search (a search uses max(ef, k)); ``seed`` draws the levels."""

    kind = "hnsw"
    DEFAULTS: ClassVar[dict[str, int | float]] = {"M": 16, "ef_construction": 200, "ef": 50, "seed": 0}
    SEARCH_KEYS = ("ef",)

    def __init__(self, dim: int, metric: str = "l2", **params: Any) -> None:
        super().__init__(dim, metric, **params)
        self._n = 0
        self._n_up = 0
        self._state = np.array([-1, 0], np.int64)  # entry point, its level
        self._vtag = np.zeros(1, np.int64)
        self._allocate(0, 0)

    def _check_params(self) -> None:
        p = self.params
        if p["M"] < 2:
            raise UserInputError(f"hnsw setting M must be >= 2, got {p['M']}")
        for key in ("ef_construction", "ef"):
            if p[key] < 1:
                raise UserInputError(f"hnsw setting {key} must be >= 1, got {p[key]}")

    def __len__(self) -> int:
        return self._n

    @property
    def m_level(self) -> float:
        """m_L = 1 / ln M: the level-generation factor the paper recommends (Sec. 4.1)."""
        return 1 / math.log(self.params["M"])

    def _allocate(self, capacity: int, capacity_up: int) -> None:
        m = self.params["M"]
        self._x = np.zeros((capacity, self.dim), np.float32)
        self._levels = np.zeros(capacity, np.int32)
        self._links0 = np.zeros((capacity, 2 * m + 1), np.int32)
        self._upper_row = np.full(capacity, -1, np.int32)
        self._links_up = np.zeros((capacity_up, MAX_LEVEL, m + 1), np.int32)
        self._visited = np.zeros(capacity, np.int32)

    def _grow(self, need: int, need_up: int) -> None:
        """Room for ``need`` nodes and ``need_up`` nodes above layer 0, doubling as a list does."""
        if need <= len(self._x) and need_up <= len(self._links_up):
            return
        old = (self._x, self._levels, self._links0, self._upper_row, self._links_up)
        self._allocate(max(need, 2 * len(self._x)), max(need_up, 2 * len(self._links_up)))
        for new, kept, count in zip(
            (self._x, self._levels, self._links0, self._upper_row, self._links_up),
            old,
            (self._n, self._n, self._n, self._n, self._n_up),
            strict=True,
        ):
            new[:count] = kept[:count]
        self._vtag[0] = 0

    def _draw_levels(self, start: int, stop: int) -> np.ndarray:
        """l = ⌊−ln U · m_L⌋ for nodes start..stop-1; node i's U depends on (seed, i) only."""
        u = []
        for block in range(start // LEVEL_BLOCK, (stop - 1) // LEVEL_BLOCK + 1):
            uniform = np.random.default_rng([self.params["seed"], block]).random(LEVEL_BLOCK)
            lo, hi = max(start, block * LEVEL_BLOCK), min(stop, (block + 1) * LEVEL_BLOCK)
            u.append(uniform[lo - block * LEVEL_BLOCK : hi - block * LEVEL_BLOCK])
        levels = np.floor(-np.log(1 - np.concatenate(u)) * self.m_level)
        return np.minimum(levels, MAX_LEVEL).astype(np.int32)

    def _add(self, x: np.ndarray) -> None:
        start, stop = self._n, self._n + len(x)
        levels = self._draw_levels(start, stop)
        upper = np.flatnonzero(levels > 0)
        self._grow(stop, self._n_up + len(upper))
        self._x[start:stop] = x
        self._levels[start:stop] = levels
        self._upper_row[start + upper] = np.arange(self._n_up, self._n_up + len(upper))
        self._n_up += len(upper)
        self._n = stop
        p = self.params
        _insert_range(
            start,
            stop,
            self._levels,
            *self._graph(),
            p["M"],
            2 * p["M"],
            p["ef_construction"],
        )

    def _graph(self) -> tuple[np.ndarray, ...]:
        """The arrays every kernel walks: entry point, vectors, links, visit marks."""
        return (
            self._state,
            self._x,
            self._links0,
            self._upper_row,
            self._links_up,
            self._visited,
            self._vtag,
        )

    def _search(self, q: np.ndarray, k: int, **override: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ef = override.get("ef", self.params["ef"])
        if ef < 1:
            raise UserInputError(f"ef must be >= 1, got {ef}")
        ids = np.empty((len(q), k), np.int64)
        d = np.empty((len(q), k), np.float32)
        counts = np.empty(len(q), np.int64)
        _search_all(
            q,
            k,
            ef,
            *self._graph(),
            ids,
            d,
            counts,
        )
        return d, ids, counts

    def degree_histogram(self) -> np.ndarray:
        """How many nodes have each number of layer-0 links (0 … 2M)."""
        return np.bincount(self._links0[: self._n, 0], minlength=2 * self.params["M"] + 1)

    @property
    def max_level(self) -> int:
        return int(self._state[1])

    def _arrays(self) -> dict[str, np.ndarray]:
        n, n_up = self._n, self._n_up
        return {
            "vectors": self._x[:n],
            "levels": self._levels[:n],
            "links0": self._links0[:n],
            "upper_row": self._upper_row[:n],
            "links_up": self._links_up[:n_up],
            "state": self._state,
        }

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        m = self.params["M"]
        check_arrays(
            arrays,
            {
                "vectors": (None, self.dim),
                "levels": (None,),
                "links0": (None, 2 * m + 1),
                "upper_row": (None,),
                "links_up": (None, MAX_LEVEL, m + 1),
                "state": (2,),
            },
        )
        n, n_up = len(arrays["vectors"]), len(arrays["links_up"])
        levels, links0, upper_row, links_up = (
            arrays[k] for k in ("levels", "links0", "upper_row", "links_up")
        )
        # A damaged file must fail here, not crash the compiled search with an index out of range.
        if len(levels) != n or len(links0) != n or len(upper_row) != n:
            raise ValueError("the graph's arrays disagree on the number of nodes")
        if n and not (0 <= arrays["state"][0] < n and 0 <= arrays["state"][1] <= MAX_LEVEL):
            raise ValueError("the entry point is not a node")
        if (links0[:, 0] < 0).any() or (links0[:, 0] > 2 * m).any() or (links_up[:, :, 0] > m).any():
            raise ValueError("a link count is out of range")
        if (links0[:, 1:] < 0).any() or (links0[:, 1:] >= max(n, 1)).any():
            raise ValueError("a link points outside the graph")
        if (
            (links_up[:, :, 1:] < 0).any()
            or (links_up[:, :, 1:] >= max(n, 1)).any()
            or (links_up[:, :, 0] < 0).any()
        ):
            raise ValueError("a link points outside the graph")
        if (upper_row >= n_up).any() or ((upper_row < 0) != (levels == 0)).any():
            raise ValueError("the upper layers do not match the levels")
        self._n, self._n_up = 0, 0
        self._allocate(n, n_up)
        self._x[:] = arrays["vectors"]
        self._levels[:] = levels
        self._links0[:] = links0
        self._upper_row[:] = upper_row
        self._links_up[:] = links_up
        self._state = arrays["state"].astype(np.int64).copy()
        self._n, self._n_up = n, n_up
