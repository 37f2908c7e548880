"""landmarks.data generators for the sequence papers: translation, geometry, sorting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import ConvexHull

from landmarks.data.geometry import (
    ConvexHullTask,
    PointerBatch,
    TSPTask,
    convex_hull,
    convex_hulls,
    hull_area_coverage,
    is_simple_polygon,
    is_valid_tour,
    polygon_area,
    tour_length,
    tsp_brute_force,
    tsp_optimal,
    uniform_points,
)
from landmarks.data.sorting import SortingBatch, SortingTask, argsort_target
from landmarks.data.synthetic import SyntheticTask, batches, eval_set
from landmarks.data.translation import BOS, EOS, PAD, SPECIALS, TranslationBatch, TranslationTask


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- translation ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def task() -> TranslationTask:
    return TranslationTask()


@pytest.fixture(scope="module")
def batch(task: TranslationTask) -> TranslationBatch:
    return task.sample(300, gen(0))


def test_translation_lengths_and_padding(task: TranslationTask, batch: TranslationBatch) -> None:
    src, src_len, tgt, tgt_len, align = batch
    B, S = src.shape
    assert isinstance(task, SyntheticTask)
    assert src_len.min() >= 5 and src_len.max() <= 50 and src_len.max() == S
    assert len(set(src_len.tolist())) > 30  # lengths spread over the range
    assert tgt.shape == (B, S + 2) and align.shape == (B, S) and torch.equal(tgt_len, src_len + 2)
    valid = torch.arange(S) < src_len[:, None]
    assert torch.equal(src == PAD, ~valid) and torch.equal(align == -1, ~valid)
    assert (src[valid] < SPECIALS + task.vocab).all()
    rows = torch.arange(B)
    assert (tgt[:, 0] == BOS).all() and (tgt[rows, src_len + 1] == EOS).all()
    assert torch.equal(tgt == PAD, torch.arange(S + 2) >= tgt_len[:, None])
    words = tgt[:, 1:-1][valid]
    assert (words >= SPECIALS + task.vocab).all() and (words < task.vocab_size).all()
    moved = batch.to("cpu")
    assert isinstance(moved, TranslationBatch) and torch.equal(moved.src, src)


def test_alignment_is_a_permutation_onto_translating_words(
    task: TranslationTask, batch: TranslationBatch
) -> None:
    for b in range(len(batch.src)):
        L = int(batch.src_len[b])
        align = batch.align[b, :L]
        assert sorted(align.tolist()) == list(range(L))
        assert torch.equal(batch.tgt[b, 1 : L + 1], task._id_map[batch.src[b, align]])


def test_target_is_the_reference_translation(task: TranslationTask, batch: TranslationBatch) -> None:
    for b in range(len(batch.src)):
        L = int(batch.src_len[b])
        assert batch.tgt[b, 1 : L + 1].tolist() == task.reference_translation(batch.src[b, :L].tolist())


@pytest.mark.parametrize(
    ("sentence", "order"),
    [
        ("m m n", [2, 0, 1]),  # modifiers move after their noun, keeping their order
        ("n m m n m", [0, 3, 1, 2, 4]),  # a trailing modifier stays
        ("m n m n", [1, 0, 3, 2]),
        ("n n m", [0, 1, 2]),
        ("m m", [0, 1]),
        ("n", [0]),
    ],
)
def test_reorder_rule_on_hand_written_sentences(sentence: str, order: list[int]) -> None:
    task = TranslationTask(vocab=8)  # nouns: source words 0..3, modifiers 4..7
    ids = [SPECIALS + (i % 4 if w == "n" else 4 + i % 4) for i, w in enumerate(sentence.split())]
    expected = [int(task._id_map[ids[i]]) for i in order]
    assert task.reference_translation(ids) == expected
    tgt, align = task.translate(torch.tensor([[*ids, PAD, PAD]]))
    assert tgt[0].tolist() == [*expected, PAD, PAD] and align[0].tolist() == [*order, -1, -1]


def test_translation_is_deterministic_and_the_lexicon_is_not_the_run_seed(task: TranslationTask) -> None:
    a, b = task.sample(16, gen(5)), task.sample(16, gen(5))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(task.sample(16, gen(6)).src, a.src)
    run0, run1 = batches(task, seed=0, batch_size=64)(0), batches(TranslationTask(), seed=1, batch_size=64)(0)
    assert not torch.equal(run0.src[:, :5], run1.src[:, :5])
    assert torch.equal(TranslationTask().lexicon, task.lexicon)  # the same language in every run
    for run in (run0, run1):  # ...and every run's pairs obey it
        for b in range(len(run.src)):
            L = int(run.src_len[b])
            pairs = zip(run.src[b, run.align[b, :L]].tolist(), run.tgt[b, 1 : L + 1].tolist())
            assert all(t == SPECIALS + task.vocab + task.lexicon[s - SPECIALS] for s, t in pairs)
    assert not torch.equal(TranslationTask(lexicon_seed=1).lexicon, task.lexicon)
    assert sorted(task.lexicon.tolist()) == list(range(task.vocab))  # a bijection
    val = eval_set(task, seed=0, n=32)
    assert torch.equal(val.src, eval_set(task, seed=0, n=32).src)


def test_translation_words(task: TranslationTask) -> None:
    b = task.sample(4, gen(1))
    src_words, tgt_words = task.sentences(b.src), task.sentences(b.tgt)
    for s, t, L in zip(src_words, tgt_words, b.src_len.tolist()):
        assert len(s) == len(t) == L
        assert all(w.startswith("s") for w in s) and all(w.startswith("t") for w in t)
    assert task.words([BOS, SPECIALS, SPECIALS + task.vocab + 7, EOS, SPECIALS]) == ["s0", "t7"]
    assert task.word(PAD) == "<pad>"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        task.word(task.vocab_size)
    with pytest.raises(ValueError, match="not a source word"):
        task.reference_translation([SPECIALS + task.vocab])


def test_translation_config_errors() -> None:
    with pytest.raises(ValueError, match="min_len <= max_len"):
        TranslationTask(min_len=10, max_len=5)
    with pytest.raises(ValueError, match="vocab"):
        TranslationTask(vocab=1)


# --- convex hulls -----------------------------------------------------------------------------


def scipy_hull(points: np.ndarray) -> list[int]:
    v = ConvexHull(points).vertices.tolist()  # counter-clockwise in 2-D
    k = v.index(min(v))
    return v[k:] + v[:k]


def test_convex_hull_matches_scipy_on_random_sets() -> None:
    g = gen(0)
    for n in (3, 4, 5, 10, 20, 50):
        points = uniform_points(40, n, g)
        hull, hull_len = convex_hulls(points)
        for b in range(40):
            expected = scipy_hull(points[b].double().numpy())
            assert convex_hull(points[b]) == expected
            assert hull[b, : hull_len[b]].tolist() == expected and (hull[b, hull_len[b] :] == -1).all()


def test_convex_hull_skips_collinear_points_and_starts_at_the_lowest_index() -> None:
    # A square with points on its edges and inside; the lowest index, 0, is not the leftmost.
    points = [(1, 1), (0.5, 0), (0, 0), (1, 0), (0, 1), (0.5, 0.5), (0, 0.5), (1, 0.25)]
    assert convex_hull(points) == [0, 4, 2, 3]
    hull, hull_len = convex_hulls(np.array([points]))
    assert hull[0, : hull_len[0]].tolist() == [0, 4, 2, 3]
    assert convex_hull([(0, 0), (1, 1), (2, 2)]) == [0, 2]  # all collinear: the two ends
    assert convex_hull([(0.3, 0.3)]) == [0]


def test_batched_hulls_respect_set_sizes() -> None:
    points = uniform_points(50, 12, gen(1))
    n_points = torch.randint(3, 13, (50,), generator=gen(2))
    hull, hull_len = convex_hulls(points, n_points)
    for b in range(50):
        assert hull[b, : hull_len[b]].tolist() == convex_hull(points[b, : n_points[b]])


def test_polygon_area_and_simplicity() -> None:
    square = [(0, 0), (1, 0), (1, 1), (0, 1), (0.5, 0.5), (0.5, 0)]
    assert polygon_area(square, [0, 1, 2, 3]) == 1.0 and polygon_area(square, [3, 2, 1, 0]) == 1.0
    assert polygon_area(square, [0, 1, 2]) == 0.5 and polygon_area(square, [0, 1]) == 0.0
    assert is_simple_polygon(square, [0, 1, 2, 3]) and is_simple_polygon(square, [0, 1, 2, 4])
    assert not is_simple_polygon(square, [0, 2, 1, 3])  # a bow tie
    assert not is_simple_polygon(square, [0, 1, 2, 1])  # a repeated vertex
    assert not is_simple_polygon(square, [0, 1])
    assert not is_simple_polygon(square, [0, 5, 1])  # collinear: folds back on itself
    assert not is_simple_polygon(square, [0, 2, 1, 4])  # a vertex touching a non-adjacent edge
    assert is_simple_polygon(square, [0, 5, 1, 2, 3])  # a straight angle at 5 is still simple
    assert is_simple_polygon(square, [0, 5, 1, 2, 3, 4])  # a notch
    touching = [(0, 0), (2, 0), (2, 2), (1, 0), (0, 2)]  # vertex 3 lies on the edge 0→1
    assert not is_simple_polygon(touching, [0, 1, 2, 3, 4])


def test_hull_area_coverage_rules() -> None:
    points = [(0, 0), (1, 0), (1, 1), (0, 1), (0.25, 0.5)]
    true = convex_hull(points)
    assert true == [0, 1, 2, 3]
    assert hull_area_coverage(points, true, true) == 1.0
    assert hull_area_coverage(points, [1, 2, 3, 0], true) == 1.0  # where it starts does not matter
    assert hull_area_coverage(points, [0, 1, 2, 4], true) == 0.625  # an interior point cuts a corner
    assert hull_area_coverage(points, [0, 2, 1, 3], true) == 0.0  # self-intersecting
    assert hull_area_coverage(points, [0, 1, 2, 2, 3], true) == 0.0  # repeated index
    assert hull_area_coverage(points, [0, 1, 9], true) == 0.0  # no such point
    assert hull_area_coverage(points, [0, 1], true) == 0.0  # not a polygon


def test_convex_hull_task() -> None:
    task = ConvexHullTask(5, 10)
    assert isinstance(task, SyntheticTask)
    b = batches(task, seed=0, batch_size=200)(3)
    assert isinstance(b, PointerBatch) and b.points.shape == (200, 10, 2)
    assert b.n_points.min() == 5 and b.n_points.max() == 10
    pad = torch.arange(10) >= b.n_points[:, None]
    assert (b.points[pad] == 0).all() and (b.points[~pad] > 0).all()
    assert b.target.shape == (200, int(b.target_len.max()))
    for i in range(200):
        L = int(b.target_len[i])
        assert b.target[i, :L].tolist() == convex_hull(b.points[i, : b.n_points[i]])
        assert (b.target[i, L:] == -1).all()
    again = batches(task, seed=0, batch_size=200)(3)
    assert all(torch.equal(x, y) for x, y in zip(b, again))
    assert not torch.equal(batches(task, seed=0, batch_size=200)(4).points, b.points)
    with pytest.raises(ValueError, match="n_min"):
        ConvexHullTask(2, 5)


# --- travelling salesman ----------------------------------------------------------------------


def test_tour_length_and_validity() -> None:
    square = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert tour_length(square, torch.tensor([0, 1, 2, 3])) == 4.0
    assert tour_length(square, [0, 2, 1, 3]) == pytest.approx(2 + 2 * 2**0.5)
    batched = tour_length(square.expand(3, 4, 2), torch.tensor([[0, 1, 2, 3], [0, 2, 1, 3], [0, 3, 2, 1]]))
    assert batched.shape == (3,) and batched.dtype == torch.float64 and batched[0] == batched[2] == 4.0
    valid = is_valid_tour(torch.tensor([[0, 1, 2, 3], [0, 1, 1, 3], [3, 2, 1, 0]]), 4)
    assert valid.tolist() == [True, False, True]
    assert not is_valid_tour(torch.tensor([0, 1, 2]), 4)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_held_karp_matches_brute_force(n: int) -> None:
    points = uniform_points(25, n, gen(n))
    tour, length = tsp_optimal(points)
    assert tour.shape == (25, n) and length.shape == (25,)
    assert (tour[:, 0] == 0).all()
    if n >= 3:
        assert (tour[:, 1] < tour[:, -1]).all()  # the canonical direction
    np.testing.assert_allclose(length, tour_length(points, torch.from_numpy(tour)).numpy(), rtol=0)
    for b in range(25):
        best_tour, best_length = tsp_brute_force(points[b])
        assert tour[b].tolist() == best_tour
        assert length[b] == pytest.approx(best_length, rel=1e-12)


def test_held_karp_chunks_and_single_sets() -> None:
    points = uniform_points(40, 8, gen(3))
    tour, length = tsp_optimal(points)
    chunked, chunked_length = tsp_optimal(points, max_bytes=1)  # one set per chunk
    assert np.array_equal(tour, chunked) and np.array_equal(length, chunked_length)
    one, one_length = tsp_optimal(points[7])
    assert one.tolist() == tour[7].tolist() and one_length == length[7]
    with pytest.raises(ValueError, match="1 to 16 cities"):
        tsp_optimal(np.zeros((1, 17, 2)))


def test_tsp_task() -> None:
    task = TSPTask(6)
    assert isinstance(task, SyntheticTask)
    b = batches(task, seed=0, batch_size=32)(0)
    assert b.points.shape == (32, 6, 2) and b.target.shape == (32, 6)
    assert (b.n_points == 6).all() and (b.target_len == 6).all() and is_valid_tour(b.target, 6).all()
    assert np.array_equal(b.target.numpy(), tsp_optimal(b.points)[0])
    assert torch.equal(batches(task, seed=0, batch_size=32)(0).target, b.target)
    assert TSPTask(6).name != TSPTask(7).name  # different n, different streams


# --- sorting ----------------------------------------------------------------------------------


def test_sorting_target_sorts_the_input() -> None:
    task = SortingTask(5, 10)
    assert isinstance(task, SyntheticTask)
    b = task.sample(500, gen(0))
    assert isinstance(b, SortingBatch) and b.values.shape == (500, 10) and b.target.shape == (500, 10)
    assert b.lengths.min() == 5 and b.lengths.max() == 10
    for i in range(500):
        L = int(b.lengths[i])
        order = b.target[i, :L]
        assert sorted(order.tolist()) == list(range(L))
        assert (b.values[i, order].diff() >= 0).all()
        assert (b.target[i, L:] == -1).all() and (b.values[i, L:] == 0).all()
    again = task.sample(500, gen(0))
    assert all(torch.equal(x, y) for x, y in zip(b, again))
    assert not torch.equal(task.sample(500, gen(1)).values, b.values)
    assert isinstance(b.to("cpu"), SortingBatch)


def test_sorting_ties_go_to_the_lower_index() -> None:
    values = torch.tensor([[0.5, 0.2, 0.5, 0.2, 0.0]])
    assert argsort_target(values, torch.tensor([4])).tolist() == [[1, 3, 0, 2, -1]]
    with pytest.raises(ValueError, match="n_min"):
        SortingTask(0, 3)


def test_nearest_neighbour_tour_matches_a_plain_loop_and_never_beats_the_optimum():
    from landmarks.data.geometry import TSPTask, nearest_neighbour_tour, tour_length

    batch = TSPTask(6).sample(64, torch.Generator().manual_seed(3))
    tours = nearest_neighbour_tour(batch.points)
    for pts, tour in zip(batch.points.double(), tours, strict=True):
        left, route = set(range(1, 6)), [0]
        while left:
            nxt = min(left, key=lambda j: float((pts[j] - pts[route[-1]]).norm()))
            route.append(nxt)
            left.remove(nxt)
        assert tour.tolist() == route
    heuristic, optimal = tour_length(batch.points, tours), tour_length(batch.points, batch.target)
    assert bool((heuristic >= optimal - 1e-9).all()) and float(heuristic.mean()) > float(optimal.mean())
