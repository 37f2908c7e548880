"""Planar point sets with exact answers: convex hulls and optimal travelling-salesman tours.

Vinyals, Fortunato and Jaitly (2015), "Pointer Networks", train a sequence model whose output
points back at its input on three geometric problems; two of them are here. The paper's data:
points uniform in the unit square; a convex hull written as the indices of its vertices,
counter-clockwise, starting from the vertex with the lowest index; TSP tours found exactly
(Held–Karp) for small n. Its metrics: exact-sequence accuracy, the area the predicted hull
covers, and tour length relative to the optimum.

Exactness. ``torch.rand`` draws float32 numbers on the grid k·2⁻²⁴, so a coordinate
difference has at most 24 significant bits, a product of two at most 48, and an orientation
test ``(b-a)×(c-a)`` is computed *exactly* in float64 (53 bits). Hulls and the simple-polygon
test are therefore exact on these points; collinear points never count as hull vertices.
Tour lengths are sums of square roots, exact to rounding.

Batches: ``ConvexHullTask`` and ``TSPTask`` return a ``PointerBatch``, padded with lengths.
Each example has its own number of points, drawn uniformly from [n_min, n_max]; points past
``n_points`` are zeros, and targets past ``target_len`` are -1. Targets carry no end marker
and do not repeat their first index: a decoder that needs an end-of-sequence pointer adds it.
With ``n_min == n_max`` (and in ``TSPTask``) nothing is padded.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

PointsLike = torch.Tensor | np.ndarray | Sequence[Sequence[float]]


class PointerBatch(NamedTuple):
    points: torch.Tensor  # (B, N, 2) float32 in [0, 1)², zeros past n_points
    n_points: torch.Tensor  # (B,) int64
    target: torch.Tensor  # (B, L) int64 indices into each row of points, -1 past target_len
    target_len: torch.Tensor  # (B,) int64

    def to(self, device: str | torch.device) -> PointerBatch:
        return PointerBatch(*(t.to(device) for t in self))


def _numpy64(points: PointsLike) -> np.ndarray:
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    return np.asarray(points, dtype=np.float64)


def uniform_points(n_sets: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n_sets, n, 2) float32 points uniform in the unit square."""
    return torch.rand(n_sets, n, 2, generator=generator)


def sample_lengths(n_sets: int, n_min: int, n_max: int, generator: torch.Generator) -> torch.Tensor:
    """(n_sets,) int64 set sizes uniform in [n_min, n_max]."""
    return torch.randint(n_min, n_max + 1, (n_sets,), generator=generator)


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a-o)×(b-o): > 0 if o→a→b turns counter-clockwise, 0 if collinear. Broadcasts."""
    ax, ay = a[..., 0] - o[..., 0], a[..., 1] - o[..., 1]
    bx, by = b[..., 0] - o[..., 0], b[..., 1] - o[..., 1]
    return ax * by - ay * bx


def _start_at_lowest_index(cycle: list[int]) -> list[int]:
    k = cycle.index(min(cycle))
    return cycle[k:] + cycle[:k]


# --- convex hull ------------------------------------------------------------------------------


def convex_hull(points: PointsLike) -> list[int]:
    """Hull vertex indices of one set, counter-clockwise from the lowest index (Andrew 1979).

    points: (n, 2). Monotone chain: sort by (x, y), build the lower and the upper chain,
    popping every point that does not make a strict left turn (so collinear points drop out).
    """
    p = _numpy64(points)
    order = np.lexsort((p[:, 1], p[:, 0])).tolist()  # by x, then y
    if not order:
        return []

    def chain(indices: list[int]) -> list[int]:
        out: list[int] = []
        for i in indices:
            while len(out) >= 2 and _cross(p[out[-2]], p[out[-1]], p[i]) <= 0:
                out.pop()
            out.append(i)
        return out

    lower, upper = chain(order), chain(order[::-1])
    hull = lower[:-1] + upper[:-1]  # each chain ends where the other starts
    return _start_at_lowest_index(hull or order[:1])


def convex_hulls(points: PointsLike, n_points: PointsLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hulls of many sets at once, each as ``convex_hull`` orders it.

    points: (B, N, 2); n_points: (B,) sets sizes (default N; points past them are ignored).
    Returns ``hull`` (B, N) int64, padded with -1, and ``hull_len`` (B,) int64.

    Gift wrapping (Jarvis 1973), vectorised across sets: from the current vertex p, scan every
    point r and keep the candidate q unless r lies to the right of p→q (or on it, farther
    away). That is O(N·H) numpy operations on arrays of B, for H hull vertices.
    """
    P = _numpy64(points)
    B, N, _ = P.shape
    lengths = np.full(B, N) if n_points is None else _numpy64(n_points).astype(np.int64)
    valid = np.arange(N) < lengths[:, None]  # (B, N)
    x, y = P[..., 0], P[..., 1]  # (B, N)
    rows = np.arange(B)
    # Start at the leftmost point (lowest y among ties): an extreme point is a strict vertex.
    x_key = np.where(valid, x, np.inf)
    leftmost = valid & (x_key == x_key.min(axis=1, keepdims=True))
    start = np.where(leftmost, y, np.inf).argmin(axis=1)  # (B,)

    hull = np.full((B, N), -1, dtype=np.int64)
    hull[:, 0] = start
    hull_len = np.ones(B, dtype=np.int64)
    done = lengths <= 1
    p = start.copy()
    for _ in range(N):
        px, py = x[rows, p], y[rows, p]
        q, qx, qy = p.copy(), px.copy(), py.copy()  # q = p: the first distinct point replaces it
        for r in range(N):
            rx, ry = x[:, r] - px, y[:, r] - py
            dx, dy = qx - px, qy - py
            turn = dx * ry - dy * rx  # < 0: r is right of p→q, so q is not the next vertex
            farther = rx * rx + ry * ry > dx * dx + dy * dy
            better = valid[:, r] & ((turn < 0) | ((turn == 0) & farther))
            q = np.where(better, r, q)
            qx, qy = np.where(better, x[:, r], qx), np.where(better, y[:, r], qy)
        done |= q == start
        grow = ~done
        hull[rows[grow], hull_len[grow]] = q[grow]
        hull_len += grow
        p = q
        if done.all():
            break
    # Rotate each cycle so it starts at its lowest index.
    shift = np.where(hull >= 0, hull, N).argmin(axis=1)  # (B,) position of the lowest index
    cols = (np.arange(N)[None, :] + shift[:, None]) % hull_len[:, None]
    hull = np.where(np.arange(N) < hull_len[:, None], np.take_along_axis(hull, cols, axis=1), -1)
    return hull, hull_len


