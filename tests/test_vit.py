"""landmarks.nn.vit: timm parity, the two attention paths and the prefix-causal mask, registers,
configuration errors, mean attention distance by hand, and ViT-B/16's size and cost."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from landmarks.nn.counting import count_macs, count_params
from landmarks.nn.interop import StateDictMismatch, load_exact
from landmarks.nn.vit import (
    VisionTransformer,
    ViTConfig,
    attention_macs,
    mean_attention_distance,
    patch_distances,
    sincos_positions_2d,
    vit_base_patch16_224,
    vit_large_patch16_224,
    vit_small_patch16_224,
    vit_tiny_patch16_224,
)

SMALL = {"image_size": 32, "patch_size": 8, "d_model": 24, "depth": 2, "n_head": 3, "num_classes": 5}


def _small(**overrides) -> VisionTransformer:
    return VisionTransformer(ViTConfig(**{**SMALL, **overrides})).eval()


def _randomize(model: nn.Module, seed: int = 0) -> None:
    """Random weights of unit gain (1/√fan-in), norms, biases, tokens and positions, so that no
    part of the model sits at an initialization (ones, zeros, 1e-6, near-uniform attention)
    that would hide a mistake from a parity test."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if name in ("cls_token", "reg_token", "pos_embed"):
                p.copy_(0.5 * noise)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(noise / p[0].numel() ** 0.5)


def _timm():
    return pytest.importorskip("timm")


# ---- 1. parity with timm (random weights: nothing is downloaded) ------------------------------------


def test_timm_vit_tiny_gives_identical_logits():
    timm = _timm()
    torch.manual_seed(0)
    theirs = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
    _randomize(theirs)
    sd = theirs.state_dict()
    ours = vit_tiny_patch16_224().eval()
    assert list(ours.state_dict()) == list(sd)  # same names, same order
    load_exact(ours, sd, "timm vit_tiny_patch16_224")
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
        features = ours.forward_features(x)
        expected_features = theirs.forward_features(x)
    assert (expected - expected.mean(0)).abs().max() > 0.1  # the images get different logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(features, expected_features, atol=1e-5, rtol=1e-5)


@pytest.mark.slow  # about 5 s on one CPU thread: two 86 M-parameter models and a 224² forward each
def test_timm_vit_base_state_dict_loads_and_gives_identical_logits():
    timm = _timm()
    torch.manual_seed(0)
    theirs = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
    ours = load_exact(vit_base_patch16_224(), theirs.state_dict(), "timm vit_base_patch16_224").eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


# (our overrides, timm's VisionTransformer keywords) for the same structure
LAYOUTS = {
    "registers, positions for patches only (DINOv2-reg)": (
        {"registers": 4, "prefix_positions": False},
        {"reg_tokens": 4, "no_embed_class": True},
    ),
    "registers, positions for every token": ({"registers": 4}, {"reg_tokens": 4}),
    "no class token, mean of patches": (
        {"class_token": False, "pooling": "avg"},
        {"class_token": False, "global_pool": "avg", "fc_norm": False},
    ),
    "registers, no class token, mean of patches": (
        {"class_token": False, "registers": 2, "pooling": "avg", "prefix_positions": False},
        {
            "class_token": False,
            "reg_tokens": 2,
            "global_pool": "avg",
            "fc_norm": False,
            "no_embed_class": True,
        },
    ),
    "no qkv bias, narrower MLP": (
        {"qkv_bias": False, "mlp_ratio": 2.0},
        {"qkv_bias": False, "mlp_ratio": 2.0},
    ),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_timm_layouts_give_identical_logits(layout):
    timm = _timm()
    ours_kw, theirs_kw = LAYOUTS[layout]
    torch.manual_seed(1)
    theirs = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=24, depth=2, num_heads=3, num_classes=5, **theirs_kw
    ).eval()
    _randomize(theirs)
    ours = _small(**ours_kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    load_exact(ours, theirs.state_dict())
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = theirs(x)
        torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours.forward_features(x), theirs.forward_features(x), atol=1e-5, rtol=1e-5)
    assert (expected - expected.mean(0)).abs().max() > 0.1  # the images get different logits


