"""Approximate nearest neighbours: random-hyperplane LSH (Charikar, 2002), IVF-PQ (Jégou, Douze,
Schmid, 2011; FAISS, Johnson, Douze, Jégou, 2017) and HNSW (Malkov, Yashunin, 2016).

Exact search computes a distance to every stored vector. The three indexes of
``landmarks.ann`` spend far fewer and accept missing a few true neighbours: LSH looks only in
the buckets the query hashes to; IVF-PQ only in the cells nearest the query, scoring vectors
compressed to a few bytes; HNSW walks a layered proximity graph from a far entry point towards
the query.

``reproduce`` indexes clustered Gaussian vectors (``landmarks.ann.data``, 100,000 × 64) and
queries held out from the same distribution, with exact search as ground truth, and measures:

1. HNSW's recall@10 at a fixed ``ef`` and its distance computations per query against exact
   search's;
2. the growth of those computations with n: the HNSW is built once, incrementally, and searched
   each time it has reached the next size (a log-log slope, against exact search's 1);
3. IVF-PQ's memory (PQ code bytes against float32 vectors) and its recall after exact
   re-ranking of the ADC shortlist;
4. the collision probability of one random hyperplane at pairs of vectors at several angles,
   against 1 − θ/π;
5. beside hnswlib and faiss-cpu when they are installed (same data, same settings, one thread
   each): recall, memory and queries per second, drawn as recall against queries per second;
6. HNSW's recall over real embeddings too: the skip-gram vectors that ``embeddings`` trains on
   its planted corpus, every word a query, by cosine (a metric; a few hundred words only).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from landmarks.ann import ExactIndex, HNSWIndex, IVFPQIndex, LSHIndex, recall_at_k
from landmarks.ann.data import clustered_gaussians
from landmarks.ann.hnsw import COMPILED
from landmarks.ann.lsh import collision_rate
from landmarks.engine import Run
from landmarks.registry import Card, ClaimSpec

__all__ = ["CARD", "PRESETS", "Config", "reproduce"]

CARD = Card(
    citation=(
        "Moses S. Charikar. Similarity Estimation Techniques from Rounding Algorithms. STOC 2002. "
        "Hervé Jégou, Matthijs Douze, Cordelia Schmid. Product Quantization for Nearest Neighbor "
        "Search. IEEE TPAMI 33(1), 2011. Jeff Johnson, Matthijs Douze, Hervé Jégou. Billion-scale "
        "similarity search with GPUs. arXiv:1702.08734, 2017 (FAISS). Yu. A. Malkov, D. A. Yashunin. "
        "Efficient and robust approximate nearest neighbor search using Hierarchical Navigable Small "
        "World graphs. arXiv:1603.09320, 2016; IEEE TPAMI 42(4), 2020."
    ),
    takeaways=[
        "HNSW: a hierarchy of proximity graphs, each layer about 1/M of the one below, searched "
        "greedily from the top; the number of distances per query grows about as log n.",
        "The neighbour-selection heuristic keeps links pointing in diverse directions, so greedy "
        "search does not get stuck inside one cluster.",
        "IVF-PQ: file vectors by a coarse k-means cell, store the residual as m bytes of product "
        "quantization codes, and score them against the exact query by table look-ups (ADC).",
        "LSH: a random hyperplane separates two vectors with probability θ/π; several tables and "
        "multi-probe trade memory and time for recall.",
    ],
    claims=[
        ClaimSpec(
            "HNSW recall@10 at the claimed ef (100,000 vectors)",
            ">= 0.95",
            "Malkov & Yashunin Fig. 11-13: recall above 0.95 at a small fraction of brute force's cost",
        ),
        ClaimSpec(
            "Exact search's distance computations per query ÷ HNSW's, at that ef",
            ">= 10",
            "catalog: ≥ 10× fewer distance computations than exact search at recall@10 ≥ 0.95",
        ),
        ClaimSpec(
            "HNSW distance computations per query against n (fixed ef, n halving from 100,000): "
            "log-log slope over the larger half of the sizes",
            "<= 0.3",
            "Malkov & Yashunin Sec. 4.2 and Fig. 10: search complexity scales as log n",
        ),
        ClaimSpec(
            "Exact search's distance computations per query against n: log-log slope",
            "in [0.9, 1.1]",
            "brute force costs n distances per query: the contrast to HNSW's log n",
        ),
        ClaimSpec(
            "IVF-PQ: float32 vector bytes ÷ PQ code bytes",
            ">= 16",
            "Jégou et al. Sec. IV: 64-bit codes (8 bytes) for 128-d SIFT, 64× smaller",
        ),
        ClaimSpec(
            "IVF-PQ recall@10 after exact re-ranking of the ADC shortlist",
            ">= 0.8",
            "Jégou et al. Fig. 8 and Sec. IV.C: IVFADC recall@100 ≈ 0.9+ on SIFT1M; re-ranking lifts recall@k",
        ),
        ClaimSpec(
            "LSH: largest |measured collision rate − (1 − θ/π)| over the angles",
            "<= 0.02",
            "Charikar Sec. 3: Pr[h(u) = h(v)] = 1 − θ(u, v)/π for a random hyperplane",
        ),
    ],
    keeps=[
        "HNSW as in the paper and hnswlib: levels ⌊−ln U · m_L⌋ with m_L = 1/ln M, greedy descent, "
        "best-first search with ef, the heuristic of Alg. 4, 2M links on layer 0; incremental insertion",
        "IVFADC: k-means coarse quantizer, product quantizer of m sub-quantizers × 256 centroids on "
        "residuals, ADC look-up tables per probed cell, optional exact re-ranking",
        "random-hyperplane LSH with several tables and query-directed multi-probe (Lv et al., 2007)",
        "recall@10 against exact search; distance computations counted per query; one thread for "
        "every timed index, ours and the libraries'",
    ],
    shrinks=[
        "100,000 clustered Gaussian vectors of 64 dimensions (papers: SIFT1M, GIST, Deep1B), with "
        "a power-law spectrum per cluster",
        "1,000 queries; M = 16, ef_construction = 100; IVF with 256 cells and 16 bytes per vector",
    ],
    figures={
        "Malkov & Yashunin, Alg. 1-4": "insert, search-layer, simple and heuristic neighbour selection",
        "Malkov & Yashunin, Sec. 4.1": "m_L = 1/ln M; M_max0 = 2M",
        "Jégou et al., Eq. 13": "d(x, y) ≈ Σ_j d(u_j(x), q_j(u_j(y)))² (ADC)",
        "Charikar, Sec. 3": "Pr[h_r(u) = h_r(v)] = 1 − θ(u, v)/π",
    },
    notes=(
        "Claim 3 fits the slope over the larger half of the sizes (25,000 to 100,000 at the "
        "default), and the slope over all of them is reported beside (log_log_slope). Until "
        "2026-11-29 it fitted all six and passed at 0.10 to 0.11 on seeds 0-2, but the cost is "
        "not a power of n there: it fell from about 430 to 265 distance computations between "
        "3,125 and 12,500 vectors, where a search at ef = 64 visits much of a small graph, and "
        "then rose to about 560 at 100,000, a local slope of about 0.36, faster than log n (which "
        "would give about 0.1). One line through that U read as log n. "
        "The graph kernels are compiled by numba when it is installed; without it they run as "
        "Python with the same results, far slower than this run's 3-minute budget allows."
    ),
)


@dataclass(frozen=True)
class Config:
    n: int = 100_000
    dim: int = 64
    clusters: int = 100
    queries: int = 1000
    k: int = 10
    M: int = 16
    ef_construction: int = 100
    ef: int = 64  # the claimed operating point
    ef_sweep: tuple[int, ...] = (10, 16, 32, 64, 128)
    sizes: int = 6  # HNSW searched at n, n/2, n/4, ... (this many sizes)
    nlist: int = 256
    pq_m: int = 16  # bytes per vector
    nprobe: int = 16
    rerank: int = 100
    nprobe_sweep: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    lsh_tables: int = 8
    lsh_bits: int = 12
    probe_sweep: tuple[int, ...] = (0, 2, 8, 32)
    angles: tuple[int, ...] = (10, 30, 50, 70, 90, 110, 130, 150, 170)  # degrees
    pairs: int = 2000
    planes: int = 64
    word_vectors: bool = True  # also index the skip-gram vectors of `embeddings` (cosine)

    def validate(self) -> None:
        for name in (
            "n", "dim", "clusters", "queries", "k", "ef_construction", "ef", "sizes",
            "nlist", "pq_m", "nprobe", "lsh_tables", "lsh_bits",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.M < 2:
            raise ValueError(f"M must be >= 2, got {self.M}")
        if self.k > self.n >> (self.sizes - 1):
            raise ValueError(
                f"the smallest size, n / 2^(sizes - 1) = {self.n >> (self.sizes - 1)}, is below k = {self.k}"
            )
        if self.rerank < self.k:
            raise ValueError(
                f"rerank = {self.rerank} must be >= k = {self.k}: the exact re-ranking keeps k of its shortlist"
            )
        if self.dim % self.pq_m:
            raise ValueError(f"pq_m = {self.pq_m} must divide dim = {self.dim}")
        if self.n < max(self.nlist, 256):
            raise ValueError(f"n must be >= {max(self.nlist, 256)} to train IVF-PQ's k-means")
        if not self.ef_sweep or not self.nprobe_sweep or not self.probe_sweep or not self.angles:
            raise ValueError("ef_sweep, nprobe_sweep, probe_sweep and angles must be non-empty")
        if self.pairs < 1 or self.planes < 1:
            raise ValueError("pairs and planes must be >= 1")


PRESETS = {
    "default": Config(),
    "quick": Config(
        n=4000,
        dim=16,
        clusters=10,
        queries=100,
        ef_construction=40,
        ef_sweep=(10, 32),
        sizes=3,
        nlist=16,
        pq_m=4,
        nprobe=4,
        rerank=50,
        nprobe_sweep=(1, 4),
        probe_sweep=(0, 8),
        angles=(30, 90, 150),
        pairs=200,
        planes=16,
        word_vectors=False,
    ),
}


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    if not COMPILED:
        run.log("numba is not installed: the HNSW kernels run as Python and take far longer")
    data = clustered_gaussians(run.rng("vectors"), cfg.n + cfg.queries, cfg.dim, cfg.clusters)
    queries, base = data[: cfg.queries], data[cfg.queries :]
    seed = int(run.rng("index").integers(2**31))
    with _one_thread():
        _reproduce(cfg, run, base, queries, seed)


def _reproduce(cfg: Config, run: Run, base: np.ndarray, queries: np.ndarray, seed: int) -> None:
    k = cfg.k
    curves: dict[str, list[tuple[float, float]]] = {}  # index → [(recall, queries/s)]
    seconds: dict[str, float] = {}

    # ---- HNSW, built once and searched at each size it passes (claims 1-4) --------------------
    sizes = sorted({cfg.n >> j for j in range(cfg.sizes)})
    hnsw = HNSWIndex(cfg.dim, M=cfg.M, ef_construction=cfg.ef_construction, ef=cfg.ef, seed=seed)
    exact = ExactIndex(cfg.dim)
    hnsw.add(base[:1])
    hnsw.search(queries[:1], 1)  # compile (or load numba's cache) before any clock starts
    began, built = time.perf_counter(), 1
    cost: dict[str, dict[int, float]] = {"hnsw": {}, "exact": {}}
    recall_at_size = {}
    bar = run.progress(total=cfg.n, desc="HNSW inserts", unit="vector")
    for n in sizes:
        hnsw.add(base[built:n])
        bar.update(n - built)
        exact.add(base[len(exact) : n])
        built = n
        _, truth = exact.search(queries, k)
        cost["exact"][n] = float(exact.last_distance_computations.mean())
        _, ids = hnsw.search(queries, k)
        cost["hnsw"][n] = float(hnsw.last_distance_computations.mean())
        recall_at_size[n] = recall_at_k(ids, truth)
    bar.close()
    seconds["hnsw_build"] = time.perf_counter() - began
    slopes = {name: _slope(c) for name, c in cost.items()}
    # how the cost grows is read where n is large: at the smallest sizes a search at fixed ef
    # visits much of the graph, and its cost can even fall as n doubles
    larger_half = sizes[len(sizes) // 2 :]
    slopes["hnsw, larger half"] = _slope({n: cost["hnsw"][n] for n in larger_half})
    run.log(f"HNSW built over {cfg.n} vectors in {seconds['hnsw_build']:.1f} s")

    began = time.perf_counter()
    _, truth = exact.search(queries, k)
    exact_qps = cfg.queries / (time.perf_counter() - began)
    curves["exact (ours)"] = [(1.0, exact_qps)]
    hnsw_points = _sweep(hnsw, queries, truth, "ef", sorted(set(cfg.ef_sweep) | {cfg.ef}))
    curves["HNSW (ours)"] = [(p["recall"], p["qps"]) for p in hnsw_points.values()]
    at_ef = hnsw_points[cfg.ef]

    # ---- IVF-PQ (claims 5-6) ----------------------------------------------------------------
    began = time.perf_counter()
    ivf = IVFPQIndex(cfg.dim, nlist=cfg.nlist, m=cfg.pq_m, nprobe=cfg.nprobe, rerank=cfg.rerank, seed=seed)
    ivf.add(base)
    seconds["ivfpq_build"] = time.perf_counter() - began
    ivf_points: dict[str, dict[str, float]] = {}
    for rerank in (0, cfg.rerank):
        for nprobe in sorted(set(cfg.nprobe_sweep) | {cfg.nprobe}):
            recall, qps = _timed_search(ivf, queries, truth, nprobe=nprobe, rerank=rerank)
            ivf_points[f"nprobe={nprobe},rerank={rerank}"] = {"recall": round(recall, 4), "qps": round(qps)}
    curves["IVF-PQ (ours)"] = [
        (p["recall"], p["qps"]) for key, p in ivf_points.items() if key.endswith("rerank=0")
    ]
    curves["IVF-PQ + re-rank (ours)"] = [
        (p["recall"], p["qps"]) for key, p in ivf_points.items() if not key.endswith("rerank=0")
    ]
    vector_bytes = cfg.n * cfg.dim * 4
    ivf_recall = ivf_points[f"nprobe={cfg.nprobe},rerank={cfg.rerank}"]["recall"]

    # ---- LSH (claim 7) and its recall curve -------------------------------------------------
    rng = run.rng("collisions")
    collisions = {}
    for degrees in cfg.angles:
        theta = math.radians(degrees)
        collisions[degrees] = (
            collision_rate(rng, cfg.dim, theta, cfg.pairs, cfg.planes),
            1 - theta / math.pi,
        )
    worst = max(abs(measured - expected) for measured, expected in collisions.values())
    lsh = LSHIndex(cfg.dim, tables=cfg.lsh_tables, bits=cfg.lsh_bits, seed=seed)
    lsh.add(base)
    lsh_points = _sweep(lsh, queries, truth, "probes", cfg.probe_sweep)
    curves["LSH (ours)"] = [(p["recall"], p["qps"]) for p in lsh_points.values()]

    # ---- the libraries people use ----------------------------------------------------------
    hnswlib_result = _hnswlib(cfg, base, queries, truth, curves, at_ef["recall"])
    faiss_result = _faiss(cfg, base, queries, truth, curves, ivf)

    run.metric("hnsw_recall_at_k_by_size", {str(n): round(r, 4) for n, r in recall_at_size.items()})
    run.metric(
        "distance_computations_by_size", {m: {str(n): v for n, v in c.items()} for m, c in cost.items()}
    )
    run.metric("log_log_slope", {m: round(s, 4) for m, s in slopes.items()})
    run.metric("hnsw_by_ef", {str(ef): p for ef, p in hnsw_points.items()})
    run.metric("hnsw_max_level", hnsw.max_level)
    run.metric("exact_queries_per_second", round(exact_qps))
    run.metric("ivfpq", ivf_points)
    run.metric(
        "ivfpq_bytes",
        {
            "float32_vectors": vector_bytes,
            "pq_codes": ivf.code_bytes,
            "codes_and_8_byte_ids": ivf.code_bytes + 8 * cfg.n,
        },
    )
    run.metric("lsh_by_probes", {str(p): v for p, v in lsh_points.items()})
    run.metric(
        "lsh_collision_rate",
        {str(d): {"measured": round(m, 4), "1 - theta/pi": round(e, 4)} for d, (m, e) in collisions.items()},
    )
    run.metric("build_seconds", {k_: round(v, 2) for k_, v in seconds.items()})
    run.metric("hnswlib", hnswlib_result)
    run.metric("faiss", faiss_result)
    run.metric("numba", COMPILED)
    if cfg.word_vectors:
        run.metric("word_vectors", _word_vectors(cfg, run))

    run.check(CARD.claims[0], at_ef["recall"])
    run.check(CARD.claims[1], cost["exact"][cfg.n] / at_ef["distances"])
    run.check(CARD.claims[2], slopes["hnsw, larger half"])
    run.check(CARD.claims[3], slopes["exact"])
    run.check(CARD.claims[4], vector_bytes / ivf.code_bytes)
    run.check(CARD.claims[5], ivf_recall)
    run.check(CARD.claims[6], worst)
    _plot(run, curves, cost, collisions, cfg)


class _one_thread:
    """Every timed index on one thread: BLAS (numpy), hnswlib and faiss alike."""

    def __enter__(self) -> None:
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(1)

    def __exit__(self, *exc: object) -> None:
        self._limits.unregister()


def _slope(cost: dict[int, float]) -> float:
    """The exponent b of cost ≈ a·n^b, fitted by least squares in log-log."""
    n = sorted(cost)
    if len(n) < 2:
        return float("nan")
    return float(np.polyfit(np.log(n), np.log([cost[m] for m in n]), 1)[0])


def _timed_search(index: Any, queries: np.ndarray, truth: np.ndarray, **override: Any) -> tuple[float, float]:
    """(recall@k, queries per second) of one search over all queries."""
    began = time.perf_counter()
    _, ids = index.search(queries, truth.shape[1], **override)
    return recall_at_k(ids, truth), len(queries) / (time.perf_counter() - began)


def _sweep(index: Any, queries: np.ndarray, truth: np.ndarray, name: str, values: Any) -> dict:
    """Recall, queries per second and distance computations per query at each setting of ``name``."""
    points = {}
    for value in values:
        recall, qps = _timed_search(index, queries, truth, **{name: value})
        points[value] = {
            "recall": round(recall, 4),
            "qps": round(qps),
            "distances": round(float(index.last_distance_computations.mean()), 1),
        }
    return points


def hnswlib_index(base: np.ndarray, M: int, ef_construction: int, seed: int = 0) -> Any:
    """hnswlib's HNSW over ``base`` with the same settings, built and searched on one thread."""
    import hnswlib

    index = hnswlib.Index(space="l2", dim=base.shape[1])
    index.init_index(max_elements=len(base), M=M, ef_construction=ef_construction, random_seed=seed)
    index.set_num_threads(1)
    index.add_items(base)
    return index


