"""aim: normalized-pixel targets, no peeking past the prefix, the loss only after the prefix, the
attentive probe ignores the order of the patches, bad settings exit 2, a quick run writes its
claims and figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from landmarks.cli import main
from landmarks.nn.vit import ViTConfig
from landmarks.papers.aim import (
    AIM,
    PRESETS,
    AttentiveProbe,
    aim_loss,
    normalized_patches,
    spearman,
)


def _trunk(**overrides: object) -> ViTConfig:
    base: dict = {
        "image_size": 16,
        "patch_size": 4,
        "num_classes": 0,
        "d_model": 32,
        "depth": 2,
        "n_head": 2,
        "class_token": False,
        "positions": "sincos",
        "attention": "prefix_causal",
        "pooling": "avg",
    }
    return ViTConfig(**{**base, **overrides})


def test_normalized_patches_are_the_vit_patches_standardized_one_by_one():
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    targets = normalized_patches(images, 4)
    raw = torch.stack(  # patch (r, c) of the 4×4 grid, row-major, its pixels in (C, P, P) order
        [images[:, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4].flatten(1) for r in range(4) for c in range(4)], 1
    )
    assert targets.shape == raw.shape == (2, 16, 48)
    assert torch.allclose(targets.mean(-1), torch.zeros(2, 16), atol=1e-5)
    assert torch.allclose(targets.var(-1, unbiased=False), torch.ones(2, 16), atol=1e-3)
    expected = (raw - raw.mean(-1, keepdim=True)) / raw.std(-1, unbiased=False, keepdim=True)
    assert torch.allclose(targets, expected, atol=1e-4)


@pytest.mark.parametrize("prefix", [1, 5, 15])
def test_an_output_never_sees_a_patch_it_must_not(prefix: int):
    torch.manual_seed(0)
    model = AIM(_trunk()).eval()
    images = torch.randn(1, 3, 16, 16)
    base = model(images, prefix)
    for j in range(16):  # change patch j (row-major on the 4×4 grid) alone
        changed = images.clone()
        r, c = divmod(j, 4)
        changed[..., 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] += 1.0
        out = model(changed, prefix)
        for k in range(16):
            sees = j <= max(k, prefix - 1)  # causal after the prefix, the whole prefix inside it
            moved = not torch.allclose(out[0, k], base[0, k], atol=1e-6)
            assert moved == sees, (j, k, prefix)


def test_loss_counts_only_the_patches_after_each_prefix():
    torch.manual_seed(0)
    model = AIM(_trunk()).eval()
    images = torch.randn(3, 3, 16, 16)
    prefix = torch.tensor([1, 7, 15])
    with torch.no_grad():
        loss = aim_loss(model, images, prefix)
        pred = model(images, prefix)[:, :-1]
        err = (
            (pred - normalized_patches(images, 4)[:, 1:]).pow(2).mean(-1)
        )  # (3, 15): patch k+1 from output k
        manual = torch.cat([err[b, int(p) - 1 :] for b, p in enumerate(prefix)]).mean()
    assert loss == pytest.approx(float(manual), rel=1e-5)


def test_aim_refuses_a_trunk_that_is_not_prefix_causal():
    with pytest.raises(ValueError):
        AIM(_trunk(attention="bidirectional"))
    with pytest.raises(ValueError):
        AIM(_trunk(class_token=True, pooling="token"))


def test_attentive_probe_ignores_the_order_of_the_patches():
    torch.manual_seed(0)
    probe = AttentiveProbe(32, 4, 10).eval()
    feats = torch.randn(2, 16, 32)
    perm = torch.randperm(16)
    assert torch.allclose(probe(feats), probe(feats[:, perm]), atol=1e-5)
    assert probe(feats).shape == (2, 10)


def test_spearman_on_known_rankings():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4, 5], [2, 1, 3, 4, 5]) == pytest.approx(0.9)  # one adjacent swap


@pytest.mark.parametrize(
    "setting", ["patch_size=5", "n_probe=100", "checkpoints=1", "d_model=30", "steps=1", "warmup=4"]
)
def test_bad_settings_exit_2(setting: str):
    assert main(["run", "aim", "--quick", "--set", setting]) == 2


def test_quick_run_writes_claims_and_figure(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("aim", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "aim" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == 3
    points = saved["metrics"]["checkpoints"]
    cfg = PRESETS["quick"]
    assert [p["step"] for p in points] == [
        0,
        *range(cfg.steps // cfg.checkpoints, cfg.steps + 1, cfg.steps // cfg.checkpoints),
    ]
    assert all(0 <= p["probe_accuracy"] <= 1 and p["held_out_loss"] > 0 for p in points)
    assert (tmp_path / "aim" / "aim.png").exists()
