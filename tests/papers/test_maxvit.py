"""MaxViT: timm parity, partitions and relative position bias, the two attentions' reach and cost,
image sizes that do not divide, the layout task, and the quick run."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landmarks.cli import main
from landmarks.errors import UserInputError
from landmarks.nn.counting import count_params
from landmarks.nn.interop import StateDictMismatch
from landmarks.papers import maxvit


def _timm():
    return pytest.importorskip("timm")


def _randomize(model: nn.Module, seed: int = 0) -> None:
    """timm starts norms at (1, 0), BatchNorm statistics at (0, 1) and the position tables near 0;
    give them random values so that every part of a block changes the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("bias") or "relative_position_bias_table" in name:
                p.add_(0.2 * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))


def _small_timm(timm, num_classes: int = 7, img_size: int = 64):  # type: ignore[no-untyped-def]
    """A timm MaxViT of the tf kind, two stages of 32 and 64 channels, window = grid = 64 / 32 = 2."""
    from timm.models import maxxvit as mx

    cfg = mx.MaxxVitCfg(
        embed_dim=(32, 64),
        depths=(1, 2),
        block_type=("M", "M"),
        stem_width=16,
        stem_bias=True,
        head_hidden_size=48,
        **mx._tf_cfg(),
    )
    return mx.MaxxVit(cfg, img_size=img_size, num_classes=num_classes)


# ---- parity with timm (random weights: nothing is downloaded) ---------------------------------------


def test_timm_maxvit_tiny_gives_identical_logits():
    timm = _timm()
    torch.manual_seed(0)
    theirs = timm.create_model("maxvit_tiny_tf_224", pretrained=False).eval()
    _randomize(theirs)
    sd = theirs.state_dict()
    assert list(maxvit.maxvit_tiny_tf_224().state_dict()) == list(sd)  # same names, same order
    ours = maxvit.from_timm(sd).eval()
    assert ours.depths == (2, 2, 5, 2) and ours.dims == (64, 128, 256, 512) and ours.window == 7
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert expected.std() > 0.1
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_from_timm_reads_the_architecture_off_the_keys_and_the_explicit_path_agrees():
    timm = _timm()
    torch.manual_seed(1)
    theirs = _small_timm(timm).eval()
    _randomize(theirs, 1)
    ours = maxvit.from_timm(theirs.state_dict(), image_size=64).eval()
    assert ours.depths == (1, 2) and ours.dims == (32, 64) and ours.window == ours.grid == 2
    assert ours.head.fc.out_features == 7 and ours.head.pre_logits.fc.out_features == 48
    explicit = maxvit.from_timm(theirs.state_dict(), image_size=64, fused=False).eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = theirs(x)
        assert torch.allclose(ours(x), expected, atol=1e-5, rtol=1e-5)
        assert torch.allclose(explicit(x), expected, atol=1e-5, rtol=1e-5)


def test_from_timm_names_missing_extra_and_mis_shaped_keys():
    timm = _timm()
    sd = dict(_small_timm(timm).state_dict())
    missing = dict(sd)
    del missing["stages.1.blocks.1.attn_grid.mlp.fc2.bias"]
    with pytest.raises(
        StateDictMismatch, match=r"missing keys: stages\.1\.blocks\.1\.attn_grid\.mlp\.fc2\.bias"
    ):
        maxvit.from_timm(missing, image_size=64)
    extra = {**sd, "stages.0.blocks.0.attn_block.ls1.gamma": torch.ones(32)}
    with pytest.raises(
        StateDictMismatch, match=r"unexpected keys: stages\.0\.blocks\.0\.attn_block\.ls1\.gamma"
    ):
        maxvit.from_timm(extra, image_size=64)
    sd["head.norm.weight"] = torch.ones(5)
    with pytest.raises(
        StateDictMismatch, match=r"mis-shaped: head\.norm\.weight \(5,\) \(expected \(64,\)\)"
    ):
        maxvit.from_timm(sd, image_size=64)
    with pytest.raises(ValueError, match="not a timm MaxViT"):
        maxvit.from_timm({"conv1.weight": torch.zeros(1)})