def faiss_ivfpq(base: np.ndarray, nlist: int, m: int) -> tuple[Any, Any]:
    """faiss's IndexIVFPQ (8 bits per sub-quantizer) over ``base``, one thread, and the
    IndexRefineFlat around it that re-ranks a shortlist exactly: (ivfpq, refine)."""
    import faiss

    faiss.omp_set_num_threads(1)
    index = faiss.IndexIVFPQ(faiss.IndexFlatL2(base.shape[1]), base.shape[1], nlist, m, 8)
    refine = faiss.IndexRefineFlat(index)
    refine.train(base)
    refine.add(base)
    return index, refine


def _hnswlib(cfg: Config, base, queries, truth, curves, our_recall: float) -> dict | None:  # type: ignore[no-untyped-def]
    try:
        began = time.perf_counter()
        index = hnswlib_index(base, cfg.M, cfg.ef_construction)
    except ImportError:
        return None
    out: dict[str, Any] = {"build_seconds": round(time.perf_counter() - began, 2)}
    points = {}
    for ef in sorted(set(cfg.ef_sweep) | {cfg.ef}):
        index.set_ef(max(ef, cfg.k))
        began = time.perf_counter()
        ids, _ = index.knn_query(queries, cfg.k)
        qps = len(queries) / (time.perf_counter() - began)
        points[ef] = {"recall": round(recall_at_k(ids, truth), 4), "qps": round(qps)}
    curves["hnswlib"] = [(p["recall"], p["qps"]) for p in points.values()]
    out["by_ef"] = {str(ef): p for ef, p in points.items()}
    out["recall_at_claimed_ef"] = points[cfg.ef]["recall"]
    out["ours_minus_hnswlib_recall"] = round(our_recall - points[cfg.ef]["recall"], 4)
    return out


