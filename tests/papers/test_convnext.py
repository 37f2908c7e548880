"""ConvNeXt: timm parity, the paper's parameter and multiply-add counts, invariants, the toy ladder."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from landmarks.cli import main
from landmarks.engine import decay_groups
from landmarks.nn.interop import StateDictMismatch
from landmarks.papers import convnext

timm = pytest.importorskip("timm")


def _randomize_scales(model: nn.Module) -> None:
    """timm starts γ at 1e-6 and norms at (1, 0), which would hide most of a block from a parity
    test; give every γ and every norm random values so each block really changes the output."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.uniform_(0.2, 0.6)
            elif ".norm." in name or "stem.1." in name or "downsample.0." in name:
                p.normal_(1.0 if name.endswith("weight") else 0.0, 0.2)


# ---- parity with timm (random init: nothing is downloaded) -----------------------------------------


def test_timm_convnext_tiny_gives_identical_logits():
    torch.manual_seed(0)
    theirs = timm.create_model("convnext_tiny", pretrained=False).eval()
    _randomize_scales(theirs)
    sd = theirs.state_dict()
    assert list(convnext.convnext_tiny().state_dict()) == list(sd)  # same names, same order
    ours = convnext.from_timm(sd).eval()
    assert ours.depths == (3, 3, 9, 3) and ours.dims == (96, 192, 384, 768)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = theirs(x)
        got = ours(x)
    assert expected.abs().max() > 0.1  # the blocks are not near-identity
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_from_timm_reads_the_architecture_off_the_keys():
    torch.manual_seed(1)
    theirs = timm.models.convnext.ConvNeXt(depths=(2, 1, 3, 1), dims=(8, 16, 24, 32), num_classes=7).eval()
    _randomize_scales(theirs)
    ours = convnext.from_timm(theirs.state_dict()).eval()
    assert ours.depths == (2, 1, 3, 1) and ours.dims == (8, 16, 24, 32)
    assert ours.head.fc.out_features == 7
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


def test_from_timm_refuses_missing_and_mis_shaped_keys():
    sd = dict(timm.models.convnext.ConvNeXt(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32)).state_dict())
    missing = dict(sd)
    del missing["stages.2.blocks.1.mlp.fc2.bias"]
    with pytest.raises(StateDictMismatch, match=r"missing keys: stages\.2\.blocks\.1\.mlp\.fc2\.bias"):
        convnext.from_timm(missing)
    sd["head.norm.weight"] = torch.ones(5)
    with pytest.raises(
        StateDictMismatch, match=r"mis-shaped: head\.norm\.weight \(5,\) \(expected \(32,\)\)"
    ):
        convnext.from_timm(sd)
    with pytest.raises(ValueError, match="not a timm ConvNeXt"):
        convnext.from_timm({"conv1.weight": torch.zeros(1)})


# ---- the paper's counts (on the meta device: shapes only, nothing computed) --------------------------


@pytest.mark.parametrize(
    "arch, millions",
    [("convnext_tiny", 28.6), ("convnext_small", 50.2), ("convnext_base", 88.6), ("convnext_large", 197.8)],
)
def test_parameter_counts(arch, millions):
    with torch.device("meta"):
        ours = getattr(convnext, arch)()
        theirs = timm.create_model(arch, pretrained=False)
    assert round(convnext.count_params(ours) / 1e6, 1) == millions
    assert convnext.count_params(ours) == convnext.count_params(theirs)


def test_convnext_tiny_multiply_adds():
    # Table 1 / Sec. 3: 4.5 GFLOPs (multiply-adds); timm lists 4.47 GMACs.
    with torch.device("meta"):
        model = convnext.convnext_tiny()
    macs = convnext.count_macs(model, (1, 3, 224, 224))
    assert round(macs / 1e9, 1) == 4.5
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 224, 224, device="meta"))
    assert 2 * macs == counter.get_total_flops()


# ---- invariants ------------------------------------------------------------------------------------