@pytest.mark.parametrize(
    "arch, millions",
    [
        ("maxvit_tiny_tf_224", 30.9),
        ("maxvit_small_tf_224", 68.9),
        ("maxvit_base_tf_224", 119.5),
        ("maxvit_large_tf_224", 211.8),
    ],
)
def test_parameter_counts(arch, millions):
    timm = _timm()
    with torch.device("meta"):
        ours = getattr(maxvit, arch)()
        theirs = timm.create_model(arch, pretrained=False)
    assert round(count_params(ours) / 1e6, 1) == millions
    assert count_params(ours) == count_params(theirs)


def test_maxvit_tiny_multiply_adds():
    # Table 2: 5.6 G FLOPs (multiply-adds); timm lists 5.6 GMACs
    with torch.device("meta"):
        model = maxvit.maxvit_tiny_tf_224(fused=False)
    assert round(maxvit.multiply_adds(model, (1, 3, 224, 224)) / 1e9, 2) == 5.55


# ---- the pieces ------------------------------------------------------------------------------------------


def test_tf_same_padding_pads_the_end_for_stride_two():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    padded = maxvit.pad_same(x, 3, 2)
    assert padded.shape == (1, 1, 5, 5) and torch.equal(padded[..., :4, :4], x)  # one row and column, after
    assert maxvit.pad_same(torch.zeros(1, 1, 5, 5), 3, 2).shape == (1, 1, 7, 7)  # odd: one on each side
    assert torch.equal(maxvit.pad_same(x, 3, 1, "circular")[..., 0, 1:-1], x[..., -1, :])  # wraps around


