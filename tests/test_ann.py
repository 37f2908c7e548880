"""landmarks.ann: exact search against torch, HNSW recall and incremental insertion, product
quantization and ADC, LSH's collision law, save/load, bad input, and `landmarks index`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from landmarks.ann import ExactIndex, HNSWIndex, IVFPQIndex, LSHIndex, build_index, load_index, recall_at_k
from landmarks.ann.data import clustered_gaussians
from landmarks.ann.lsh import collision_rate
from landmarks.cli import main
from landmarks.errors import UserInputError


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    x = clustered_gaussians(np.random.default_rng(0), 3100, 16, clusters=10)
    return x[100:], x[:100]  # base, queries


@pytest.fixture(scope="module")
def truth(data) -> np.ndarray:  # type: ignore[no-untyped-def]
    base, queries = data
    return torch.cdist(torch.from_numpy(queries), torch.from_numpy(base)).argsort(1)[:, :10].numpy()


@pytest.fixture(scope="module")
def hnsw(data) -> HNSWIndex:  # type: ignore[no-untyped-def]
    index = HNSWIndex(16, M=8, ef_construction=64, ef=32)
    index.add(data[0])
    return index


def test_exact_equals_torch_cdist(data, truth):
    base, queries = data
    d, ids = _exact(base, queries, 10)
    np.testing.assert_array_equal(ids, truth)
    expected = torch.cdist(torch.from_numpy(queries), torch.from_numpy(base)) ** 2
    np.testing.assert_allclose(d, np.take_along_axis(expected.numpy(), ids, 1), rtol=1e-4, atol=1e-4)


def _exact(base, queries, k):  # type: ignore[no-untyped-def]
    index = ExactIndex(base.shape[1])
    index.add(base)
    return index.search(queries, k)


def test_exact_incremental_add_equals_one_batch(data):
    base, queries = data
    index = ExactIndex(16)
    for part in np.array_split(base, 3):
        index.add(part)
    d1, i1 = index.search(queries, 5)
    d2, i2 = _exact(base, queries, 5)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(d1, d2)
    assert (index.last_distance_computations == len(base)).all()


def test_hnsw_recall_and_fewer_distances(data, truth, hnsw):
    _, queries = data
    _, ids = hnsw.search(queries, 10)
    assert recall_at_k(ids, truth) >= 0.95
    assert hnsw.last_distance_computations.mean() < len(hnsw) / 3
    _, ids = hnsw.search(queries, 10, ef=200)
    assert recall_at_k(ids, truth) >= 0.99
    degrees = hnsw.degree_histogram()
    assert degrees[0] == 0 and len(degrees) == 2 * 8 + 1  # every node linked, at most 2M on layer 0


def test_hnsw_levels_follow_m_l(hnsw):
    levels = hnsw._levels[: len(hnsw)]
    # Pr[level >= 1] = exp(-1/m_L) = 1/M
    assert abs((levels >= 1).mean() - 1 / 8) < 0.02
    assert hnsw.m_level == pytest.approx(1 / math.log(8))


def test_hnsw_incremental_add_builds_the_same_graph(data, hnsw):
    base, queries = data
    index = HNSWIndex(16, M=8, ef_construction=64, ef=32)
    index.add(base[:1000])
    index.add(base[1000:2500])
    index.add(base[2500:])
    np.testing.assert_array_equal(index._links0[: len(base)], hnsw._links0[: len(base)])
    np.testing.assert_array_equal(index.search(queries, 10)[1], hnsw.search(queries, 10)[1])


def test_hnsw_heuristic_keeps_diverse_neighbours():
    from landmarks.ann.hnsw import _select_neighbours

    # Base at 0; a at 1, b at 1.1 (right behind a), c at -1.2: b is closer to a than to the base.
    x = np.array([[0.0], [1.0], [1.1], [-1.2]], np.float32)
    ids = np.array([1, 2, 3], np.int64)
    d = np.array([1.0, 1.21, 1.44], np.float32)
    assert list(_select_neighbours(ids, d, 3, x)) == [1, 3]


def test_pq_reconstruction_and_adc(data):
    base, queries = data
    index = IVFPQIndex(16, nlist=8, m=4, nprobe=8, iters=10)
    index.add(base)
    residual = base - index.centroids[index.assign]
    decoded = index.pq.decode(index.codes)
    error = ((residual - decoded) ** 2).sum(1).mean()
    assert error < 0.25 * (residual**2).sum(1).mean()  # PQ keeps most of the residual's energy
    # Each sub-vector is coded by its nearest sub-centroid: no other codeword is closer.
    sub = index.pq.split(residual)
    for j in range(index.pq.m):
        d = ((sub[:, j, None, :] - index.pq.codebooks[j][None]) ** 2).sum(-1)
        chosen = d[np.arange(len(d)), index.codes[:, j]]
        assert (chosen <= d.min(1) + 1e-5).all()
    # ADC (Eq. 13) equals the distance to the decoded vector c + r̂.
    cells = np.arange(8)
    ids, adc = index.adc(queries[0], cells)
    reconstructed = index.centroids[index.assign[ids]] + decoded[ids]
    np.testing.assert_allclose(adc, ((reconstructed - queries[0]) ** 2).sum(1), rtol=1e-4, atol=1e-4)


def test_ivfpq_rerank_recall_and_memory(data, truth):
    base, queries = data
    index = IVFPQIndex(16, nlist=16, m=4, nprobe=16, rerank=50, iters=10)
    index.add(base)
    assert base.nbytes / index.code_bytes == 16
    _, plain = index.search(queries, 10, rerank=0)
    _, reranked = index.search(queries, 10)
    assert recall_at_k(reranked, truth) >= 0.9
    assert recall_at_k(reranked, truth) > recall_at_k(plain, truth)
    with pytest.raises(UserInputError, match="original vectors"):
        no_vectors = IVFPQIndex(16, nlist=16, m=4)
        no_vectors.add(base)
        no_vectors.search(queries, 10, rerank=20)


@pytest.mark.parametrize("degrees", [20, 90, 160])
def test_lsh_collision_probability(degrees):
    theta = math.radians(degrees)
    measured = collision_rate(np.random.default_rng(degrees), 32, theta, 1000, 64)
    assert measured == pytest.approx(1 - theta / math.pi, abs=0.02)


def test_lsh_multiprobe_raises_recall(data, truth):
    base, queries = data
    index = LSHIndex(16, tables=4, bits=10)
    index.add(base)
    r0 = recall_at_k(index.search(queries, 10, probes=0)[1], truth)
    c0 = index.last_distance_computations.mean()
    r8 = recall_at_k(index.search(queries, 10, probes=8)[1], truth)
    assert r8 > r0 and index.last_distance_computations.mean() > c0
    assert r8 >= 0.8


def test_cosine_equals_l2_on_unit_vectors(data):
    base, queries = data
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    uq = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    for kind in ("exact", "hnsw"):
        cos = build_index(kind, 16, "cosine")
        cos.add(base * 3.0)  # lengths do not matter to cosine
        d_cos, i_cos = cos.search(queries, 5)
        expected = 1 - np.take_along_axis(uq @ unit.T, i_cos, 1)
        np.testing.assert_allclose(d_cos, expected, atol=1e-5)
        l2 = build_index(kind, 16, "l2")
        l2.add(unit)
        d_l2, i_l2 = l2.search(uq, 5)
        np.testing.assert_array_equal(i_cos, i_l2)
        np.testing.assert_allclose(d_cos, d_l2 / 2, atol=1e-5)


@pytest.mark.parametrize("kind", ["exact", "lsh", "ivfpq", "hnsw"])
def test_save_load_round_trip(kind, data, tmp_path: Path):
    base, queries = data
    settings = {"ivfpq": {"nlist": 8, "m": 4, "rerank": 20, "iters": 5}}.get(kind, {})
    index = build_index(kind, 16, "cosine", **settings)
    index.add(base[:2000])
    path = index.save(tmp_path / "index.npz")
    loaded = load_index(path)
    assert type(loaded) is type(index) and loaded.params == index.params and loaded.metric == "cosine"
    for a, b in zip(index.search(queries, 7), loaded.search(queries, 7), strict=True):
        np.testing.assert_array_equal(a, b)
    index.add(base[2000:])
    loaded.add(base[2000:])  # a loaded index grows like the original
    np.testing.assert_array_equal(index.search(queries, 7)[1], loaded.search(queries, 7)[1])


def test_truncated_and_foreign_files_are_refused(hnsw, tmp_path: Path):
    path = hnsw.save(tmp_path / "h.npz")
    blob = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(UserInputError, match="not a readable index"):
        load_index(tmp_path / "cut.npz")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(UserInputError, match="not a valid index"):
        load_index(tmp_path / "foreign.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(UserInputError, match="not a readable index") as refused:
        load_index(tmp_path / "text.npz")
    assert "not an .npz archive" in str(refused.value) and "unsafely" not in str(refused.value)
    with pytest.raises(UserInputError, match="no such index"):
        load_index(tmp_path / "missing.npz")
    with pytest.raises(UserInputError, match="holds a hnsw index"):
        ExactIndex.load(path)
    # A tampered graph (a link out of range) is refused, not followed into a crash.
    with np.load(path) as f:
        arrays = dict(f)
    arrays["links0"] = arrays["links0"].copy()
    arrays["links0"][0, 1] = 10**6
    np.savez(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(UserInputError, match="outside the graph"):
        load_index(tmp_path / "tampered.npz")


def test_bad_input_is_a_user_error(hnsw):
    with pytest.raises(UserInputError, match="dimension 8"):
        hnsw.search(np.zeros((2, 8)), 5)
    with pytest.raises(UserInputError, match="larger than the index"):
        hnsw.search(np.zeros((2, 16)), len(hnsw) + 1)
    with pytest.raises(UserInputError, match="k must be >= 1"):
        hnsw.search(np.zeros((2, 16)), 0)
    with pytest.raises(UserInputError, match="2-D"):
        hnsw.search(np.zeros(16), 5)
    with pytest.raises(UserInputError, match="NaN"):
        hnsw.add(np.full((1, 16), np.nan))
    with pytest.raises(UserInputError, match="no setting"):
        HNSWIndex(16, efc=3)
    with pytest.raises(UserInputError, match="M must be >= 2"):
        HNSWIndex(16, M=1)
    with pytest.raises(UserInputError, match="whole number"):
        HNSWIndex(16, M=2.5)
    with pytest.raises(UserInputError, match="empty"):
        ExactIndex(4).search(np.zeros((1, 4)), 1)
    with pytest.raises(UserInputError, match="zero vector"):
        ExactIndex(4, "cosine").add(np.zeros((1, 4)))
    with pytest.raises(UserInputError, match="at least 256"):
        IVFPQIndex(16, nlist=4, m=4).add(np.ones((100, 16)))
    with pytest.raises(UserInputError, match="must divide"):
        IVFPQIndex(16, m=5)
    with pytest.raises(UserInputError, match="unknown index kind"):
        build_index("annoy", 16)


# ---- parity with the libraries people use (skipped when they are not installed) ----------------


def test_hnsw_recall_matches_hnswlib(data, truth, hnsw):
    pytest.importorskip("hnswlib")
    from landmarks.papers.ann import hnswlib_index

    base, queries = data
    theirs = hnswlib_index(base, 8, 64)
    for ef in (10, 32):
        theirs.set_ef(ef)
        ids, _ = theirs.knn_query(queries, 10)
        ours = recall_at_k(hnsw.search(queries, 10, ef=ef)[1], truth)
        assert ours >= recall_at_k(ids, truth) - 0.02


def test_ivfpq_recall_beside_faiss(data, truth):
    pytest.importorskip("faiss")
    from landmarks.papers.ann import faiss_ivfpq

    base, queries = data
    ivf, _ = faiss_ivfpq(base, 16, 4)
    ivf.nprobe = 4
    _, theirs = ivf.search(queries, 10)
    ours = IVFPQIndex(16, nlist=16, m=4, nprobe=4, iters=10)
    ours.add(base)
    assert abs(recall_at_k(ours.search(queries, 10)[1], truth) - recall_at_k(theirs, truth)) < 0.08
    assert ivf.code_size == ours.pq.m  # the same bytes per vector


# ---- the command ---------------------------------------------------------------------------------


def test_index_command(data, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    base, queries = data
    np.save(tmp_path / "x.npy", base[:2000])
    np.save(tmp_path / "more.npy", base[2000:])
    np.save(tmp_path / "q.npy", queries[:3])
    idx = str(tmp_path / "x.idx")
    assert (
        main(
            [
                "index",
                "build",
                "--kind",
                "hnsw",
                "--vectors",
                str(tmp_path / "x.npy"),
                "--out",
                idx,
                "--set",
                "M=8",
            ]
        )
        == 0
    )
    assert main(["index", "add", idx, "--vectors", str(tmp_path / "more.npy")]) == 0
    assert "3000 vectors" in capsys.readouterr().out
    assert (
        main(["index", "search", idx, "--queries", str(tmp_path / "q.npy"), "-k", "3", "--set", "ef=50"]) == 0
    )
    lines = capsys.readouterr().out.strip().split("\n")
    assert len(lines) == 3 and len(lines[0].split("\t")[1].split()) == 3
    out = tmp_path / "r.npz"
    assert main(["index", "search", idx, "--queries", str(tmp_path / "q.npy"), "--out", str(out)]) == 0
    with np.load(out) as f:
        _, expected = _exact(base, queries[:3], 10)
        assert recall_at_k(f["ids"], expected) >= 0.9 and f["distances"].shape == (3, 10)


def test_index_command_bad_input_exits_2(data, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    base, _ = data
    np.save(tmp_path / "x.npy", base[:500])
    np.save(tmp_path / "q8.npy", np.zeros((2, 8), np.float32))
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    idx = str(tmp_path / "x.idx")
    assert (
        main(["index", "build", "--kind", "exact", "--vectors", str(tmp_path / "x.npy"), "--out", idx]) == 0
    )
    capsys.readouterr()
    cases = [
        (["index", "search", idx, "--queries", str(tmp_path / "q8.npy")], "dimension 8"),
        (
            ["index", "search", idx, "--queries", str(tmp_path / "x.npy"), "-k", "501"],
            "larger than the index",
        ),
        (["index", "build", "--vectors", str(tmp_path / "bad.npy"), "--out", idx], "not a readable .npy"),
        (["index", "build", "--vectors", str(tmp_path / "obj.npy"), "--out", idx], "not a readable .npy"),
        (["index", "build", "--vectors", str(tmp_path / "x.npy"), "--out", idx, "--set", "M"], "key=value"),
        (
            ["index", "build", "--vectors", str(tmp_path / "x.npy"), "--out", idx, "--set", "M=x"],
            "must be a number",
        ),
        (
            ["index", "add", str(tmp_path / "bad.npy"), "--vectors", str(tmp_path / "x.npy")],
            "not a readable index",
        ),
        (["index", "search", str(tmp_path / "none.idx"), "--queries", str(tmp_path / "x.npy")], "no such"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