def _faiss(cfg: Config, base, queries, truth, curves, ours: IVFPQIndex) -> dict | None:  # type: ignore[no-untyped-def]
    try:
        began = time.perf_counter()
        index, refine = faiss_ivfpq(base, cfg.nlist, cfg.pq_m)
    except ImportError:
        return None
    out: dict[str, Any] = {"build_seconds": round(time.perf_counter() - began, 2)}
    refine.k_factor = cfg.rerank / cfg.k  # a shortlist of `rerank` re-ranked exactly, as ours
    points = {}
    for rerank, searcher in ((0, index), (cfg.rerank, refine)):
        for nprobe in sorted(set(cfg.nprobe_sweep) | {cfg.nprobe}):
            index.nprobe = nprobe
            began = time.perf_counter()
            _, ids = searcher.search(queries, cfg.k)
            qps = len(queries) / (time.perf_counter() - began)
            points[f"nprobe={nprobe},rerank={rerank}"] = {
                "recall": round(recall_at_k(ids, truth), 4),
                "qps": round(qps),
            }
    curves["faiss IVFPQ"] = [(p["recall"], p["qps"]) for key, p in points.items() if key.endswith("rerank=0")]
    curves["faiss IVFPQ + refine"] = [
        (p["recall"], p["qps"]) for key, p in points.items() if not key.endswith("rerank=0")
    ]
    out["by_setting"] = points
    out["code_bytes"] = int(index.code_size * index.ntotal)
    out["our_code_bytes"] = ours.code_bytes
    return out