def test_partitions_round_trip_and_group_the_right_pixels():
    b, h, w, c, n = 2, 8, 12, 3, 4
    x = torch.randn(b, h, w, c)
    windows = maxvit.block_partition(x, n)
    assert windows.shape == (b * (h // n) * (w // n), n * n, c)
    assert torch.equal(maxvit.block_reverse(windows, n, h, w), x)
    groups = maxvit.grid_partition(x, n)
    assert groups.shape == (b * (h // n) * (w // n), n * n, c)
    assert torch.equal(maxvit.grid_reverse(groups, n, h, w), x)
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    where = torch.stack([rows, cols], -1)[None].float()  # (1, H, W, 2): each pixel's own coordinates
    window = maxvit.block_partition(where, n)[1]  # the second window: rows 0-3, columns 4-7
    assert window[:, 0].tolist() == [r for r in range(4) for _ in range(4)]
    assert window[:, 1].tolist() == [c for _ in range(4) for c in range(4, 8)]
    group = maxvit.grid_partition(where, n)[1]  # offset (0, 1) of each of the 4 × 4 cells of 2 × 3
    assert group[:, 0].tolist() == [r for r in range(0, 8, 2) for _ in range(4)]  # spaced H/G = 2 apart
    assert group[:, 1].tolist() == [c for _ in range(4) for c in range(1, 12, 3)]  # spaced W/G = 3 apart


def test_relative_position_bias_is_the_table_at_key_minus_query():
    timm = _timm()
    from timm.layers import RelPosBiasTf

    ours = maxvit.RelativePositionBias(heads=3, size=4)
    theirs = RelPosBiasTf((4, 4), num_heads=3)
    with torch.no_grad():
        ours.relative_position_bias_table.normal_()
        theirs.relative_position_bias_table.copy_(ours.relative_position_bias_table)
    bias = ours()
    assert bias.shape == (3, 16, 16) and torch.equal(bias, theirs.get_bias())
    table = ours.relative_position_bias_table
    q, k = 1 * 4 + 2, 3 * 4 + 0  # query at (1, 2), key at (3, 0): offset (+2, -2)
    assert bias[2, q, k] == table[2, 2 + 3, -2 + 3]
    del timm


def test_grid_attention_reaches_across_the_map_and_block_attention_does_not():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 8, 16, requires_grad=True)
    for partition, reaches in (("block", False), ("grid", True)):
        layer = maxvit.PartitionAttention(16, partition, 2, dim_head=8)
        (grad,) = torch.autograd.grad(layer.mix(x)[0, 0, 0].sum(), x)
        assert (grad[0, 4, 4].abs().sum() > 0) == reaches  # half the map away
        assert grad[0, 1, 1].abs().sum() > 0 if partition == "block" else grad[0, 1, 1].abs().sum() == 0


def test_the_block_only_twin_has_the_same_parameters_and_mixes_only_locally():
    cfg = maxvit.PRESETS["quick"]
    grid, block = maxvit.toy_maxvit(cfg, "grid"), maxvit.toy_maxvit(cfg, "block")
    assert [(k, v.shape) for k, v in grid.state_dict().items()] == [
        (k, v.shape) for k, v in block.state_dict().items()
    ]
    assert count_params(grid) == count_params(block)
    assert block.stages[0].blocks[0].attn_grid.partition == "block"
    block.load_state_dict(grid.state_dict())
    x = torch.randn(2, 3, cfg.image_size, cfg.image_size)
    assert not torch.allclose(grid.eval()(x), block.eval()(x))


def test_fused_and_explicit_paths_agree():
    cfg = maxvit.PRESETS["quick"]
    torch.manual_seed(0)
    fused = maxvit.toy_maxvit(cfg, "grid").eval()
    explicit = maxvit.toy_maxvit(cfg, "grid").eval()
    explicit.load_state_dict(fused.state_dict())
    for m in explicit.modules():
        if isinstance(m, maxvit.Attention):
            m.fused = False
    x = torch.randn(2, 3, cfg.image_size, cfg.image_size)
    with torch.no_grad():
        assert torch.allclose(fused(x), explicit(x), atol=1e-5)


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    model = maxvit.MaxViT((1, 1), (16, 32), 8, 16, num_classes=3, image_size=32, window=2, dim_head=8)
    F.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 0])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# ---- image sizes that do not divide ----------------------------------------------------------------------


def test_feature_sizes_halve_and_round_up():
    assert maxvit.feature_sizes(224, 4) == [56, 28, 14, 7]
    assert maxvit.feature_sizes(223, 4) == [56, 28, 14, 7]  # "same" padding: ⌈n / 2⌉
    maxvit.check_image_size(224, 4, 7, 7)


def test_an_image_size_that_does_not_divide_says_which_would():
    with pytest.raises(
        maxvit.PartitionError, match=r"stage 2 attends on a 25×25 .* try image_size=192 or 256"
    ):
        maxvit.check_image_size(200, 4, 2, 2)
    with pytest.raises(UserInputError, match="does not divide into 7×7 windows"):
        maxvit.maxvit_tiny_tf_224(image_size=200, window=7)
    model = maxvit.MaxViT((1,), (16,), 8, 16, num_classes=3, image_size=32, window=2, dim_head=8)
    with pytest.raises(maxvit.PartitionError, match="a 5×5 feature map does not divide into 2×2 windows"):
        model(torch.randn(1, 3, 20, 20))


@pytest.mark.parametrize(
    "setting, message",
    [
        ("image_size=36", "image_size=36: stage 1 attends on a 9×9 feature map"),
        ("cost_sides=(16,40)", "a 40×40 map does not divide into 16×16 windows"),
        ("steps=0", "steps must be >= 1"),
        ("dim=20", "dim=20 is not a multiple of dim_head=8"),
    ],
)
def test_bad_settings_exit_2_before_anything_runs(setting, message, capsys, tmp_path):
    assert main(["run", "maxvit", "--quick", "--set", setting, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "maxvit" / "result.json").exists()


# ---- the attention cost ------------------------------------------------------------------------------------


def test_flops_are_linear_for_multi_axis_and_quadratic_for_full_attention():
    cost = maxvit.measure_attention_cost((8, 16, 24), channels=8, heads=2, window=4, batch=1, repeats=1)
    for side, multi, full in zip((8, 16, 24), cost["multi_axis"]["flops"], cost["full"]["flops"]):
        n = side * side
        assert multi == 2 * (2 * 2 * n * 16 * 8)  # block + grid: QKᵀ and AV, 16 keys per pixel, 2 FLOPs a MAC
        assert full == 2 * 2 * n * n * 8
    assert maxvit.fit_exponent(cost["multi_axis"]["pixels"], cost["multi_axis"]["flops"]) == pytest.approx(
        1.0
    )
    assert maxvit.fit_exponent(cost["full"]["pixels"], cost["full"]["flops"]) == pytest.approx(2.0)
    assert all(s > 0 for c in cost.values() for s in c["seconds"])


def test_fit_exponent_recovers_a_power_law():
    pixels = [100, 400, 900, 1600]
    assert maxvit.fit_exponent(pixels, [3 * p**1.5 for p in pixels]) == pytest.approx(1.5)


# ---- the layout task ----------------------------------------------------------------------------------------


def test_layout_batches_are_seeded_and_the_label_is_the_pairing():
    a = maxvit.layout_batch(60, torch.Generator().manual_seed(3))
    b = maxvit.layout_batch(60, torch.Generator().manual_seed(3))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert a.images.shape == (60, 3, 48, 48) and a.images.min() >= 0 and a.images.max() <= 1
    tl, tr, bl, _ = a.kinds.unbind(1)
    expected = torch.where(tl == tr, 0, torch.where(tl == bl, 1, 2))  # rows, columns, diagonals
    assert torch.equal(a.labels, expected)
    for kinds in a.kinds:  # two kinds, two of each, whatever the label
        assert sorted(torch.bincount(kinds).tolist())[-2:] == [2, 2]
    assert set(a.labels.tolist()) == {0, 1, 2}


def test_each_shape_sits_at_its_corner_in_its_colour_on_a_torus():
    batch = maxvit.layout_batch(16, torch.Generator().manual_seed(0))
    size = batch.images.shape[-1]
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    for image, kinds, origin in zip(batch.images, batch.kinds, batch.origins):
        far = torch.ones(size, size, dtype=torch.bool)
        for corner in range(4):
            centre = (origin + size * maxvit._CORNERS[corner]) % size  # wrapped around the edges
            cy, cx = centre.long()
            assert torch.allclose(image[:, cy, cx], maxvit.KIND_COLOURS[kinds[corner]], atol=1e-4)
            dy = (ys - centre[0] + size / 2) % size - size / 2
            dx = (xs - centre[1] + size / 2) % size - size / 2
            far &= dy.hypot(dx) > 4.7  # a shape reaches at most 4.2 pixels, + 0.5 of anti-aliasing
        assert torch.equal(image[:, far], torch.full_like(image[:, far], 0.5))  # grey elsewhere


def _swap_top_right_and_bottom_left(batch: maxvit.LayoutBatch, i: int) -> torch.Tensor:
    """Image i with the shapes at the square's top-right and bottom-left corners exchanged: a
    rows image becomes a columns image (TL = BL, TR = BR), every shape moved by (±24, ∓24)."""
    image, size = batch.images[i], batch.images.shape[-1]
    half = size // 2
    moved = torch.roll(image, shifts=(half, -half), dims=(-2, -1))  # TR → BL, BL → TR
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    near = torch.zeros(size, size, dtype=torch.bool)
    for corner in (1, 2):  # TR, BL
        cy, cx = batch.origins[i] + size * maxvit._CORNERS[corner]
        dy = (ys - cy + size / 2) % size - size / 2
        dx = (xs - cx + size / 2) % size - size / 2
        near |= dy.abs().maximum(dx.abs()) < half / 2
    return torch.where(near, moved, image)


def test_the_block_only_twin_cannot_tell_rows_from_columns():
    """No window of the block-only twin sees two shapes, and every shape sits at the same offset
    in its window, so exchanging two shapes (a rows image becomes a columns image) leaves the
    multiset of what its windows see, and so its logits, unchanged; the grid model's change."""
    cfg = maxvit.PRESETS["default"]
    batch = maxvit.layout_batch(40, torch.Generator().manual_seed(5), cfg.image_size)
    rows = [i for i in range(40) if batch.labels[i] == 0][:4]
    assert rows
    originals = torch.stack([batch.images[i] for i in rows])
    swapped = torch.stack([_swap_top_right_and_bottom_left(batch, i) for i in rows])
    size = cfg.image_size
    for j, i in enumerate(rows):  # the swapped picture is a columns picture: TR now holds BL's kind
        cy, cx = ((batch.origins[i] + size * maxvit._CORNERS[1]) % size).long()
        assert torch.allclose(swapped[j, :, cy, cx], maxvit.KIND_COLOURS[batch.kinds[i, 2]], atol=1e-4)
        assert batch.kinds[i, 2] != batch.kinds[i, 1]
    torch.manual_seed(0)
    block, grid = maxvit.toy_maxvit(cfg, "block").eval(), maxvit.toy_maxvit(cfg, "grid").eval()
    with torch.no_grad():
        for m in (block, grid):  # BatchNorm statistics away from (0, 1), so they matter
            for b in m.buffers():
                if b.dtype.is_floating_point:
                    b.uniform_(0.5, 1.5)
        same = block(maxvit._standardize(originals)), block(maxvit._standardize(swapped))
        differ = grid(maxvit._standardize(originals)), grid(maxvit._standardize(swapped))
    assert not torch.equal(originals, swapped)
    assert torch.allclose(*same, atol=1e-5)
    assert not torch.allclose(*differ, atol=1e-3)


# ---- the reproduction -----------------------------------------------------------------------------------------


def test_quick_run_writes_result(tmp_path):
    from landmarks.runner import run_paper

    result = run_paper("maxvit", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "maxvit" / "result.json").read_text())
    assert [c["statement"] for c in saved["claims"]] == [c.statement for c in maxvit.CARD.claims]
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    verdicts = [c["verdict"] for c in saved["claims"]]
    assert verdicts[0] == verdicts[1] == verdicts[5] == verdicts[6] == "reproduced"  # counted, not timed
    metrics = saved["metrics"]
    params = metrics["layout_parameters"]
    assert params["block_grid"] == params["block_only"]
    assert set(metrics["attention_cost"]) == {"multi_axis", "full"}
    for name in ("block_grid", "block_only"):
        assert 0 <= metrics[f"{name}_test_accuracy"] <= 1
    for plot in ("attention_cost", "layout_training", "layout_examples"):
        assert (tmp_path / "maxvit" / f"{plot}.png").exists()


def test_the_toy_is_in_the_vision_benchmark():
    from landmarks.bench import _vision_models

    (build, shape) = next((b, s) for name, b, s in _vision_models() if name.startswith("maxvit"))
    model = build()
    assert isinstance(model, maxvit.MaxViT) and shape[1:] == (3, 48, 48)
    assert model(torch.zeros(2, *shape[1:])).shape == (2, 3)


def test_quick_runs_are_deterministic(tmp_path):
    from landmarks.runner import run_paper

    first = run_paper("maxvit", out=tmp_path / "a", quick=True, seed=1, show_progress=False)
    second = run_paper("maxvit", out=tmp_path / "b", quick=True, seed=1, show_progress=False)
    for key in ("block_grid_test_accuracy_curve", "block_only_test_accuracy_curve", "layout_gap_points"):
        assert first["metrics"][key] == second["metrics"][key]