def polygon_area(points: PointsLike, order: Sequence[int]) -> float:
    """Absolute area of the polygon visiting ``points[order]`` in turn (shoelace formula)."""
    p = _numpy64(points)[list(order)]
    if len(p) < 3:
        return 0.0
    q = np.roll(p, -1, axis=0)
    return abs(float(np.sum(p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]))) / 2


def is_simple_polygon(points: PointsLike, order: Sequence[int]) -> bool:
    """Whether ``points[order]`` is a simple polygon: at least 3 distinct vertices, no edge
    touching a non-adjacent edge, and no two consecutive edges folding back over each other.
    """
    order = list(order)
    k = len(order)
    if k < 3 or len(set(order)) < k:
        return False
    v = _numpy64(points)[order]  # (k, 2)
    a, b = v, np.roll(v, -1, axis=0)  # edge i runs a[i] -> b[i]
    # Orientations of each edge i against both ends of each edge j, and vice versa: (k, k).
    ai, bi, aj, bj = a[:, None], b[:, None], a[None, :], b[None, :]
    o1, o2 = np.sign(_cross(ai, bi, aj)), np.sign(_cross(ai, bi, bj))
    o3, o4 = np.sign(_cross(aj, bj, ai)), np.sign(_cross(aj, bj, bi))

    def on_segment(s: np.ndarray, e: np.ndarray, pt: np.ndarray) -> np.ndarray:
        """For a point collinear with segment s–e: does it lie on the closed segment?"""
        lo, hi = np.minimum(s, e), np.maximum(s, e)
        return ((lo <= pt) & (pt <= hi)).all(axis=-1)

    meet = (o1 * o2 < 0) & (o3 * o4 < 0)  # proper crossing
    meet |= (o1 == 0) & on_segment(ai, bi, aj)
    meet |= (o2 == 0) & on_segment(ai, bi, bj)
    meet |= (o3 == 0) & on_segment(aj, bj, ai)
    meet |= (o4 == 0) & on_segment(aj, bj, bi)
    i, j = np.triu_indices(k, 1)
    adjacent = (j == i + 1) | ((i == 0) & (j == k - 1))
    if meet[i[~adjacent], j[~adjacent]].any():
        return False
    # Consecutive edges a→b→c share b; they overlap iff c lies on the ray from b back towards a.
    c = np.roll(v, -2, axis=0)
    fold = (_cross(a, b, c) == 0) & (np.sum((a - b) * (c - b), axis=-1) > 0)
    return not fold.any()


