"""Coffee automaton: the dynamics' invariants, the measures on hand-made grids, and a quick run."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from landmarks.config import BadOverride, apply_overrides
from landmarks.engine import Run
from landmarks.papers import coffee_automaton as ca


def make_run(tmp_path, seed: int = 0) -> Run:
    return Run(
        paper="coffee-automaton", seed=seed, device=torch.device("cpu"), out=tmp_path, show_progress=False
    )


class NoBar:
    def update(self, k: int) -> None:
        pass


# ---- the automaton (Sec. 3) ------------------------------------------------------------------


def test_initial_state_is_cream_over_coffee():
    grid = ca.initial_state(8)
    assert grid.shape == (8, 8) and grid.dtype == np.uint8
    assert (grid[:4] == 1).all() and (grid[4:] == 0).all()
    particles = ca.initial_particles(8)
    assert len(particles) == 32
    assert (ca.occupancy(particles, 8) == grid).all()


@pytest.mark.parametrize("axis,parity", ca.DOMINOES)
def test_domino_pairs_are_disjoint_adjacent_cells(axis, parity):
    n = 10
    index = np.arange(n * n).reshape(n, n)
    a, b = ca.domino_pairs(index, axis, parity)
    cells = np.concatenate([a.ravel(), b.ravel()])
    assert len(np.unique(cells)) == len(cells)  # no cell in two pairs: they can all swap at once
    ra, ca_ = np.divmod(a.ravel(), n)
    rb, cb = np.divmod(b.ravel(), n)
    assert (np.abs(ra - rb) + np.abs(ca_ - cb) == 1).all()
    assert ((ra if axis == 0 else ca_) % 2 == parity).all()
    assert a.size == n * (n // 2 - parity)


def test_interacting_sweeps_conserve_cream_and_stay_binary():
    rng = np.random.default_rng(0)
    grid = ca.initial_state(16)
    for _ in range(200):
        ca.interacting_sweep(grid, rng)
    assert grid.sum() == 16 * 16 // 2
    assert set(np.unique(grid)) == {0, 1}
    assert 0.3 < grid[:8].mean() < 0.7  # it mixed


def test_non_interacting_steps_conserve_particles_inside_the_cup():
    rng = np.random.default_rng(0)
    particles = ca.initial_particles(16)
    for _ in range(300):
        ca.noninteracting_step(particles, 16, rng)
    assert len(particles) == 128
    assert particles.min() >= 0 and particles.max() <= 15
    counts = ca.occupancy(particles, 16)
    assert counts.sum() == 128 and counts.max() > 1  # several particles may share a cell


def test_a_lone_particle_diffuses_at_the_sequential_rate():
    """A sweep moves a lone cream cell twice on average, as n² sequential attempts do (D = 1/2)."""
    rng = np.random.default_rng(1)
    sweeps, squared = 10, []
    for _ in range(400):
        grid = np.zeros((31, 31), dtype=np.uint8)
        grid[15, 15] = 1
        for _ in range(sweeps):
            ca.interacting_sweep(grid, rng)
        ((r, c),) = np.argwhere(grid)
        squared.append((r - 15) ** 2 + (c - 15) ** 2)
    msd_per_sweep = np.mean(squared) / sweeps
    assert msd_per_sweep == pytest.approx(4 * ca.DIFFUSION["interacting"], rel=0.15)

    walkers = np.full((4000, 2), 15, dtype=np.int16)
    for _ in range(sweeps):
        ca.noninteracting_step(walkers, 31, rng)
    msd_per_step = ((walkers - 15.0) ** 2).sum(axis=1).mean() / sweeps
    assert msd_per_step == pytest.approx(4 * ca.DIFFUSION["non-interacting"], rel=0.05)


# ---- the measures (Secs. 4-6) ----------------------------------------------------------------


def test_entropy_of_order_is_below_entropy_of_noise():
    rng = np.random.default_rng(0)
    zeros = np.zeros((64, 64), dtype=np.uint8)
    noise = (rng.random((64, 64)) < 0.5).astype(np.uint8)
    assert ca.entropy(zeros) < 32  # no gzip header: a constant grid costs a few bytes
    assert ca.entropy(ca.initial_state(64)) < 40
    assert ca.entropy(noise) > 10 * ca.entropy(ca.initial_state(64))
    assert ca.entropy(noise) >= 64 * 64 / 8  # at least one bit per random cell


def naive_coarse_grain(fine: np.ndarray, grain: int) -> np.ndarray:
    """Sec. 5.1 cell by cell: the mean over the grain×grain square centred on each cell."""
    n, h = fine.shape[0], grain // 2
    out = np.zeros((n, n))
    for r in range(n):
        for c in range(n):
            out[r, c] = fine[max(0, r - h) : r + h + 1, max(0, c - h) : c + h + 1].mean()
    return out


def test_coarse_graining_is_the_centred_window_mean():
    # A 5×5 example in the spirit of the paper's Fig. 1 (grain 3), checked by hand at a few cells.
    fine = np.array(
        [
            [0, 1, 0, 0, 1],
            [0, 1, 1, 0, 1],
            [0, 1, 0, 1, 0],
            [1, 0, 1, 1, 1],
            [1, 0, 1, 0, 0],
        ],
        dtype=np.uint8,
    )
    coarse = ca.coarse_grain(fine, 3)
    assert coarse.shape == fine.shape
    assert coarse[0, 0] == pytest.approx(2 / 4)  # corner: the window is clipped to 2×2
    assert coarse[1, 1] == pytest.approx(4 / 9)
    assert coarse[2, 2] == pytest.approx(6 / 9)
    assert coarse[2, 4] == pytest.approx(4 / 6)  # edge: 3×2
    np.testing.assert_allclose(coarse, naive_coarse_grain(fine, 3))
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.5, (17, 17)).astype(np.uint8)  # non-interacting grids hold counts
    for grain in (1, 3, 5, 7):
        np.testing.assert_allclose(ca.coarse_grain(counts, grain), naive_coarse_grain(counts, grain))


def test_threshold_buckets_and_borders():
    fine = ca.initial_state(12)
    buckets = ca.threshold(fine, 3, 3)
    assert buckets.shape == (12, 12) and buckets.dtype == np.uint8
    assert (buckets[:5] == 2).all() and (buckets[7:] == 0).all()  # mostly cream / mostly coffee
    # The rows beside the interface average exactly 2/3 and 1/3: a mean on a border goes up.
    assert (buckets[5] == 2).all() and (buckets[6] == 1).all()
    assert (ca.threshold(fine, 3, 7)[5:7] == [[4], [2]]).all()  # floor(7 · 2/3), floor(7 · 1/3)
    # Means above 1 (several non-interacting particles per cell) go to the top bucket.
    assert (ca.threshold(np.full((5, 5), 3, dtype=np.uint8), 3, 7) == 6).all()


def test_adjustment_snaps_cells_within_one_level_of_the_row_majority():
    buckets = np.array(
        [
            [3, 3, 3, 4, 2, 5, 0],  # majority 3: the 4 and the 2 snap to it, 5 and 0 stay
            [1, 1, 2, 2, 6, 6, 6],  # majority 6: no other cell is within one level of it
            [4, 4, 5, 5, 0, 0, 3],  # 0, 4 and 5 tie: the lowest, 0, is the majority
        ],
        dtype=np.uint8,
    )
    np.testing.assert_array_equal(ca.row_majority(buckets, 7), [3, 6, 0])
    adjusted = ca.adjust(buckets, 7)
    np.testing.assert_array_equal(adjusted[0], [3, 3, 3, 3, 3, 5, 0])
    np.testing.assert_array_equal(adjusted[1], [1, 1, 2, 2, 6, 6, 6])
    np.testing.assert_array_equal(adjusted[2], [4, 4, 5, 5, 0, 0, 3])
    flicker = np.array([[3, 4, 3, 4, 4, 3, 4]], dtype=np.uint8)
    np.testing.assert_array_equal(ca.adjust(flicker, 7), [[4] * 7])


def test_adjustment_removes_border_flicker_of_a_noisy_gradient():
    """The paper's Fig. 9: a smooth vertical gradient plus a little noise, thresholded."""
    rng = np.random.default_rng(0)
    n, levels = 96, 7
    gradient = np.linspace(0, 1, n)[:, None] * np.ones((1, n))
    noisy = np.clip(gradient + rng.normal(0, 0.02, (n, n)), 0, 0.999)
    buckets = np.floor(noisy * levels).astype(np.uint8)
    flicker = ca.compressed_size(buckets)
    clean = ca.compressed_size(ca.adjust(buckets, levels))
    smooth = ca.compressed_size(np.floor(gradient * levels).astype(np.uint8))
    assert clean < flicker / 4  # the adjustment removes most of the artificial complexity
    assert clean <= smooth + 10  # and leaves about what the noise-free gradient costs


