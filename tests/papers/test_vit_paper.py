"""vit (the paper): patches are cut in the ViT's token order, the probe's R² behaves on known
answers, the ResNet is matched to the ViT's parameters, bad settings exit 2, and a quick run
writes its result and figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor

from landmarks.cli import main
from landmarks.nn.vit import VisionTransformer, ViTConfig
from landmarks.papers.vit import (
    PRESETS,
    activation_maximization,
    embedding_components,
    patch_pixels,
    probe_r2,
    total_variation,
)


def test_patch_pixels_follow_the_patch_embedding_order():
    cfg = ViTConfig(image_size=8, patch_size=4, num_classes=0, d_model=48, depth=1, n_head=1)
    vit = VisionTransformer(cfg)
    images = torch.randn(2, 3, 8, 8)
    # a patch embedding whose kernel reads the pixels in patch_pixels' order is the identity on them
    with torch.no_grad():
        vit.patch_embed.proj.weight.copy_(torch.eye(48).reshape(48, 3, 4, 4))
        vit.patch_embed.proj.bias.zero_()
    assert torch.allclose(vit.patch_embed(images), patch_pixels(images, 4), atol=1e-6)


def test_probe_r2_is_one_for_a_linear_map_and_near_zero_for_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 8, generator=g)
    w = torch.randn(8, 3, generator=g)
    assert probe_r2(x, x @ w + 1.0, ridge=1e-6) == pytest.approx(1.0, abs=1e-4)
    assert probe_r2(x, torch.randn(400, 3, generator=g), ridge=1e-2) < 0.1


def test_embedding_components_are_orthonormal_filters():
    vit = VisionTransformer(
        ViTConfig(image_size=16, patch_size=4, num_classes=0, d_model=32, depth=1, n_head=2)
    )
    comps = embedding_components(vit, 5)
    assert comps.shape == (5, 3, 4, 4)
    flat = comps.flatten(1).double()
    assert torch.allclose(flat @ flat.T, torch.eye(5, dtype=torch.float64), atol=1e-5)


def test_total_variation_is_zero_for_a_constant_image():
    assert float(total_variation(torch.full((1, 3, 8, 8), 0.3))) == 0.0
    assert float(total_variation(torch.rand(1, 3, 8, 8))) > 0


def _neuron_activation(vit: VisionTransformer, images: Tensor, block: int, neurons: Tensor) -> Tensor:
    seen: list[Tensor] = []
    hook = vit.blocks[block].mlp.act.register_forward_hook(lambda _m, _i, out: seen.append(out))
    with torch.no_grad():
        vit(images)
    hook.remove()
    return seen[0][:, vit.patch_slice][torch.arange(len(neurons)), :, neurons].mean(1)


def test_activation_maximization_raises_the_chosen_neurons():
    torch.manual_seed(0)
    vit = VisionTransformer(
        ViTConfig(image_size=16, patch_size=4, num_classes=3, d_model=32, depth=2, n_head=2)
    )
    mean, std = torch.zeros(3), torch.ones(3)
    neurons = torch.tensor([3, 17])
    g = torch.Generator().manual_seed(1)
    start = torch.full((2, 3, 16, 16), 0.5)  # where the optimization starts: sigmoid(≈0)
    images = activation_maximization(vit, 1, neurons, mean, std, g, steps=30, tv_weight=0.0)
    assert images.shape == (2, 3, 16, 16) and images.min() >= 0 and images.max() <= 1
    before = _neuron_activation(vit, start, 1, neurons)
    after = _neuron_activation(vit, images, 1, neurons)
    assert (after > before).all(), (before, after)
    assert vit.training  # the model's mode is given back


@pytest.mark.parametrize(
    "setting",
    ["patch_size=5", "small_set=50000", "depth=1", "probe_images=5000", "d_model=15", "actmax_steps=0"],
)
def test_bad_settings_exit_2(setting: str):
    assert main(["run", "vit", "--quick", "--set", setting]) == 2


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("vit", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "vit" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == 5
    metrics = saved["metrics"]
    cfg = PRESETS["quick"]
    vit, resnet = metrics["models"]["ViT"], metrics["models"]["ResNet"]
    assert set(vit) == set(resnet) == {str(cfg.small_set), str(cfg.large_set)}
    assert len(metrics["attention_distance_px"]) == cfg.depth
    assert all(len(heads) == cfg.n_head for heads in metrics["attention_distance_px"])
    assert len(metrics["probe_r2_by_block"]) == cfg.depth + 1
    assert saved["claims"][-1]["verdict"] == "reproduced"  # ViT-B/16's 86.6 M parameters, counted
    assert (tmp_path / "vit" / "vit.png").exists()
    assert (tmp_path / "vit" / "vit-features.png").exists()
    assert metrics["uniform_distance_px"] > 0
