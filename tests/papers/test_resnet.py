"""ResNet: torchvision parity, the paper's parameter and multiply-add counts, invariants, a quick run."""

import json

import pytest
import torch
from torch import nn

from landmarks.papers import resnet

torchvision = pytest.importorskip("torchvision")


# ---- parity with torchvision (random init: nothing is downloaded) ----------------------------


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_torchvision_weights_give_identical_logits(arch):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, arch)(weights=None).eval()
    with torch.no_grad():  # non-trivial BN statistics, so eval mode is really tested
        for m in theirs.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    ours = getattr(resnet, arch)()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.eval()
    imported = resnet.from_torchvision(theirs.state_dict()).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = theirs(x)
        assert torch.allclose(ours(x), expected, atol=1e-6, rtol=0)
        assert torch.allclose(imported(x), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("size", [8, 7])  # an odd side: the output keeps ⌈H/2⌉ pixels, as nn.Conv2d's
def test_conv1x1_is_a_strided_1x1_conv(size):
    """Same outputs and gradients as nn.Conv2d(kernel_size=1, stride=2), same parameter names."""
    torch.manual_seed(0)
    ours, theirs = resnet.Conv1x1(16, 24, stride=2, bias=True), nn.Conv2d(16, 24, 1, stride=2)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 16, size, size, requires_grad=True)
    y_ours, y_theirs = ours(x), theirs(x)
    assert y_ours.shape == y_theirs.shape == (2, 24, (size + 1) // 2, (size + 1) // 2)
    assert torch.allclose(y_ours, y_theirs, atol=1e-6)
    g = torch.randn_like(y_ours)
    grads_ours = torch.autograd.grad(y_ours, (x, ours.weight, ours.bias), g)
    grads_theirs = torch.autograd.grad(y_theirs, (x, theirs.weight, theirs.bias), g)
    for a, b in zip(grads_ours, grads_theirs):
        assert torch.allclose(a, b, atol=1e-5)


def test_conv1x1_weight_gradient_with_few_channels_in_channels_last():
    """The case oneDNN's strided 1×1 kernel gets wrong (4 input channels, channels-last, two
    threads: a hang or wrong numbers, uxlfoundation/oneDNN#6035) is exact here against float64."""
    torch.manual_seed(0)
    conv = resnet.conv1x1(4, 8, stride=2)
    for _ in range(3):
        x = torch.randn(16, 4, 32, 32).to(memory_format=torch.channels_last)
        g = torch.randn(16, 8, 16, 16)
        (weight_grad,) = torch.autograd.grad((conv(x) * g).sum(), conv.weight)
        expected = torch.einsum("bihw,bohw->oi", x[:, :, ::2, ::2].double(), g.double())
        assert torch.allclose(weight_grad.view(8, 4).double(), expected, rtol=1e-4, atol=1e-4)


def test_from_torchvision_reads_the_architecture_and_rejects_a_mismatch():
    sd = torchvision.models.resnet34(weights=None).state_dict()
    model = resnet.from_torchvision(sd)
    assert isinstance(model.layer1[0], resnet.BasicBlock)
    assert [len(s) for s in (model.layer1, model.layer2, model.layer3, model.layer4)] == [3, 4, 6, 3]
    sd["fc.bias"] = torch.zeros(7)
    with pytest.raises(ValueError, match=r"mis-shaped: fc\.bias \(7,\) \(expected \(1000,\)\)"):
        resnet.from_torchvision(sd)


# ---- the paper's counts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arch, millions",
    [("resnet18", 11.7), ("resnet34", 21.8), ("resnet50", 25.6), ("resnet101", 44.5), ("resnet152", 60.2)],
)
def test_imagenet_parameter_counts(arch, millions):
    model = getattr(resnet, arch)()
    assert round(resnet.count_params(model) / 1e6, 1) == millions
    assert resnet.count_params(model) == resnet.count_params(getattr(torchvision.models, arch)(weights=None))


def test_resnet50_multiply_adds():
    # Table 1: 3.8e9 FLOPs (multiply-adds; stride-on-1×1); torchvision's v1.5 lists 4.09 GFLOPS.
    assert round(resnet.count_macs(resnet.resnet50()) / 1e9, 2) == 4.09
    assert round(resnet.count_macs(resnet.resnet18()) / 1e9, 2) == 1.81