def test_complexity_is_low_for_separated_and_for_mixed_grids():
    """Both ends of the run are simple: the complexity of either is tiny beside the mixed entropy."""
    rng = np.random.default_rng(0)
    n, g = 128, ca.default_grain(128)
    separated = ca.initial_state(n)
    mixed = rng.permuted(separated.ravel()).reshape(n, n)  # uniformly random, same amount of cream
    assert ca.entropy(mixed) > 50 * ca.entropy(separated)
    for grid in (separated, mixed):
        assert ca.apparent_complexity(grid, g) < ca.entropy(mixed) / 40


def test_default_grain_is_the_odd_number_nearest_sqrt_n():
    assert [ca.default_grain(n) for n in (16, 32, 64, 100, 128)] == [3, 5, 7, 9, 11]


def test_spearman_and_rise_and_fall():
    t = np.arange(10)
    assert ca.spearman(t, t**2) == pytest.approx(1.0)
    assert ca.spearman(t, -t) == pytest.approx(-1.0)
    assert ca.spearman([1, 2, 3, 4], [1, 1, 2, 2]) == pytest.approx(0.894427, abs=1e-6)  # ties
    assert ca.rise_and_fall(np.array([1.0, 2.0, 4.0])) == 0.0  # peak at the end: no fall
    assert ca.rise_and_fall(np.array([1.0, 4.0, 2.0])) == pytest.approx(0.5)
    assert ca.largest_drop(np.array([0.0, 10.0, 9.0, 10.0])) == pytest.approx(0.1)