def test_layer_norm_2d_equals_layer_norm_over_channels_last():
    norm = convnext.LayerNorm2d(6)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = 3 * torch.randn(2, 6, 5, 4) + 1
    expected = F.layer_norm(x.permute(0, 2, 3, 1), (6,), norm.weight, norm.bias, 1e-6).permute(0, 3, 1, 2)
    assert torch.allclose(norm(x), expected, atol=1e-5)


def test_drop_path_is_identity_in_eval_and_for_p_zero():
    x = torch.randn(4, 3, 2, 2)
    layer = convnext.DropPath(0.5).eval()
    assert torch.equal(layer(x), x)
    assert torch.equal(convnext.drop_path(x, 0.0, training=True), x)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        convnext.DropPath(1.0)


def test_drop_path_zeroes_whole_samples_and_rescales():
    p, n = 0.3, 20_000
    x = torch.rand(n, 3, 2, 2) + 0.5
    y = convnext.drop_path(x, p, training=True, generator=torch.Generator().manual_seed(0))
    flat = (y / x).flatten(1)  # per sample: all 0 (dropped) or all 1/(1-p) (kept)
    dropped = (flat == 0).all(1)
    assert torch.allclose(flat[~dropped], torch.full_like(flat[~dropped], 1 / (1 - p)))
    assert ((flat == 0).any(1) == dropped).all()  # never part of a sample
    rate, sd = dropped.float().mean().item(), (p * (1 - p) / n) ** 0.5
    assert abs(rate - p) < 4 * sd
    assert abs((y / x).mean().item() - 1) < 0.03  # unbiased in expectation


def test_stochastic_depth_rate_grows_linearly_and_blocks_drop_in_training():
    model = convnext.ConvNeXt((1, 2, 1), (4, 8, 8), num_classes=3, drop_path_rate=0.3)
    rates = [b.drop_path.p for s in model.stages for b in s.blocks]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3])
    block = convnext.Block(4, drop_path=0.5, layer_scale_init_value=1.0).train()
    x = torch.randn(64, 4, 3, 3)
    torch.manual_seed(0)
    same = (block(x) == x).flatten(1).all(1)  # dropped samples pass through the shortcut unchanged
    assert 0 < same.sum() < 64


def test_layer_scale_starts_small_and_can_be_off():
    block = convnext.Block(8)
    assert torch.equal(block.gamma, torch.full((8,), 1e-6))
    assert convnext.Block(8, layer_scale_init_value=0.0).gamma is None
    sd = timm.models.convnext.ConvNeXt(
        depths=(1, 1, 1, 1), dims=(8, 16, 24, 32), ls_init_value=None
    ).state_dict()
    assert convnext.from_timm(sd).stages[1].blocks[0].gamma is None


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    model = convnext.ConvNeXt((1, 1, 2, 1), (8, 16, 24, 32), num_classes=5, layer_scale_init_value=0.5)
    loss = F.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_shapes_through_the_stages():
    model = convnext.ConvNeXt((1, 1, 1, 1), (8, 16, 32, 64), num_classes=10, in_channels=1)
    x = torch.randn(2, 1, 64, 64)
    x = model.stem(x)
    assert x.shape == (2, 8, 16, 16)
    for stage, (dim, size) in zip(model.stages, ((8, 16), (16, 8), (32, 4), (64, 2))):
        x = stage(x)
        assert x.shape == (2, dim, size, size)
    assert model.head(x).shape == (2, 10)


# ---- the modernization ladder of Fig. 2, at toy scale -----------------------------------------------