def test_count_macs_by_hand():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(4 * 5 * 5, 3))
    # conv: 4·5·5 outputs × 2·3·3 each; linear: 3 outputs × 100 each
    assert resnet.count_macs(model, (2, 2, 5, 5)) == 4 * 25 * 18 + 3 * 100


@pytest.mark.parametrize("depth, millions", [(20, 0.27), (56, 0.85), (110, 1.7)])
def test_cifar_parameter_counts_table6(depth, millions):
    digits = 2 if millions < 1 else 1
    assert round(resnet.count_params(resnet.cifar_resnet(depth)) / 1e6, digits) == millions


# ---- invariants ------------------------------------------------------------------------------------


def test_option_a_adds_no_parameters_and_plain_has_no_shortcuts():
    a, b = resnet.cifar_resnet(20, "A"), resnet.cifar_resnet(20, "B")
    plain = resnet.cifar_resnet(20, plain=True)
    assert resnet.count_params(a) == resnet.count_params(plain)  # option A: identity + zeros
    assert resnet.count_params(b) > resnet.count_params(a)  # option B: two 1×1 projections
    assert all(
        not blk.residual and blk.downsample is None
        for stage in (plain.layer1, plain.layer2, plain.layer3)
        for blk in stage
    )
    # conv layers: 1 + 6n, + the classifier = 6n + 2
    convs = [m for m in plain.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == 20


def test_zero_pad_shortcut_is_a_strided_identity_with_zero_channels():
    x = torch.randn(2, 16, 8, 8)
    y = resnet.ZeroPadShortcut(16, 32, stride=2)(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 16:]) == 0


def test_residual_block_is_identity_plus_residual():
    block = resnet.BasicBlock(8, 8).eval()
    with torch.no_grad():  # F(x) = 0 when the last BN scales by zero, so y = relu(x)
        block.bn2.weight.zero_()
    x = torch.randn(2, 8, 6, 6)
    assert torch.equal(block(x), torch.relu(x))


@pytest.mark.parametrize("plain", [False, True])
def test_cifar_shapes(plain):
    model = resnet.cifar_resnet(14, shortcut="B", plain=plain, width=8, in_channels=1, num_classes=7)
    assert model(torch.randn(3, 1, 16, 16)).shape == (3, 7)


def test_bad_depth_and_config_are_refused():
    with pytest.raises(ValueError, match="6n\\+2"):
        resnet.cifar_resnet(21)
    with pytest.raises(ValueError, match="deep"):
        resnet.Config(shallow=56, deep=20).validate()
    with pytest.raises(ValueError, match="6n\\+2"):
        resnet.Config(deep=51).validate()
    for cfg in resnet.PRESETS.values():
        cfg.validate()


def test_random_shift_keeps_pixels_and_is_seeded():
    x = torch.rand(4, 1, 16, 16)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = resnet.random_shift(x, 2, g1), resnet.random_shift(x, 2, g2)
    assert a.shape == x.shape and torch.equal(a, b)
    assert torch.equal(resnet.random_shift(x, 0, g1), x)


# ---- a quick run through the runner -----------------------------------------------------------------


def test_quick_run_writes_result(tmp_path):
    from landmarks.runner import run_paper

    result = run_paper("resnet", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "resnet" / "result.json").read_text())
    assert saved["claims"] == result["claims"] and len(saved["claims"]) == len(resnet.CARD.claims)
    for claim in saved["claims"]:
        assert set(claim) == {"statement", "measured", "threshold", "paper_value", "verdict"}
    assert {"plain8", "plain14", "resnet8", "resnet14"} <= set(saved["metrics"])
    assert (tmp_path / "resnet" / "degradation.png").exists()


def test_eval_every_0_trains_without_testing(tmp_path):
    """eval_every=0 turns evaluation off: no test error is made up (JSON null, not NaN)."""
    from landmarks.runner import run_paper

    run_paper("resnet", out=tmp_path, quick=True, overrides=["eval_every=0"], show_progress=False)
    text = (tmp_path / "resnet" / "result.json").read_text()
    assert "NaN" not in text
    assert json.loads(text)["metrics"]["plain8"]["test_error"] is None
    assert not (tmp_path / "resnet" / "test_error.png").exists()