def test_sample_times_span_the_run_in_log_time():
    times = ca.sample_times("interacting", 64, 3.0, 50)
    assert times[0] == 0 and times[-1] == round(3 * ca.relaxation_time("interacting", 64))
    assert (np.diff(times) > 0).all()
    assert ca.relaxation_time("non-interacting", 64) == pytest.approx(
        2 * ca.relaxation_time("interacting", 64)
    )


# ---- the experiment --------------------------------------------------------------------------


def test_simulation_is_deterministic_given_the_seed(tmp_path):
    cfg = dataclasses.replace(ca.PRESETS["quick"], samples=8)
    first = ca.simulate("interacting", 16, cfg, make_run(tmp_path, seed=3), NoBar())
    again = ca.simulate("interacting", 16, cfg, make_run(tmp_path, seed=3), NoBar())
    other = ca.simulate("interacting", 16, cfg, make_run(tmp_path, seed=4), NoBar())
    np.testing.assert_array_equal(first.states[-1], again.states[-1])
    np.testing.assert_array_equal(first.complexity, again.complexity)
    assert not np.array_equal(first.states[-1], other.states[-1])
    non = ca.simulate("non-interacting", 16, cfg, make_run(tmp_path, seed=3), NoBar())
    assert all(state.sum() == 128 for state in non.states)


def test_config_validation_and_overrides():
    for cfg in ca.PRESETS.values():
        cfg.validate()
    cfg = apply_overrides(ca.PRESETS["default"], ["sizes=16,32", "replicas=1", "levels=5"])
    assert cfg.size_list() == [16, 32]
    for bad in ("sizes=32", "sizes=33,64", "sizes=64,32", "sizes=a,b", "levels=6", "grain=4", "samples=2"):
        with pytest.raises(BadOverride):
            apply_overrides(ca.PRESETS["default"], [bad])
    with pytest.raises(ValueError, match="strictly increasing"):
        ca.Config(sizes="32,32").validate()


def test_quick_run_writes_result(tmp_path):
    from landmarks.runner import run_paper

    result = run_paper("coffee-automaton", out=tmp_path, quick=True, show_progress=False)
    folder = tmp_path / "coffee-automaton"
    data = json.loads((folder / "result.json").read_text())
    assert data["paper"] == "coffee-automaton"
    assert len(data["claims"]) == len(ca.CARD.claims) == 5
    assert [c["statement"] for c in data["claims"]] == [c.statement for c in ca.CARD.claims]
    for plot in data["plots"]:
        assert (folder / plot["file"]).exists()
    assert {p["file"] for p in data["plots"]} == {
        "entropy_and_complexity.png",
        "peak_vs_size.png",
        "snapshots_interacting.png",
        "snapshots_noninteracting.png",
    }
    series = data["metrics"]["interacting/n32"]
    assert len(series["times"]) == len(series["entropy_bytes"]) <= 200
    assert result["seconds"] > 0


def test_resume_loads_finished_runs_and_gives_the_same_numbers(tmp_path, monkeypatch):
    from landmarks.engine.checkpoint import CorruptCheckpoint
    from landmarks.runner import run_paper

    first = run_paper("coffee-automaton", out=tmp_path, quick=True, show_progress=False)
    saved = sorted((tmp_path / "coffee-automaton" / "checkpoints").glob("*.npz"))
    assert [p.name for p in saved] == [
        "interacting-n16.npz",
        "interacting-n24.npz",
        "interacting-n32.npz",
        "non-interacting-n32.npz",
    ]

    def no_simulation(*args, **kwargs):
        raise AssertionError("a finished run was simulated again")

    monkeypatch.setattr(ca, "simulate", no_simulation)
    again = run_paper("coffee-automaton", out=tmp_path, quick=True, resume=True, show_progress=False)
    assert again["claims"] == first["claims"]
    assert again["metrics"] == first["metrics"]

    saved[0].write_bytes(b"not an npz file")
    with pytest.raises(CorruptCheckpoint, match="cannot be read"):
        run_paper("coffee-automaton", out=tmp_path, quick=True, resume=True, show_progress=False)
    saved[0].unlink()
    monkeypatch.undo()  # the missing run is simulated; the next one was written with other settings
    with pytest.raises(CorruptCheckpoint, match="different configuration"):
        run_paper(
            "coffee-automaton",
            out=tmp_path,
            quick=True,
            resume=True,
            overrides=["samples=30"],
            show_progress=False,
        )