def _plot(run: Run, curves, cost, collisions, cfg: Config) -> None:  # type: ignore[no-untyped-def]
    from landmarks.plots import plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    styles = {"ours": "-", "hnswlib": "--", "faiss": "--"}
    for i, (name, points) in enumerate(curves.items()):
        points = sorted(points)
        style = next((s for key, s in styles.items() if key in name), "-")
        ax.plot([p[0] for p in points], [p[1] for p in points], "o" + style, color=f"C{i}", label=name, ms=4)
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{cfg.k}")
    ax.set_ylabel("queries per second (one thread)")
    ax.set_title(f"{cfg.n:,} clustered Gaussian vectors, {cfg.dim} d: up and to the right is better")
    ax.legend(fontsize=8)
    run.save_figure(
        fig, "recall_vs_qps", "Recall@10 against queries per second, every index, ours and the libraries'"
    )

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, c in cost.items():
        n = sorted(c)
        left.loglog(n, [c[m] for m in n], "o-", label=f"{name} (slope {_slope(c):.2f})")
    left.set_xlabel("vectors in the index, n")
    left.set_ylabel("distance computations per query")
    left.set_title(f"HNSW at ef = {cfg.ef} against exact search")
    left.legend()
    degrees = sorted(collisions)
    right.plot(degrees, [collisions[d][1] for d in degrees], "-", label="1 − θ/π")
    right.plot(degrees, [collisions[d][0] for d in degrees], "o", label="measured")
    right.set_xlabel("angle θ between the pair (degrees)")
    right.set_ylabel("Pr[same side of a random hyperplane]")
    right.set_title("Charikar's hyperplane hash")
    right.legend()
    run.save_figure(
        fig, "cost_and_collisions", "Distance computations against n; LSH collision rate against angle"
    )


def _word_vectors(cfg: Config, run: Run) -> dict[str, Any]:
    """The second data set the catalog names: `embeddings`' skip-gram vectors of the planted
    corpus, every word a query, HNSW against exact search, by cosine."""
    from landmarks.embeddings.planted import planted_corpus
    from landmarks.embeddings.word2vec import train_word2vec

    vectors = train_word2vec(planted_corpus(run.rng("word-corpus"), 20000), dim=50, seed=run.seed)
    x = np.asarray(vectors.vectors, dtype=np.float32)
    k = min(cfg.k, len(x))
    exact = ExactIndex(x.shape[1], metric="cosine")
    exact.add(x)
    hnsw = HNSWIndex(x.shape[1], metric="cosine", M=cfg.M, ef_construction=cfg.ef_construction, ef=cfg.ef)
    hnsw.add(x)
    _, truth = exact.search(x, k)
    _, found = hnsw.search(x, k)
    return {
        "words": len(x),
        "dim": x.shape[1],
        "hnsw_recall_at_k": round(recall_at_k(found, truth), 4),
        "k": k,
    }