def test_prefix_causal_attention_equals_timm_given_the_same_mask():
    timm = _timm()
    torch.manual_seed(2)
    theirs = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=24, depth=2, num_heads=3, num_classes=5, reg_tokens=2
    ).eval()
    _randomize(theirs)
    ours = load_exact(_small(registers=2, attention="prefix_causal"), theirs.state_dict())
    x = torch.randn(2, 3, 32, 32)
    prefix = torch.tensor([3, 9])
    mask = ours.attention_mask(prefix)
    assert mask is not None and mask.shape == (2, 1, 19, 19)
    with torch.no_grad():
        torch.testing.assert_close(ours(x, prefix), theirs(x, attn_mask=mask), atol=1e-5, rtol=1e-5)


# ---- 2. a state dict that does not fit is refused, naming every key --------------------------------


def test_missing_extra_and_mis_shaped_keys_are_named():
    model = _small()
    sd = dict(model.state_dict())
    del sd["blocks.1.mlp.fc2.bias"]
    sd["blocks.7.attn.qkv.weight"] = torch.zeros(72, 24)
    sd["pos_embed"] = torch.zeros(1, 16, 24)
    with pytest.raises(StateDictMismatch) as error:
        load_exact(_small(), sd, "a ViT state dict")
    message = str(error.value)
    assert "missing keys: blocks.1.mlp.fc2.bias" in message
    assert "unexpected keys: blocks.7.attn.qkv.weight" in message
    assert "mis-shaped: pos_embed (1, 16, 24) (expected (1, 17, 24))" in message


def test_positions_for_patches_only_do_not_load_into_positions_for_every_token():
    with pytest.raises(StateDictMismatch, match=r"pos_embed \(1, 16, 24\) \(expected \(1, 21, 24\)\)"):
        load_exact(_small(registers=4), _small(registers=4, prefix_positions=False).state_dict())


# ---- 3. the two attention paths, and the prefix-causal mask --------------------------------------


@pytest.mark.parametrize("attention", ["bidirectional", "prefix_causal"])
def test_fused_attention_equals_the_explicit_math(attention):
    torch.manual_seed(3)
    fused = _small(registers=1, attention=attention)
    _randomize(fused)
    explicit = _small(registers=1, attention=attention, fused=False)
    explicit.load_state_dict(fused.state_dict())
    x = torch.randn(2, 3, 32, 32)
    prefix = 5 if attention == "prefix_causal" else None
    with torch.no_grad():
        torch.testing.assert_close(
            explicit.forward_features(x, prefix), fused.forward_features(x, prefix), atol=1e-5, rtol=1e-5
        )
        trace = fused.forward_trace(x, prefix, need_weights=True)  # weights come from the explicit path
    torch.testing.assert_close(trace.features, fused.forward_features(x, prefix), atol=1e-5, rtol=1e-5)
    assert len(trace.attention) == 2 and trace.attention[0].shape == (2, 3, 18, 18)
    torch.testing.assert_close(trace.attention[1].sum(-1), torch.ones(2, 3, 18))
    mask = fused.attention_mask(prefix)
    if mask is not None:  # no weight on a key the mask forbids
        assert torch.all(trace.attention[0].masked_select(~mask) == 0)