def hull_area_coverage(
    points: PointsLike, predicted_order: Sequence[int], true_order: Sequence[int]
) -> float:
    """Area of the predicted polygon over the area of the true hull, in [0, 1].

    Rule for invalid predictions: an index out of range, a repeated index, fewer than three
    vertices, or a self-intersecting polygon scores 0: a failure, never partial credit. Valid
    predictions use only input points, so they lie inside the hull and score at most 1.
    """
    n = len(_numpy64(points))
    predicted = [int(i) for i in predicted_order]
    if any(not 0 <= i < n for i in predicted) or not is_simple_polygon(points, predicted):
        return 0.0
    return polygon_area(points, predicted) / polygon_area(points, true_order)


# --- travelling salesman ----------------------------------------------------------------------


def tour_length(points: torch.Tensor | np.ndarray, tour: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Length of the closed tour(s), computed in float64.

    points: (..., n, 2); tour: (..., k) indices (k may be < n for a partial tour; the last
    point returns to the first). Returns (...) float64, on the points' device.
    """
    points = torch.as_tensor(points)
    tour = torch.as_tensor(tour, device=points.device)
    visited = points.double().gather(-2, tour.long().unsqueeze(-1).expand(*tour.shape, 2))  # (..., k, 2)
    return (visited - visited.roll(-1, dims=-2)).norm(dim=-1).sum(dim=-1)


def nearest_neighbour_tour(points: torch.Tensor | np.ndarray) -> torch.Tensor:
    """The nearest-neighbour heuristic, batched: from city 0, always on to the closest city not
    yet visited. points: (..., n, 2); returns (..., n) int64 indices, a baseline that needs no
    learning (the paper's Table 2 compares the Ptr-Net with such heuristics)."""
    points = torch.as_tensor(points).double()
    n = points.shape[-2]
    dist = torch.cdist(points, points)  # (..., n, n)
    visited = torch.zeros(points.shape[:-1], dtype=torch.bool, device=points.device)
    current = torch.zeros(points.shape[:-2], dtype=torch.long, device=points.device)
    tour = [current]
    for _ in range(n - 1):
        visited.scatter_(-1, current.unsqueeze(-1), True)
        row = dist.gather(-2, current[..., None, None].expand(*current.shape, 1, n)).squeeze(-2)
        current = row.masked_fill(visited, float("inf")).argmin(-1)
        tour.append(current)
    return torch.stack(tour, dim=-1)


def is_valid_tour(tour: torch.Tensor, n: int) -> torch.Tensor:
    """(..., n) indices -> (...) bool: each row visits every city 0..n-1 exactly once."""
    if tour.shape[-1] != n:
        return torch.zeros(tour.shape[:-1], dtype=torch.bool, device=tour.device)
    return (tour.sort(dim=-1).values == torch.arange(n, device=tour.device)).all(dim=-1)


def _canonical_direction(tours: np.ndarray) -> np.ndarray:
    """Tours start at 0; reverse tour[1:] where needed so that tour[1] < tour[-1]."""
    if tours.shape[1] < 3:
        return tours
    flip = tours[:, 1] > tours[:, -1]
    tours[flip, 1:] = tours[flip, :0:-1]
    return tours


def tsp_optimal(points: PointsLike, max_bytes: int = 2**27) -> tuple[np.ndarray, np.ndarray]:
    """Optimal closed tours by Held–Karp dynamic programming, batched over sets.

    points: (B, n, 2) (or (n, 2) for one set). Returns ``tour`` (B, n) int64, starting at city
    0 and going in the direction where tour[1] < tour[-1] so the target is unique, and
    ``length`` (B,) float64 as ``tour_length`` measures it. Time and memory O(B·2ⁿ·n²) and
    O(B·2ⁿ·n): fine to n≈12; sets are processed in chunks of at most ``max_bytes`` of table.

    Held & Karp (1962): with city 0 fixed as the start, C(S, j) = min over i in S∖{j} of
    C(S∖{j}, i) + d(i, j) is the shortest path from 0 through the set S ending at j ∈ S.
    """
    p = _numpy64(points)
    if p.ndim == 2:
        tour, length = tsp_optimal(p[None], max_bytes)
        return tour[0], length[0]
    B, n, _ = p.shape
    if not 1 <= n <= 16:
        raise ValueError(f"Held–Karp here handles 1 to 16 cities (2^n states per set), got n={n}")
    if n <= 3:  # every tour is optimal; take 0, 1, 2 (already canonical)
        tour = np.broadcast_to(np.arange(n), (B, n)).copy()
        return tour, tour_length(p, tour).numpy()
    m = n - 1  # cities 1..n-1 become bits 0..m-1 of a subset mask
    per_set = (1 << m) * m * 9  # float64 cost + int8 parent per state
    chunk = max(1, max_bytes // per_set)
    tours = [_held_karp(p[s : s + chunk]) for s in range(0, B, chunk)]
    tour = _canonical_direction(np.concatenate(tours))
    return tour, tour_length(p, tour).numpy()


def _held_karp(p: np.ndarray) -> np.ndarray:
    B, n, _ = p.shape
    m = n - 1
    d = np.sqrt(((p[:, :, None] - p[:, None, :]) ** 2).sum(-1))  # (B, n, n)
    d_from_0, d_between = d[:, 0, 1:], d[:, 1:, 1:]  # (B, m), (B, m, m)
    cost = np.full((B, 1 << m, m), np.inf)  # C(S, j)
    parent = np.zeros((B, 1 << m, m), dtype=np.int8)  # the i that achieved it
    bits = 1 << np.arange(m)
    cost[:, bits, np.arange(m)] = d_from_0
    masks = np.arange(1 << m)
    size = ((masks[:, None] >> np.arange(m)) & 1).sum(axis=1)  # (2^m,) subset sizes
    for k in range(2, m + 1):  # subsets in order of size: C(S∖{j}, ·) is ready before C(S, ·)
        of_size = masks[size == k]
        for j in range(m):
            S = of_size[(of_size & bits[j]) != 0]  # (K,) subsets containing j
            before = cost[:, S ^ bits[j], :] + d_between[:, None, :, j]  # (B, K, m): via each i
            parent[:, S, j] = before.argmin(axis=-1)
            cost[:, S, j] = before.min(axis=-1)
    full = (1 << m) - 1
    rows = np.arange(B)
    j = (cost[:, full, :] + d_from_0).argmin(axis=1)  # last city before returning to 0
    tour = np.zeros((B, n), dtype=np.int64)
    S = np.full(B, full)
    for pos in range(n - 1, 0, -1):  # walk the parents back from the end
        tour[:, pos] = j + 1
        j, S = parent[rows, S, j].astype(np.int64), S ^ bits[j]
    return tour


def tsp_brute_force(points: PointsLike) -> tuple[list[int], float]:
    """One set's optimal tour by trying all (n-1)! orders: the reference Held–Karp is tested on."""
    p = _numpy64(points)
    n = len(p)
    best: tuple[float, list[int]] = (np.inf, list(range(n)))
    for rest in itertools.permutations(range(1, n)):
        tour = [0, *rest]
        if n >= 3 and tour[1] > tour[-1]:
            continue  # the reverse of a tour already tried
        length = float(tour_length(p, np.array(tour)))
        best = min(best, (length, tour))
    return best[1], best[0]


# --- tasks ------------------------------------------------------------------------------------


class ConvexHullTask:
    """Point sets of n_min..n_max points and their hulls (``PointerBatch``; target = hull)."""

    def __init__(self, n_min: int = 5, n_max: int = 10):
        if not 3 <= n_min <= n_max:
            raise ValueError(f"need 3 <= n_min <= n_max, got n_min={n_min}, n_max={n_max}")
        self.n_min, self.n_max = n_min, n_max
        self.name = f"convex-hull-{n_min}-{n_max}"

    def sample(self, n: int, generator: torch.Generator) -> PointerBatch:
        n_points = sample_lengths(n, self.n_min, self.n_max, generator)  # (B,)
        valid = torch.arange(self.n_max) < n_points[:, None]  # (B, N)
        points = uniform_points(n, self.n_max, generator) * valid[..., None]  # (B, N, 2)
        hull, hull_len = convex_hulls(points, n_points)
        L = int(hull_len.max())
        target = torch.from_numpy(np.ascontiguousarray(hull[:, :L]))
        return PointerBatch(points, n_points, target, torch.from_numpy(hull_len))


class TSPTask:
    """Sets of exactly n cities and their optimal tours (``PointerBatch``; target = tour)."""

    def __init__(self, n: int = 5):
        if not 2 <= n <= 12:
            raise ValueError(f"TSPTask solves tours exactly; n must be 2 to 12, got {n}")
        self.n = n
        self.name = f"tsp-{n}"

    def sample(self, n: int, generator: torch.Generator) -> PointerBatch:
        points = uniform_points(n, self.n, generator)  # (B, n, 2)
        tour, _ = tsp_optimal(points)
        lengths = torch.full((n,), self.n, dtype=torch.int64)
        return PointerBatch(points, lengths, torch.from_numpy(tour), lengths.clone())
