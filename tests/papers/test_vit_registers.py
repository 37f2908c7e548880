"""vit-registers: the outlier rule counts a known number of outliers, the entropy is log N for a
uniform map and 0 for a one-hot one, both models start from the same weights, bad settings exit
2, and a quick run writes its claims and figure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from landmarks.cli import main
from landmarks.papers.vit_registers import (
    MAD_TO_SIGMA,
    PRESETS,
    attention_entropy,
    build_pair,
    class_token_attention,
    count_outliers,
    neighbour_similarity,
    outlier_threshold,
    robust_z_tail,
)


def test_outlier_threshold_is_the_gap_times_the_bulk_quantile():
    norms = torch.arange(1.0, 101.0)  # 95th percentile (linear interpolation) 95.05
    assert outlier_threshold(norms, 0.95, 1.5) == pytest.approx(1.5 * 95.05)
    assert outlier_threshold(norms, 0.5, 2.0) == pytest.approx(2 * 50.5)


def test_count_outliers_finds_a_planted_second_mode_but_not_a_tail():
    g = torch.Generator().manual_seed(0)
    bulk = 10 + torch.randn(64, 64, generator=g).abs() * 2  # a unimodal, right-skewed histogram
    assert count_outliers(bulk) == 0
    assert robust_z_tail(bulk) > 0  # the tail count sees its tail all the same
    norms = bulk.clone()
    planted = torch.randperm(norms.numel(), generator=g)[:82]  # 2 %, as the paper's
    norms.view(-1)[planted] = 100.0  # about ten times the bulk, as the paper's outliers
    assert count_outliers(norms) == 82
    assert count_outliers(norms * 7.0) == 82  # scale-free
    assert count_outliers(norms, 0.95, 20.0) == 0  # a gap beyond them counts none


def test_robust_z_tail_is_median_plus_z_robust_sigmas():
    norms = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])  # median 3, absolute deviations 2 1 0 1 2: MAD 1
    assert robust_z_tail(norms, 1.0) == 1  # only 5 > 3 + 1.4826
    assert robust_z_tail(norms, 0.6) == 2  # 4 and 5 > 3 + 0.89
    assert robust_z_tail(norms, 2 / MAD_TO_SIGMA) == 0  # 5 is not above 3 + 2


def test_attention_entropy_uniform_is_log_n_and_one_hot_is_zero():
    n = 64
    uniform = torch.full((2, 3, n), 1.0 / n)
    assert torch.allclose(attention_entropy(uniform), torch.full((2, 3), math.log(n)))
    one_hot = torch.zeros(2, 3, n)
    one_hot[..., 5] = 1.0
    assert torch.equal(attention_entropy(one_hot), torch.zeros(2, 3))
    two = torch.zeros(n)
    two[:2] = 3.0  # unnormalized: renormalized to 1/2, 1/2
    assert float(attention_entropy(two)) == pytest.approx(math.log(2))


def test_neighbour_similarity_is_one_on_a_tiled_image_and_near_zero_on_noise():
    tile = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    tiled = tile.repeat(2, 1, 8, 8)  # (2, 3, 32, 32): every patch the same
    assert torch.allclose(neighbour_similarity(tiled, 4), torch.ones(2, 64), atol=1e-5)
    noise = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    assert neighbour_similarity(noise, 4).mean().abs() < 0.05


def test_models_share_every_initial_weight_but_the_registers():
    cfg = PRESETS["quick"]
    plain, with_registers = build_pair(cfg, seed=3).values()
    assert with_registers.reg_token.shape == (1, cfg.registers, cfg.d_model)
    other = with_registers.state_dict()
    for name, value in plain.state_dict().items():
        assert torch.equal(value, other[name]), name
    # and the class token's attention row, renormalized, is a distribution over the patches
    trace = with_registers.forward_trace(torch.randn(2, 3, 32, 32), need_weights=True)
    attn = class_token_attention(with_registers, trace.attention[-1])
    assert attn.shape == (2, cfg.n_head, 64)
    assert torch.allclose(attn.sum(-1), torch.ones(2, cfg.n_head))


@pytest.mark.parametrize(
    "setting",
    [
        "registers=-1",
        "registers=0",
        "mode_gap=1",
        "bulk_quantile=1",
        "tail_z=0",
        "attention_images=9",
        "n_head=3",
        "patch_size=5",
    ],
)
def test_bad_settings_exit_2(setting: str):
    assert main(["run", "vit-registers", "--quick", "--set", setting]) == 2


def test_quick_run_writes_claims_and_figure(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("vit-registers", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "vit-registers" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == 4
    models = saved["metrics"]["models"]
    assert set(models) == {"no registers", f"{PRESETS['quick'].registers} registers"}
    for m in models.values():
        assert 0 <= m["test_accuracy"] <= 1
        assert len(m["outliers_per_block"]) == PRESETS["quick"].depth
        assert 0 <= m["class_attention_entropy"] <= math.log(64) + 1e-6
    hist = saved["metrics"]["patch_norm_histogram"]
    n_tokens = PRESETS["quick"].n_test * 64
    assert all(sum(c) == n_tokens for c in hist["counts"].values())  # every token in a bin
    assert (tmp_path / "vit-registers" / "registers.png").stat().st_size > 0
    # claim 2 (the registers' reduction of the outliers) has a number only where claim 1 found them
    # and so has claim 4 (the smoother attention, which is attention leaving those outliers)
    outlier_mode, reduction, entropy = saved["claims"][0], saved["claims"][1], saved["claims"][3]
    if outlier_mode["verdict"] != "reproduced":
        for gated in (reduction, entropy):
            assert gated["measured"] is None or math.isnan(gated["measured"])
            assert gated["verdict"] == "not reproduced"
    assert "outlier_reduction_percent" in saved["metrics"] and "entropy_gain_nats" in saved["metrics"]