def test_prefix_causal_mask_by_hand():
    model = _small(attention="prefix_causal", image_size=16)  # a 2×2 grid: tokens [cls, p0, p1, p2, p3]
    allowed = torch.tensor(
        [
            [1, 1, 1, 0, 0],  # the class token: the prefix (itself, p0, p1)
            [1, 1, 1, 0, 0],  # p0 sees p1: the prefix attends bidirectionally
            [1, 1, 1, 0, 0],
            [1, 1, 1, 1, 0],  # p2: the prefix and itself
            [1, 1, 1, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(model.attention_mask(2)[0, 0], allowed)
    assert torch.equal(model.attention_mask(0)[0, 0], allowed.tril() | (torch.arange(5) < 1))


def test_prefix_causal_outputs_do_not_see_later_patches_and_the_prefix_sees_itself():
    torch.manual_seed(4)
    model = _small(attention="prefix_causal", registers=2)
    _randomize(model)
    x = torch.randn(1, 3, 32, 32)
    changed = x.clone()
    changed[..., 16:24, 16:24] += 1.0  # patch 10 (row 2, column 2) of the 4×4 grid
    first = model.num_prefix_tokens  # the token of patch 0
    with torch.no_grad():
        before, after = model.forward_features(x, 4), model.forward_features(changed, 4)
    torch.testing.assert_close(after[:, : first + 10], before[:, : first + 10], atol=1e-6, rtol=0)
    assert not torch.allclose(after[:, first + 10 :], before[:, first + 10 :])
    # patch 2 is inside a prefix of 4: patch 0 sees it; with no prefix it does not
    changed = x.clone()
    changed[..., 0:8, 16:24] += 1.0
    with torch.no_grad():
        assert not torch.allclose(model.forward_features(changed, 4)[:, first], before[:, first])
        causal = model.forward_features(x, 0)
        torch.testing.assert_close(model.forward_features(changed, 0)[:, first], causal[:, first])


def test_prefix_of_every_patch_is_bidirectional_and_lengths_may_differ_per_image():
    torch.manual_seed(5)
    prefix_causal = _small(attention="prefix_causal")
    _randomize(prefix_causal)
    bidirectional = _small()
    bidirectional.load_state_dict(prefix_causal.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(prefix_causal(x, 16), bidirectional(x))
        per_image = prefix_causal(x, torch.tensor([3, 12]))
        torch.testing.assert_close(per_image[:1], prefix_causal(x[:1], 3))
        torch.testing.assert_close(per_image[1:], prefix_causal(x[1:], 12))
    with pytest.raises(ValueError, match=r"prefix_len must be .* in \[0, 16\]"):
        prefix_causal(x, 17)
    with pytest.raises(ValueError, match="prefix_len is for attention='prefix_causal'"):
        bidirectional(x, 3)


# ---- 4. registers take part in attention and are discarded at the output ---------------------------


def test_registers_are_discarded_at_the_output():
    torch.manual_seed(6)
    plain, with_registers = _small(), _small(registers=4)
    x = torch.randn(2, 3, 32, 32)
    assert with_registers(x).shape == plain(x).shape == (2, 5)
    features = with_registers.forward_features(x)
    assert features.shape == (2, 1 + 4 + 16, 24)
    assert with_registers.register_slice == slice(1, 5) and with_registers.patch_slice == slice(5, 21)
    cls, registers, patches = with_registers.split_tokens(features)
    assert torch.equal(cls, features[:, 0])
    assert torch.equal(registers, features[:, 1:5]) and torch.equal(patches, features[:, 5:])
    assert with_registers.reg_token is not None and with_registers.reg_token.shape == (1, 4, 24)
    # mean pooling reads the patches only
    avg = _small(class_token=False, registers=3, pooling="avg", num_classes=0)
    tokens = avg.forward_features(x)
    assert avg.register_slice == slice(0, 3)
    torch.testing.assert_close(avg(x), tokens[:, 3:].mean(1))
    assert _small(registers=0).split_tokens(features[:, :17]).registers.shape == (2, 0, 24)


def test_every_block_output_and_gradient_to_every_parameter():
    torch.manual_seed(7)
    model = _small(registers=2).train()
    x = torch.randn(4, 3, 32, 32)
    trace = model.forward_trace(x)
    assert len(trace.blocks) == 2 and trace.attention == []
    torch.testing.assert_close(trace.features, model.norm(trace.blocks[-1]))
    F.cross_entropy(model.head(model.pool(trace.features)), torch.tensor([0, 1, 2, 3])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_sincos_positions_are_fixed_and_separate_rows_from_columns():
    table = sincos_positions_2d((3, 4), 16)  # (12, 16), row-major
    assert table.shape == (12, 16)
    assert torch.equal(table[0, :8], table[3, :8])  # same row: the first half agrees
    assert torch.equal(table[0, 8:], table[4, 8:])  # same column: the second half agrees
    assert torch.unique(table, dim=0).shape[0] == 12
    model = _small(positions="sincos")
    assert "pos_embed" not in model.state_dict() and model(torch.randn(1, 3, 32, 32)).shape == (1, 5)


# ---- 5. configurations that cannot work say why ------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"image_size": 30, "patch_size": 16}, "patch sizes that divide 30: 1, 2, 3, 5, 6, 10, 15, 30"),
        ({"d_model": 100, "n_head": 3}, "d_model=100 is not divisible by n_head=3"),
        ({"registers": -1}, "registers must be >= 0"),
        ({"class_token": False}, "pooling='token' reads the class token"),
        ({"attention": "causal"}, "attention must be 'bidirectional' or 'prefix_causal'"),
        ({"pooling": "max"}, "pooling must be 'token' or 'avg'"),
        ({"positions": "sincos", "d_model": 18, "n_head": 3}, "sincos positions need d_model divisible by 4"),
        ({"num_classes": -1}, "num_classes must be >= 0"),
        ({"depth": 0}, "depth must be >= 1"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"mlp_ratio": 0.0}, "mlp_ratio=0.0 leaves the MLP no hidden units"),
    ],
)
def test_bad_configs_raise_naming_the_problem(overrides, message):
    with pytest.raises(ValueError, match=message):
        VisionTransformer(ViTConfig(**{**SMALL, **overrides}))


def test_wrong_image_size_is_refused():
    with pytest.raises(ValueError, match=r"expected 32×32 images, got \(48, 48\)"):
        _small()(torch.randn(1, 3, 48, 48))


# ---- 6. mean attention distance (Fig. 7) on maps computed by hand ----------------------------------


def test_patch_distances_are_pixels_between_centres():
    d = patch_distances(2, 16)  # [(0,0), (0,1), (1,0), (1,1)] × 16 px
    assert torch.allclose(d[0], torch.tensor([0.0, 16.0, 16.0, 16 * math.sqrt(2)], dtype=torch.float64))


def test_mean_attention_distance_by_hand():
    n = 4  # a 2×2 grid of 16-pixel patches
    self_only = torch.eye(n)
    uniform = torch.full((n, n), 1 / n)
    neighbour = torch.tensor([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=torch.float32)
    attn = torch.stack([self_only, uniform, neighbour])[None].expand(2, 3, n, n)  # (B, h, N, N)
    got = mean_attention_distance(attn, (2, 2), 16)
    # uniform: from any corner, (0 + 16 + 16 + 16√2) / 4 = 8 + 4√2 pixels
    expected = torch.tensor([0.0, 8 + 4 * math.sqrt(2), 16.0])
    torch.testing.assert_close(got, expected)
    # mass on the class token is left out: half of each row elsewhere leaves the distances as they were
    torch.testing.assert_close(mean_attention_distance(attn * 0.5, 2, 16), expected)
    with pytest.raises(ValueError, match="slice away the class token"):
        mean_attention_distance(torch.ones(1, 1, 5, 5) / 5, 2, 16)


def test_mean_attention_distance_of_a_model_per_head():
    torch.manual_seed(8)
    model = _small()
    trace = model.forward_trace(torch.randn(2, 3, 32, 32), need_weights=True)
    s = model.patch_slice
    distances = [mean_attention_distance(w[..., s, s], model.grid, 8) for w in trace.attention]
    diagonal = patch_distances(model.grid, 8).max().item()  # corner to corner
    for d in distances:
        assert d.shape == (3,) and bool(((d > 0) & (d < diagonal)).all())


# ---- 7. ViT-B/16: 86.6 M parameters, 17.6 G multiply-adds at 224² ---------------------------------


@pytest.mark.parametrize(
    "build, name, millions",
    [
        (vit_tiny_patch16_224, "vit_tiny_patch16_224", 5.7),
        (vit_small_patch16_224, "vit_small_patch16_224", 22.1),
        (vit_base_patch16_224, "vit_base_patch16_224", 86.6),
        (vit_large_patch16_224, "vit_large_patch16_224", 304.3),
    ],
)
def test_parameter_counts(build, name, millions):
    timm = _timm()
    with torch.device("meta"):  # shapes only, nothing computed
        ours = build()
        theirs = timm.create_model(name, pretrained=False)
    assert round(count_params(ours) / 1e6, 1) == millions
    assert count_params(ours) == count_params(theirs)


def test_vit_base_parameters_and_multiply_adds():
    with torch.device("meta"):
        model = vit_base_patch16_224()
    assert count_params(model) == 86_567_656
    n, t, d = 196, 197, 768
    layers = count_macs(model, (1, 3, 224, 224))  # the conv and the linear layers
    patch_embed, per_block, head = n * d * (3 * 16 * 16), t * d * (3 * d + d + 4 * d + 4 * d), d * 1000
    assert layers == patch_embed + 12 * per_block + head == 16_848_500_736
    attention = attention_macs(model.cfg)  # QKᵀ and A·V, which count_macs does not see
    assert attention == 12 * 2 * t * t * d == 715_327_488
    total = layers + attention  # 17.56 G; the paper's (and timm's) 17.6 GFLOPs are multiply-adds
    assert abs(total / 17.6e9 - 1) < 0.01
    with torch.device("meta"):
        explicit = vit_base_patch16_224(fused=False)  # matmuls torch's counter sees
    with FlopCounterMode(display=False) as counter:
        explicit(torch.zeros(1, 3, 224, 224, device="meta"))
    assert counter.get_total_flops() == 2 * total