@pytest.mark.parametrize("rung", range(len(convnext.LADDER)))
def test_ladder_rung_builds_runs_and_trains(rung):
    torch.manual_seed(0)
    model = convnext.ladder_model(rung, width=8)
    x = torch.randn(2, 3, 32, 32)
    assert model.stem(x).shape == (2, 8, 16, 16)  # every stem leaves 16×16 on 32×32 inputs
    out = model(x)
    assert out.shape == (2, 10)
    F.cross_entropy(out, torch.tensor([1, 7])).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_ladder_steps_change_what_the_paper_changes():
    resnet0, macro = convnext.ladder_model(0, 8), convnext.ladder_model(1, 8)
    assert [len(s) for s in resnet0.stages] == [1, 1, 2, 1] and [len(s) for s in macro.stages] == [1, 1, 3, 1]
    assert isinstance(macro.stem[0], nn.Conv2d) and macro.stem[0].stride == (2, 2)
    resnext = convnext.ladder_model(2, 8)
    assert resnext.stages[0][0].conv2.groups == 8  # depthwise
    inverted = convnext.ladder_model(3, 8)
    assert inverted.stages[0][0].conv1.out_channels == 32  # d → 4d
    large = convnext.ladder_model(4, 8)
    assert large.stages[0][0].conv1.kernel_size == (7, 7) and large.stages[0][0].conv1.groups == 8
    toy = convnext.ladder_model(5, 8)
    assert isinstance(toy, convnext.ConvNeXt) and toy.dims == (8, 16, 32, 64)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in toy.modules())
    with pytest.raises(ValueError, match="rung must be 0-5"):
        convnext.ladder_model(6, 8)


@pytest.mark.parametrize("target", [160_000, 300_000])
def test_match_width_lands_near_the_target(target):
    for _, builder in convnext.LADDER:
        width = convnext.match_width(builder, target)
        with torch.device("meta"):
            params = convnext.count_params(builder(width))
            neighbours = [convnext.count_params(builder(w)) for w in (width - 1, width + 1)]
        assert abs(params / target - 1) <= 0.10
        assert all(abs(params - target) <= abs(n - target) for n in neighbours)


# ---- the reproduction ----------------------------------------------------------------------------------


def test_decay_groups_leave_biases_norms_and_layer_scale_alone():
    model = convnext.ladder_model(5, 8)
    decay, no_decay = decay_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert any(p is model.stages[0].blocks[0].gamma for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_quick_run_writes_result(tmp_path):
    from landmarks.runner import run_paper

    result = run_paper("convnext", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "convnext" / "result.json").read_text())
    assert [c["statement"] for c in saved["claims"]] == [c.statement for c in convnext.CARD.claims]
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert [c["verdict"] for c in saved["claims"][1:]] == ["reproduced", "reproduced"]  # exact counts
    ladder = saved["metrics"]["ladder"]
    assert list(ladder) == [name for name, _ in convnext.LADDER]
    for row in ladder.values():
        assert {"width", "params", "macs", "test_accuracy", "train_seconds"} <= set(row)
        assert 0 <= row["test_accuracy"] <= 1
    assert (tmp_path / "convnext" / "ladder.png").exists()


@pytest.mark.parametrize(
    "setting, message",
    [
        ("steps=0", "steps must be >= 1"),
        ("warmup=10", "warmup must lie in [0, steps=6)"),
        ("crop_padding=32", "crop_padding must lie in [0, 32)"),
        ("target_params=100", "target_params must lie in"),
    ],
)
def test_bad_settings_exit_2(setting, message, capsys):
    assert main(["run", "convnext", "--quick", "--set", setting]) == 2
    assert message in capsys.readouterr().err


def test_cifar_batches_from_data_dir(tmp_path):
    """With --data-dir the ladder trains on CIFAR-10 binary batches (here small random ones)."""
    import numpy as np

    from landmarks.data.cifar import write_cifar_batch

    data = tmp_path / "cifar"
    data.mkdir()
    rng = np.random.default_rng(0)
    for name in (*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"):
        write_cifar_batch(
            data / name, rng.integers(0, 256, (60, 3, 32, 32), dtype=np.uint8), np.arange(60) % 10
        )
    out = tmp_path / "out"
    assert main(["run", "convnext", "--quick", "--data-dir", str(data), "--out", str(out)]) == 0
    saved = json.loads((out / "convnext" / "result.json").read_text())
    assert len(saved["metrics"]["ladder"]) == len(convnext.LADDER)
    (data / "test_batch.bin").write_bytes(b"\x00" * 100)  # not a whole record
    assert main(["run", "convnext", "--quick", "--data-dir", str(data), "--out", str(out)]) == 2
